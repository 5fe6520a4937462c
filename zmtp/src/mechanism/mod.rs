//! Security mechanisms: 37/ZMTP, "Authentication and Confidentiality".
//!
//! "Each security mechanism defines a protocol consisting of zero or more
//! commands sent by either peer to the other until the handshaking is
//! complete." Only NULL is here; CURVE (25/ZMTP-CURVE over 26/CURVEZMQ)
//! will sit beside it with the same shape: start, then one command at a
//! time until the peer's metadata is known.

pub(crate) mod null;
