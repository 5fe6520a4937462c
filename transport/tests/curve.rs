//! CURVE with a ZAP handler, over real loopback TCP: the handler sees the
//! client's key and address, an admitted client talks, a refused one never
//! completes its connection. Every wait is for an event, under a deadline.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::timeout;
use zroute_transport::{
    Context, CurveClient, CurveKeyPair, CurveServer, DealerOptions, RouterOptions, Socket,
    ZapHandler, ZapRequest,
};

const DEADLINE: Duration = Duration::from_secs(20);

fn client(server: &CurveKeyPair, keypair: &CurveKeyPair) -> DealerOptions {
    DealerOptions {
        curve: Some(CurveClient {
            server_key: server.public(),
            keypair: keypair.clone(),
        }),
        ..DealerOptions::default()
    }
}

#[tokio::test]
async fn zap_admits_listed_keys_and_refuses_others() {
    let ctx = Context::new();
    let server = CurveKeyPair::generate().unwrap();
    let allowed = CurveKeyPair::generate().unwrap();
    let stranger = CurveKeyPair::generate().unwrap();

    let (seen_tx, mut seen) = mpsc::unbounded_channel::<ZapRequest>();
    let allowed_key = allowed.public();
    let zap = ZapHandler::bind(&ctx).unwrap();
    // A second handler in the same context is refused, not silently shadowed.
    assert!(ZapHandler::bind(&ctx).is_err());
    let zap = tokio::spawn(zap.serve(move |req| {
        let _ = seen_tx.send(req.clone());
        req.client_key == Some(allowed_key)
    }));

    let options = RouterOptions {
        curve: Some(CurveServer {
            keypair: server.clone(),
            zap_domain: "zroute-test".to_owned(),
        }),
        ..RouterOptions::default()
    };
    let mut router = Socket::router(&ctx, &options).unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();

    // The stranger first: its request reaches the handler and is refused.
    let refused = Socket::dealer(&ctx, &client(&server, &stranger)).unwrap();
    refused.connect(&endpoint).unwrap();
    let req = timeout(DEADLINE, seen.recv()).await.unwrap().unwrap();
    assert_eq!(req.mechanism, "CURVE");
    assert_eq!(req.domain, "zroute-test");
    assert_eq!(req.address, "127.0.0.1");
    assert_eq!(req.client_key, Some(stranger.public()));

    // The listed worker completes its handshake and its message arrives.
    let mut worker = Socket::dealer(&ctx, &client(&server, &allowed)).unwrap();
    worker.connect(&endpoint).unwrap();
    timeout(DEADLINE, worker.writable()).await.unwrap().unwrap();
    worker.try_send(&[&b"hello"[..]]).unwrap();
    let msg = timeout(DEADLINE, router.recv()).await.unwrap().unwrap();
    let (_, body) = msg.split_peer().unwrap();
    assert_eq!(&body.parts()[0][..], b"hello");

    // Everything the router received came from the listed worker; the
    // stranger's connection never completed (it keeps being refused).
    assert!(router.try_recv().unwrap().is_none());
    let mut refused = refused;
    assert!(
        timeout(Duration::from_millis(300), refused.writable())
            .await
            .is_err(),
        "a refused client must not get a connection"
    );
    zap.abort();
}

#[tokio::test]
async fn keys_round_trip_through_z85_and_files() {
    let pair = CurveKeyPair::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("w.key");
    let pub_file = dir.path().join("w.pub");
    std::fs::write(&key_file, pair.to_key_file_text()).unwrap();
    std::fs::write(&pub_file, format!("{}\n", pair.public())).unwrap();
    assert_eq!(CurveKeyPair::from_file(&key_file).unwrap(), pair);
    let z85 = pair.public().to_z85();
    for arg in [&z85, pub_file.to_str().unwrap(), key_file.to_str().unwrap()] {
        assert_eq!(
            zroute_transport::CurveKey::from_z85_or_file(arg).unwrap(),
            pair.public(),
            "{arg}"
        );
    }
    // A path that is also 40 valid Z85 characters is read as a path.
    let z85_path = "./zroute-test-key-file-that-look-z85.pub";
    assert_eq!(z85_path.len(), 40);
    assert!(zroute_transport::CurveKey::from_z85(z85_path).is_ok());
    let pub_in_cwd = std::env::current_dir().unwrap().join(z85_path);
    std::fs::write(&pub_in_cwd, format!("{}\n", pair.public())).unwrap();
    let read = zroute_transport::CurveKey::from_z85_or_file(z85_path);
    std::fs::remove_file(&pub_in_cwd).unwrap();
    assert_eq!(read.unwrap(), pair.public());

    let missing = dir.path().join("missing.pub");
    let err = zroute_transport::CurveKey::from_z85_or_file(missing.to_str().unwrap()).unwrap_err();
    assert!(err.to_string().contains("missing.pub"), "{err}");
}
