//! Security mechanisms: 37/ZMTP, "Authentication and Confidentiality".
//!
//! "Each security mechanism defines a protocol consisting of zero or more
//! commands sent by either peer to the other until the handshaking is
//! complete." NULL and CURVE (25/ZMTP-CURVE over 26/CURVEZMQ) sit
//! side by side with the same shape: start, then one command at a time
//! until the peer's metadata is known.
//!
//! - `null.rs`: 37/ZMTP, "The NULL Security Mechanism";
//! - `curve.rs`: 25/ZMTP-CURVE over 26/CURVEZMQ, its handshake and the
//!   MESSAGE boxes after it.

pub(crate) mod curve;
pub(crate) mod null;
