//! `zroute-router keygen`: a CURVE key pair for the router or a worker.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use zroute_transport::CurveKeyPair;

/// With `out`, writes `OUT.key` (the pair, readable by its owner only) and
/// `OUT.pub` (the public key, for an allowlist or a worker's
/// `--curve-server-key`), refusing to overwrite either, and prints the public
/// key. Without, prints the key file text.
pub fn run(out: Option<&Path>) -> io::Result<()> {
    let pair = CurveKeyPair::generate()?;
    let Some(prefix) = out else {
        print!("{}", pair.to_key_file_text());
        return Ok(());
    };
    let key_path = with_suffix(prefix, "key");
    let pub_path = with_suffix(prefix, "pub");
    for path in [&key_path, &pub_path] {
        if path.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists; not overwriting a key", path.display()),
            ));
        }
    }
    write_new(&key_path, 0o600, &pair.to_key_file_text())?;
    write_new(&pub_path, 0o644, &format!("{}\n", pair.public()))?;
    println!("{}", pair.public());
    eprintln!(
        "wrote {} (secret, mode 0600) and {}",
        key_path.display(),
        pub_path.display()
    );
    Ok(())
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// The mode is set when the file is created, so the secret is never
/// readable by others, not even for a moment.
fn write_new(path: &Path, mode: u32, text: &str) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}
