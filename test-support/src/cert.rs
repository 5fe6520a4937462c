//! A self-signed certificate for the TLS front, made at test time.

use std::path::PathBuf;

/// A certificate for `localhost`, written as PEM files that live as long as it does.
pub struct TestCert {
    _dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// For a client's root store.
    pub der: rustls_pki_types::CertificateDer<'static>,
}

pub fn self_signed() -> TestCert {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    TestCert {
        _dir: dir,
        cert: cert_path,
        key: key_path,
        der: cert.der().clone(),
    }
}
