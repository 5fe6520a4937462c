//! The CURVE mechanism: 26/CURVEZMQ carried over ZMTP as 25/ZMTP-CURVE.
//!
//! ```text
//! C:HELLO  S:WELCOME  C:INITIATE  S:READY | S:ERROR,  then MESSAGE both ways
//! ```
//!
//! Keys (26/CURVEZMQ, "Cryptographic Notation"): the server's long-term
//! pair (S, s), known to the client beforehand; the client's long-term pair
//! (C, c); and one short-term pair each per connection (C', c') and
//! (S', s'). Every box is NaCl's `crypto_box` (Curve25519, XSalsa20,
//! Poly1305), from RustCrypto's `crypto_box`; only the command layouts,
//! nonces and checks are written here. A box on the wire is the 16-octet
//! Poly1305 tag followed by the ciphertext, as NaCl lays it out.
//!
//! | command | body after its name | box |
//! |---|---|---|
//! | HELLO | version 1.0, 72 zero octets, C', short nonce, box | 64 zero octets, (C' → S), `CurveZMQHELLO---` |
//! | WELCOME | long nonce, box | S' + cookie, (S → C'), `WELCOME-` |
//! | INITIATE | cookie, short nonce, box | C + vouch + metadata, (C' → S'), `CurveZMQINITIATE` |
//! | READY | short nonce, box | metadata, (S' → C'), `CurveZMQREADY---` |
//! | MESSAGE | short nonce, box | flags + payload, (C' ↔ S'), `CurveZMQMESSAGEC` / `…S` |
//!
//! The cookie is a long nonce and a secret box of C' + s' under a key K
//! that only this connection's server knows (`COOKIE--`); the vouch is a
//! long nonce and a box of C' + S from C to S' (`VOUCH---`), proving the
//! holder of c is the one talking on C'. We keep per-connection state, so
//! the server need not be stateless, but it still checks that the cookie
//! the client returns is the one it sent.
//!
//! Short nonces are 64-bit counters, big-endian on the wire as libzmq 4.2
//! and later write them. Each side's counter starts at 1 and grows by one
//! per box it sends; a receiver refuses a short nonce that does not exceed
//! the last one it accepted (26/CURVEZMQ, "Security Considerations": a
//! replayed command must be refused).
//!
//! Roles come from the configuration, not from the peer's as-server flag:
//! we send it as 25/ZMTP-CURVE says (1 from the server), but libzmq 4.3
//! sends zero from both ends, so a receiver cannot rely on it. Two clients
//! meet each other's HELLO and fail there.
//!
//! MESSAGE: 25/ZMTP-CURVE calls it a command; libzmq sends it in a plain
//! data frame (flags zero). We send as libzmq does and accept either. The
//! plaintext's flags octet has bit 0 for MORE and bit 1 for a command
//! (libzmq boxes its PING and PONG too).

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::aead::rand_core::RngCore;
use crypto_box::aead::{AeadInPlace, KeyInit, Nonce, OsRng};
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use crypto_secretbox::XSalsa20Poly1305;

use crate::command::Command;
use crate::error::{CurveError, Error, HandshakeError, SendError};
use crate::frame::{Flags, header_len, put_header};
use crate::mechanism::null::{Peer, check_peer};
use crate::metadata::{Metadata, SocketType};

/// Octets of a Curve25519 key.
pub(crate) const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const SHORT_NONCE_LEN: usize = 8;
const LONG_NONCE_LEN: usize = 16;
const COOKIE_LEN: usize = LONG_NONCE_LEN + TAG_LEN + 2 * KEY_LEN;
const VOUCH_LEN: usize = LONG_NONCE_LEN + TAG_LEN + 2 * KEY_LEN;

/// HELLO's body: name, version, padding, C', short nonce, box of 64 zeros.
const HELLO_LEN: usize = 6 + 2 + 72 + KEY_LEN + SHORT_NONCE_LEN + TAG_LEN + 64;
/// WELCOME's body: name, long nonce, box of S' and the cookie.
const WELCOME_LEN: usize = 8 + LONG_NONCE_LEN + TAG_LEN + KEY_LEN + COOKIE_LEN;
/// INITIATE's body without its metadata.
pub(crate) const INITIATE_OVERHEAD: usize =
    9 + COOKIE_LEN + SHORT_NONCE_LEN + TAG_LEN + KEY_LEN + VOUCH_LEN;
/// A MESSAGE's body beyond its payload: name, short nonce, tag, flags.
pub(crate) const MESSAGE_OVERHEAD: usize = 8 + SHORT_NONCE_LEN + TAG_LEN + 1;

const HELLO_NONCE: &[u8; 16] = b"CurveZMQHELLO---";
const WELCOME_NONCE: &[u8; 8] = b"WELCOME-";
const COOKIE_NONCE: &[u8; 8] = b"COOKIE--";
const VOUCH_NONCE: &[u8; 8] = b"VOUCH---";
const INITIATE_NONCE: &[u8; 16] = b"CurveZMQINITIATE";
const READY_NONCE: &[u8; 16] = b"CurveZMQREADY---";
const MESSAGE_NONCE_CLIENT: &[u8; 16] = b"CurveZMQMESSAGEC";
const MESSAGE_NONCE_SERVER: &[u8; 16] = b"CurveZMQMESSAGES";

/// The plaintext flags octet of a MESSAGE.
const MESSAGE_MORE: u8 = 0x01;
const MESSAGE_COMMAND: u8 = 0x02;

/// The ZAP status code (27/ZAP) libzmq's servers send when a client's key
/// is refused; a libzmq client reports it as an authentication failure.
const REFUSED_REASON: &[u8] = b"400";

/// Decides whether a client's long-term public key may connect: zroute's
/// `--curve-allow` list, in the role 27/ZAP gives a ZAP handler.
pub(crate) type Authorizer = std::sync::Arc<dyn Fn(&[u8; KEY_LEN]) -> bool + Send + Sync>;

/// The CURVE side of a [`Config`](crate::Config).
#[derive(Clone)]
pub(crate) enum CurveConfig {
    /// We are the CURVE client (as-server 0).
    Client {
        server_public: PublicKey,
        secret: SecretKey,
    },
    /// We are the CURVE server (as-server 1).
    Server {
        secret: SecretKey,
        allow: Authorizer,
    },
}

impl std::fmt::Debug for CurveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secret keys stay out of logs.
        match self {
            Self::Client { server_public, .. } => f
                .debug_struct("CurveClient")
                .field("server_public", server_public.as_bytes())
                .finish_non_exhaustive(),
            Self::Server { secret, .. } => f
                .debug_struct("CurveServer")
                .field("public", secret.public_key().as_bytes())
                .finish_non_exhaustive(),
        }
    }
}

impl CurveConfig {
    pub(crate) fn is_server(&self) -> bool {
        matches!(self, Self::Server { .. })
    }
}

/// A 24-octet nonce from a prefix and the octets that follow it.
fn nonce(prefix: &[u8], rest: &[u8]) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[..prefix.len()].copy_from_slice(prefix);
    n[prefix.len()..].copy_from_slice(rest);
    n
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng.fill_bytes(&mut out);
    out
}

fn key(bytes: &[u8]) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    k.copy_from_slice(&bytes[..KEY_LEN]);
    k
}

/// Boxes `plaintext` and appends tag and ciphertext to `out`.
fn seal<C: AeadInPlace>(cipher: &C, n: &[u8; 24], plaintext: &[u8], out: &mut impl BufMut) {
    let mut buf = plaintext.to_vec();
    // Encryption fails only for inputs above 2^38 octets, which no caller
    // here can build (every plaintext is bounded by the limits or constant).
    let tag = cipher
        .encrypt_in_place_detached(Nonce::<C>::from_slice(n), b"", &mut buf)
        .expect("plaintext within XSalsa20's bound");
    out.put_slice(&tag);
    out.put_slice(&buf);
}

/// Opens a box (tag then ciphertext); `None` if it does not authenticate.
fn open<C: AeadInPlace>(cipher: &C, n: &[u8; 24], boxed: &[u8]) -> Option<Vec<u8>> {
    if boxed.len() < TAG_LEN {
        return None;
    }
    let (tag, ciphertext) = boxed.split_at(TAG_LEN);
    let mut buf = ciphertext.to_vec();
    cipher
        .decrypt_in_place_detached(Nonce::<C>::from_slice(n), b"", &mut buf, tag.into())
        .ok()?;
    Some(buf)
}

/// Splits a command body into its name and data, without the checks of
/// [`Command::parse`] (CURVE's READY is boxed, not metadata).
fn split_command(body: &Bytes) -> Result<(&[u8], Bytes), CurveError> {
    let len = usize::from(
        *body
            .first()
            .ok_or(CurveError::Malformed { command: "empty" })?,
    );
    if len == 0 || 1 + len > body.len() {
        return Err(CurveError::Malformed { command: "name" });
    }
    Ok((&body[1..=len], body.slice(1 + len..)))
}

/// An ERROR from the peer ends the handshake with its reason.
fn peer_error(body: Bytes) -> Error {
    match Command::parse(body) {
        Ok(Command::Error { reason }) => HandshakeError::PeerError { reason }.into(),
        Ok(_) => CurveError::Malformed { command: "ERROR" }.into(),
        Err(e) => e.into(),
    }
}

fn unexpected(name: &[u8]) -> Error {
    HandshakeError::UnexpectedCommand {
        name: Bytes::copy_from_slice(name),
    }
    .into()
}

fn put_command(out: &mut BytesMut, body_len: usize) {
    out.reserve(header_len(body_len) + body_len);
    put_header(out, Flags::COMMAND, false, body_len);
}

/// Counts short nonces up, and refuses any that does not increase.
#[derive(Debug)]
struct Counter {
    /// The next short nonce we send.
    ours: u64,
    /// The last one we accepted from the peer (zero: none yet).
    theirs: u64,
}

impl Counter {
    fn new() -> Self {
        Self { ours: 1, theirs: 0 }
    }

    fn next(&mut self) -> Result<[u8; SHORT_NONCE_LEN], SendError> {
        let n = self.ours;
        // The last value is never used: a nonce must not repeat.
        self.ours = n.checked_add(1).ok_or(SendError::NonceExhausted)?;
        Ok(n.to_be_bytes())
    }

    /// A handshake's nonce: HELLO, INITIATE or READY, at most the second
    /// of a counter that starts at 1, so it cannot wrap.
    fn next_in_handshake(&mut self) -> [u8; SHORT_NONCE_LEN] {
        let n = self.ours;
        self.ours = n + 1;
        n.to_be_bytes()
    }

    fn accept(&mut self, short: &[u8]) -> Result<(), CurveError> {
        let mut b = [0u8; SHORT_NONCE_LEN];
        b.copy_from_slice(&short[..SHORT_NONCE_LEN]);
        let n = u64::from_be_bytes(b);
        if n <= self.theirs {
            return Err(CurveError::NonceNotIncreasing {
                last: self.theirs,
                got: n,
            });
        }
        self.theirs = n;
        Ok(())
    }
}

enum ClientState {
    ExpectWelcome,
    ExpectReady { server_short: SalsaBox },
}

enum ServerState {
    ExpectHello,
    ExpectInitiate {
        client_short: PublicKey,
        our_short: SecretKey,
        cookie: [u8; COOKIE_LEN],
    },
}

enum Side {
    Client {
        server_public: PublicKey,
        secret: SecretKey,
        short: SecretKey,
        state: ClientState,
    },
    Server {
        secret: SecretKey,
        allow: Authorizer,
        state: ServerState,
    },
    Done,
}

/// One connection's CURVE handshake, in the shape of the NULL one: start,
/// then one command at a time until it yields the peer and the MESSAGE
/// codec.
pub(crate) struct CurveHandshake {
    ours: SocketType,
    metadata: Metadata,
    side: Side,
    counter: Counter,
}

impl std::fmt::Debug for CurveHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveHandshake")
            .field("ours", &self.ours)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl CurveHandshake {
    pub(crate) fn new(ours: SocketType, config: &CurveConfig, metadata: Metadata) -> Self {
        let side = match config {
            CurveConfig::Client {
                server_public,
                secret,
            } => Side::Client {
                server_public: server_public.clone(),
                secret: secret.clone(),
                short: SecretKey::generate(&mut OsRng),
                state: ClientState::ExpectWelcome,
            },
            CurveConfig::Server { secret, allow } => Side::Server {
                secret: secret.clone(),
                allow: allow.clone(),
                state: ServerState::ExpectHello,
            },
        };
        Self {
            ours,
            metadata,
            side,
            counter: Counter::new(),
        }
    }

    /// The greeting is done: a client queues its HELLO.
    pub(crate) fn start(&mut self, tx: &mut BytesMut) {
        let Side::Client {
            server_public,
            short,
            ..
        } = &self.side
        else {
            return;
        };
        let short_nonce = self.counter.next_in_handshake();
        put_command(tx, HELLO_LEN);
        tx.put_slice(b"\x05HELLO\x01\x00");
        // Anti-amplification: HELLO is as long as WELCOME plus slack.
        tx.put_bytes(0, 72);
        tx.put_slice(short.public_key().as_bytes());
        tx.put_slice(&short_nonce);
        let cipher = SalsaBox::new(server_public, short);
        seal(&cipher, &nonce(HELLO_NONCE, &short_nonce), &[0; 64], tx);
    }

    /// Handles one command frame's body during the handshake. Returns the
    /// peer and the MESSAGE codec once the handshake completes; queues our
    /// answer (or ERROR) in `tx`.
    pub(crate) fn handle_command(
        &mut self,
        body: Bytes,
        tx: &mut BytesMut,
    ) -> Result<Option<(Peer, CurveCodec)>, Error> {
        let (name, data) = split_command(&body)?;
        if name == b"ERROR" {
            return Err(peer_error(body));
        }
        match &mut self.side {
            Side::Client { .. } => self.client_command(name, data, tx),
            Side::Server { .. } => self.server_command(name, data, tx),
            Side::Done => Err(unexpected(name)),
        }
    }

    fn client_command(
        &mut self,
        name: &[u8],
        data: Bytes,
        tx: &mut BytesMut,
    ) -> Result<Option<(Peer, CurveCodec)>, Error> {
        let Side::Client {
            server_public,
            secret,
            short,
            state,
        } = &mut self.side
        else {
            unreachable!("called for a client")
        };
        match (name, &*state) {
            (b"WELCOME", ClientState::ExpectWelcome) => {
                if data.len() != WELCOME_LEN - 8 {
                    return Err(CurveError::Malformed { command: "WELCOME" }.into());
                }
                let (long_nonce, boxed) = data.split_at(LONG_NONCE_LEN);
                let plain = open(
                    &SalsaBox::new(server_public, short),
                    &nonce(WELCOME_NONCE, long_nonce),
                    boxed,
                )
                .ok_or(CurveError::BadBox { command: "WELCOME" })?;
                let server_short_public = PublicKey::from(key(&plain));
                let cookie = &plain[KEY_LEN..];

                // INITIATE: cookie, short nonce, box of C + vouch + metadata.
                let mut vouch = Vec::with_capacity(VOUCH_LEN);
                let vouch_nonce: [u8; LONG_NONCE_LEN] = random();
                vouch.put_slice(&vouch_nonce);
                let mut vouched = [0u8; 2 * KEY_LEN];
                vouched[..KEY_LEN].copy_from_slice(short.public_key().as_bytes());
                vouched[KEY_LEN..].copy_from_slice(server_public.as_bytes());
                seal(
                    &SalsaBox::new(&server_short_public, secret),
                    &nonce(VOUCH_NONCE, &vouch_nonce),
                    &vouched,
                    &mut vouch,
                );
                let mut plain =
                    Vec::with_capacity(KEY_LEN + VOUCH_LEN + self.metadata.encoded_len());
                plain.put_slice(secret.public_key().as_bytes());
                plain.put_slice(&vouch);
                self.metadata.encode(&mut plain);

                let short_nonce = self.counter.next_in_handshake();
                let size = 9 + COOKIE_LEN + SHORT_NONCE_LEN + TAG_LEN + plain.len();
                put_command(tx, size);
                tx.put_slice(b"\x08INITIATE");
                tx.put_slice(cookie);
                tx.put_slice(&short_nonce);
                let server_short = SalsaBox::new(&server_short_public, short);
                seal(
                    &server_short,
                    &nonce(INITIATE_NONCE, &short_nonce),
                    &plain,
                    tx,
                );
                *state = ClientState::ExpectReady { server_short };
                Ok(None)
            }
            (b"READY", ClientState::ExpectReady { server_short }) => {
                if data.len() < SHORT_NONCE_LEN + TAG_LEN {
                    return Err(CurveError::Malformed { command: "READY" }.into());
                }
                let (short_nonce, boxed) = data.split_at(SHORT_NONCE_LEN);
                let plain = open(server_short, &nonce(READY_NONCE, short_nonce), boxed)
                    .ok_or(CurveError::BadBox { command: "READY" })?;
                self.counter.accept(short_nonce)?;
                let metadata =
                    Metadata::parse(Bytes::from(plain)).map_err(crate::CommandError::from)?;
                let peer = check_peer(self.ours, metadata)?;
                let Side::Client {
                    state: ClientState::ExpectReady { server_short },
                    ..
                } = std::mem::replace(&mut self.side, Side::Done)
                else {
                    unreachable!("matched above")
                };
                let codec = CurveCodec::new(server_short, false, &self.counter);
                Ok(Some((peer, codec)))
            }
            _ => Err(unexpected(name)),
        }
    }

    fn server_command(
        &mut self,
        name: &[u8],
        data: Bytes,
        tx: &mut BytesMut,
    ) -> Result<Option<(Peer, CurveCodec)>, Error> {
        let Side::Server {
            secret,
            allow,
            state,
        } = &mut self.side
        else {
            unreachable!("called for a server")
        };
        match (name, &*state) {
            (b"HELLO", ServerState::ExpectHello) => {
                if data.len() != HELLO_LEN - 6 {
                    return Err(CurveError::Malformed { command: "HELLO" }.into());
                }
                if data[..2] != [1, 0] {
                    return Err(CurveError::BadVersion {
                        major: data[0],
                        minor: data[1],
                    }
                    .into());
                }
                let client_short = PublicKey::from(key(&data[74..]));
                let short_nonce = &data[74 + KEY_LEN..74 + KEY_LEN + SHORT_NONCE_LEN];
                let boxed = &data[74 + KEY_LEN + SHORT_NONCE_LEN..];
                let plain = open(
                    &SalsaBox::new(&client_short, secret),
                    &nonce(HELLO_NONCE, short_nonce),
                    boxed,
                )
                .ok_or(CurveError::BadBox { command: "HELLO" })?;
                // The box authenticates; its content is 64 zeros by the RFC.
                if plain.iter().any(|&b| b != 0) {
                    return Err(CurveError::BadBox { command: "HELLO" }.into());
                }
                self.counter.accept(short_nonce)?;

                // The cookie: C' + s' under a key only this connection holds.
                let our_short = SecretKey::generate(&mut OsRng);
                let cookie_key = XSalsa20Poly1305::generate_key(&mut OsRng);
                let cookie_nonce: [u8; LONG_NONCE_LEN] = random();
                let mut cookie = [0u8; COOKIE_LEN];
                {
                    let mut plain = [0u8; 2 * KEY_LEN];
                    plain[..KEY_LEN].copy_from_slice(client_short.as_bytes());
                    plain[KEY_LEN..].copy_from_slice(&our_short.to_bytes());
                    let mut w = &mut cookie[..];
                    w.put_slice(&cookie_nonce);
                    seal(
                        &XSalsa20Poly1305::new(&cookie_key),
                        &nonce(COOKIE_NONCE, &cookie_nonce),
                        &plain,
                        &mut w,
                    );
                }
                let mut plain = [0u8; KEY_LEN + COOKIE_LEN];
                plain[..KEY_LEN].copy_from_slice(our_short.public_key().as_bytes());
                plain[KEY_LEN..].copy_from_slice(&cookie);
                let welcome_nonce: [u8; LONG_NONCE_LEN] = random();
                put_command(tx, WELCOME_LEN);
                tx.put_slice(b"\x07WELCOME");
                tx.put_slice(&welcome_nonce);
                seal(
                    &SalsaBox::new(&client_short, secret),
                    &nonce(WELCOME_NONCE, &welcome_nonce),
                    &plain,
                    tx,
                );
                *state = ServerState::ExpectInitiate {
                    client_short,
                    our_short,
                    cookie,
                };
                Ok(None)
            }
            (
                b"INITIATE",
                ServerState::ExpectInitiate {
                    client_short,
                    our_short,
                    cookie,
                },
            ) => {
                if data.len() < INITIATE_OVERHEAD - 9 {
                    return Err(CurveError::Malformed {
                        command: "INITIATE",
                    }
                    .into());
                }
                // The cookie must be the one we sent: we keep it, so a
                // constant comparison replaces reopening it with K (which
                // would prove the same, as K never leaves this connection).
                if !constant_eq(&data[..COOKIE_LEN], cookie) {
                    return Err(CurveError::BadCookie.into());
                }
                let short_nonce = &data[COOKIE_LEN..COOKIE_LEN + SHORT_NONCE_LEN];
                let boxed = &data[COOKIE_LEN + SHORT_NONCE_LEN..];
                let client_short_box = SalsaBox::new(client_short, our_short);
                let plain = open(
                    &client_short_box,
                    &nonce(INITIATE_NONCE, short_nonce),
                    boxed,
                )
                .ok_or(CurveError::BadBox {
                    command: "INITIATE",
                })?;
                self.counter.accept(short_nonce)?;
                let client_long = PublicKey::from(key(&plain));
                let vouch = &plain[KEY_LEN..KEY_LEN + VOUCH_LEN];
                let vouched = open(
                    &SalsaBox::new(&client_long, our_short),
                    &nonce(VOUCH_NONCE, &vouch[..LONG_NONCE_LEN]),
                    &vouch[LONG_NONCE_LEN..],
                )
                .ok_or(CurveError::BadVouch)?;
                // The vouch must name the short-term key this client used
                // and us: otherwise it was lifted from another connection.
                if !constant_eq(&vouched[..KEY_LEN], client_short.as_bytes())
                    || !constant_eq(&vouched[KEY_LEN..], secret.public_key().as_bytes())
                {
                    return Err(CurveError::BadVouch.into());
                }
                let metadata = Bytes::from(plain).slice(KEY_LEN + VOUCH_LEN..);
                let metadata = Metadata::parse(metadata).map_err(crate::CommandError::from)?;
                if !allow(client_long.as_bytes()) {
                    Command::Error {
                        reason: Bytes::from_static(REFUSED_REASON),
                    }
                    .encode(tx);
                    return Err(CurveError::RefusedKey {
                        key: client_long.to_bytes(),
                    }
                    .into());
                }
                let peer = match check_peer(self.ours, metadata) {
                    Ok(peer) => peer,
                    Err(e) => {
                        Command::Error {
                            reason: Bytes::from_static(crate::mechanism::null::reason(&e)),
                        }
                        .encode(tx);
                        return Err(e.into());
                    }
                };
                let mut codec = CurveCodec::new(client_short_box, true, &self.counter);
                codec.client_key = Some(client_long.to_bytes());
                // READY: short nonce, box of our metadata.
                let short_nonce = codec.counter.next_in_handshake();
                let size = 6 + SHORT_NONCE_LEN + TAG_LEN + self.metadata.encoded_len();
                let mut md = Vec::with_capacity(self.metadata.encoded_len());
                self.metadata.encode(&mut md);
                put_command(tx, size);
                tx.put_slice(b"\x05READY");
                tx.put_slice(&short_nonce);
                seal(&codec.cipher, &nonce(READY_NONCE, &short_nonce), &md, tx);
                self.side = Side::Done;
                let peer = Peer {
                    curve_key: codec.client_key,
                    ..peer
                };
                Ok(Some((peer, codec)))
            }
            _ => Err(unexpected(name)),
        }
    }
}

/// Compares without stopping at the first difference.
fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a MESSAGE carried.
#[derive(Debug)]
pub(crate) enum Opened {
    /// A message frame's payload and whether more follow.
    Frame { more: bool, body: Bytes },
    /// A command boxed in a MESSAGE (libzmq boxes PING and PONG).
    Command(Bytes),
}

/// Boxes and opens MESSAGE commands once the handshake is done, with the
/// short-term keys (precomputed once) and the counters the handshake left.
pub(crate) struct CurveCodec {
    cipher: SalsaBox,
    send_prefix: &'static [u8; 16],
    recv_prefix: &'static [u8; 16],
    counter: Counter,
    client_key: Option<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for CurveCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveCodec")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl CurveCodec {
    fn new(cipher: SalsaBox, server: bool, counter: &Counter) -> Self {
        let (send_prefix, recv_prefix) = if server {
            (MESSAGE_NONCE_SERVER, MESSAGE_NONCE_CLIENT)
        } else {
            (MESSAGE_NONCE_CLIENT, MESSAGE_NONCE_SERVER)
        };
        Self {
            cipher,
            send_prefix,
            recv_prefix,
            counter: Counter {
                ours: counter.ours,
                theirs: counter.theirs,
            },
            client_key: None,
        }
    }

    /// Whether `n` more boxes can be sent before the nonce runs out.
    pub(crate) fn can_send(&self, n: usize) -> bool {
        u64::try_from(n)
            .ok()
            .and_then(|n| self.counter.ours.checked_add(n))
            .is_some()
    }

    /// Appends one MESSAGE frame boxing `payload` (a message part, or a
    /// command's body when `command`).
    pub(crate) fn seal(
        &mut self,
        payload: &[u8],
        more: bool,
        command: bool,
        out: &mut BytesMut,
    ) -> Result<(), SendError> {
        let short_nonce = self.counter.next()?;
        let mut plain = Vec::with_capacity(1 + payload.len());
        let mut flags = 0;
        if more {
            flags |= MESSAGE_MORE;
        }
        if command {
            flags |= MESSAGE_COMMAND;
        }
        plain.push(flags);
        plain.extend_from_slice(payload);
        let tag = self
            .cipher
            .encrypt_in_place_detached(
                &nonce(self.send_prefix, &short_nonce).into(),
                b"",
                &mut plain,
            )
            .expect("plaintext within XSalsa20's bound");
        let size = 8 + SHORT_NONCE_LEN + TAG_LEN + plain.len();
        out.reserve(header_len(size) + size);
        // A data frame without MORE, as libzmq sends it: the MORE bit is
        // inside the box.
        put_header(out, Flags::NONE, false, size);
        out.put_slice(b"\x07MESSAGE");
        out.put_slice(&short_nonce);
        out.put_slice(&tag);
        out.put_slice(&plain);
        Ok(())
    }

    /// Opens one MESSAGE frame's body.
    pub(crate) fn open(&mut self, body: &Bytes) -> Result<Opened, CurveError> {
        let (name, data) = split_command(body)?;
        if name != b"MESSAGE" {
            return Err(CurveError::NotMessage {
                name: Bytes::copy_from_slice(name),
            });
        }
        if data.len() < SHORT_NONCE_LEN + TAG_LEN + 1 {
            return Err(CurveError::Malformed { command: "MESSAGE" });
        }
        let (short_nonce, boxed) = data.split_at(SHORT_NONCE_LEN);
        let plain = open(&self.cipher, &nonce(self.recv_prefix, short_nonce), boxed)
            .ok_or(CurveError::BadBox { command: "MESSAGE" })?;
        // Only an authentic box moves the counter, so forged frames cannot
        // push it forward.
        self.counter.accept(short_nonce)?;
        let flags = plain[0];
        if flags & !(MESSAGE_MORE | MESSAGE_COMMAND) != 0 {
            return Err(CurveError::Malformed {
                command: "MESSAGE flags",
            });
        }
        let body = Bytes::from(plain).slice(1..);
        if flags & MESSAGE_COMMAND != 0 {
            Ok(Opened::Command(body))
        } else {
            Ok(Opened::Frame {
                more: flags & MESSAGE_MORE != 0,
                body,
            })
        }
    }
}

#[cfg(test)]
mod tests;
