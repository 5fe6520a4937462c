use super::*;

fn router_md() -> Metadata {
    let mut m = Metadata::new();
    m.insert("Socket-Type", "ROUTER").unwrap();
    m
}

fn dealer_md() -> Metadata {
    let mut m = Metadata::new();
    m.insert("Socket-Type", "DEALER").unwrap();
    m
}

/// The body of the one command frame in `tx`.
fn body(tx: &BytesMut) -> Bytes {
    let header = if Flags::from_bits(tx[0]).is_long() {
        9
    } else {
        2
    };
    Bytes::copy_from_slice(&tx[header..])
}

struct Both {
    client: CurveHandshake,
    server: CurveHandshake,
    server_public: PublicKey,
}

fn both() -> Both {
    let server_secret = SecretKey::generate(&mut OsRng);
    let server_public = server_secret.public_key();
    let client = CurveHandshake::new(
        SocketType::DEALER,
        &CurveConfig::Client {
            server_public: server_public.clone(),
            secret: SecretKey::generate(&mut OsRng),
        },
        dealer_md(),
    );
    let server = CurveHandshake::new(
        SocketType::ROUTER,
        &CurveConfig::Server {
            secret: server_secret,
            allow: std::sync::Arc::new(|_| true),
        },
        router_md(),
    );
    Both {
        client,
        server,
        server_public,
    }
}

#[test]
fn hello_is_200_octets_with_72_zeros_of_padding() {
    let mut b = both();
    let mut tx = BytesMut::new();
    b.client.start(&mut tx);
    let hello = body(&tx);
    assert_eq!(hello.len(), 200);
    assert_eq!(&hello[..8], b"\x05HELLO\x01\x00");
    assert!(hello[8..80].iter().all(|&o| o == 0));
    assert_eq!(
        &hello[112..120],
        &1u64.to_be_bytes(),
        "the first short nonce"
    );
    let mut welcome = BytesMut::new();
    assert!(
        b.server
            .handle_command(hello, &mut welcome)
            .unwrap()
            .is_none()
    );
    assert_eq!(body(&welcome).len(), 168);
    assert_eq!(&body(&welcome)[..8], b"\x07WELCOME");
}

#[test]
fn a_client_refuses_a_welcome_not_boxed_by_the_server_key() {
    let mut b = both();
    let mut tx = BytesMut::new();
    b.client.start(&mut tx);
    let client_short = PublicKey::from(key(&body(&tx)[80..]));
    // An impostor that knows the server's public key but not its secret.
    let impostor = SecretKey::generate(&mut OsRng);
    let long_nonce: [u8; 16] = random();
    let mut forged = BytesMut::new();
    forged.put_slice(b"\x07WELCOME");
    forged.put_slice(&long_nonce);
    seal(
        &SalsaBox::new(&client_short, &impostor),
        &nonce(WELCOME_NONCE, &long_nonce),
        &[0; KEY_LEN + COOKIE_LEN],
        &mut forged,
    );
    assert_eq!(forged.len(), WELCOME_LEN);
    let err = b
        .client
        .handle_command(forged.freeze(), &mut BytesMut::new())
        .unwrap_err();
    assert_eq!(err, Error::Curve(CurveError::BadBox { command: "WELCOME" }));
    assert_ne!(impostor.public_key(), b.server_public);
}

#[test]
fn a_server_refuses_another_cookie() {
    let mut b = both();
    let mut tx = BytesMut::new();
    b.client.start(&mut tx);
    let mut welcome = BytesMut::new();
    b.server.handle_command(body(&tx), &mut welcome).unwrap();
    let mut initiate = BytesMut::new();
    b.client
        .handle_command(body(&welcome), &mut initiate)
        .unwrap();
    let mut initiate = BytesMut::from(&body(&initiate)[..]);
    assert_eq!(&initiate[..9], b"\x08INITIATE");
    initiate[9 + 40] ^= 0x01;
    assert_eq!(
        b.server
            .handle_command(initiate.freeze(), &mut BytesMut::new())
            .unwrap_err(),
        Error::Curve(CurveError::BadCookie)
    );
}

#[test]
fn refuses_short_commands_and_commands_out_of_turn() {
    let mut b = both();
    let mut tx = BytesMut::new();
    b.client.start(&mut tx);
    let hello = body(&tx);
    for cut in [0, 1, 5, 6, 100, 199] {
        let mut server = both().server;
        let err = server
            .handle_command(hello.slice(..cut), &mut BytesMut::new())
            .unwrap_err();
        assert!(
            matches!(err, Error::Curve(CurveError::Malformed { .. })),
            "{cut}: {err}"
        );
    }
    // READY before WELCOME.
    let err = b
        .client
        .handle_command(
            Bytes::from_static(b"\x05READY12345678"),
            &mut BytesMut::new(),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Handshake(HandshakeError::UnexpectedCommand { .. })
    ));
    // An ERROR ends the handshake with its reason.
    let err = b
        .client
        .handle_command(
            Bytes::from_static(b"\x05ERROR\x03400"),
            &mut BytesMut::new(),
        )
        .unwrap_err();
    assert!(err.is_peer_error());
}

/// An INITIATE built by hand from the client's keys, its vouch naming
/// `vouch_short` and `vouch_server` in place of C' and S.
fn initiate_vouching(
    b: &mut Both,
    vouch_short: Option<[u8; KEY_LEN]>,
    vouch_server: Option<[u8; KEY_LEN]>,
) -> Result<Option<(Peer, CurveCodec)>, Error> {
    let mut tx = BytesMut::new();
    b.client.start(&mut tx);
    let mut welcome = BytesMut::new();
    b.server.handle_command(body(&tx), &mut welcome).unwrap();
    let welcome = body(&welcome);
    let Side::Client { secret, short, .. } = &b.client.side else {
        unreachable!()
    };
    let plain = open(
        &SalsaBox::new(&b.server_public, short),
        &nonce(WELCOME_NONCE, &welcome[8..24]),
        &welcome[24..],
    )
    .unwrap();
    let server_short = PublicKey::from(key(&plain));
    let cookie = &plain[KEY_LEN..];
    let mut vouched = [0u8; 2 * KEY_LEN];
    vouched[..KEY_LEN].copy_from_slice(&vouch_short.unwrap_or(short.public_key().to_bytes()));
    vouched[KEY_LEN..].copy_from_slice(&vouch_server.unwrap_or(b.server_public.to_bytes()));
    let vouch_nonce: [u8; LONG_NONCE_LEN] = random();
    let mut inner = Vec::new();
    inner.put_slice(secret.public_key().as_bytes());
    inner.put_slice(&vouch_nonce);
    seal(
        &SalsaBox::new(&server_short, secret),
        &nonce(VOUCH_NONCE, &vouch_nonce),
        &vouched,
        &mut inner,
    );
    dealer_md().encode(&mut inner);
    let short_nonce = 2u64.to_be_bytes();
    let mut initiate = BytesMut::new();
    initiate.put_slice(b"\x08INITIATE");
    initiate.put_slice(cookie);
    initiate.put_slice(&short_nonce);
    seal(
        &SalsaBox::new(&server_short, short),
        &nonce(INITIATE_NONCE, &short_nonce),
        &inner,
        &mut initiate,
    );
    b.server
        .handle_command(initiate.freeze(), &mut BytesMut::new())
}

#[test]
fn a_server_checks_the_vouch_names_this_connection_and_itself() {
    // Built right, the hand-made INITIATE passes: the builder is sound.
    let (peer, _) = initiate_vouching(&mut both(), None, None)
        .unwrap()
        .expect("ready");
    assert_eq!(peer.socket_type(), SocketType::DEALER);
    let other = SecretKey::generate(&mut OsRng).public_key().to_bytes();
    assert_eq!(
        initiate_vouching(&mut both(), Some(other), None).unwrap_err(),
        Error::Curve(CurveError::BadVouch),
        "a vouch lifted from another connection"
    );
    assert_eq!(
        initiate_vouching(&mut both(), None, Some(other)).unwrap_err(),
        Error::Curve(CurveError::BadVouch),
        "a vouch for another server"
    );
}
