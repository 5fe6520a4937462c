//! CURVE keys and the key files that hold them (`spec/PROTOCOL.md` section 14.1).
//!
//! A key is 32 bytes, written as 40 characters of Z85. Two file formats:
//!
//! - a *public key file* (`NAME.pub`) holds one Z85 key, and an allowlist is
//!   many of them: one key per line, `#` starts a comment, blank lines are
//!   ignored, and anything after the key on its line is a free-form label;
//! - a *secret key file* (`NAME.key`) holds a key pair as `public-key = "Z85"`
//!   and `secret-key = "Z85"` lines (quotes optional; other lines ignored), so
//!   the secret files of czmq's `zcert` are read as they are.

use std::fmt;
use std::io;
use std::path::Path;

/// Key length in bytes.
pub const KEY_LEN: usize = 32;
/// Key length in Z85 characters.
pub const Z85_KEY_LEN: usize = 40;

/// A CURVE public key (or the router's server key, as a worker knows it).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CurveKey([u8; KEY_LEN]);

impl CurveKey {
    /// The key with these 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes of `bytes`, or `None` if it is not exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// Decodes 40 Z85 characters.
    pub fn from_z85(text: &str) -> io::Result<Self> {
        if text.len() != Z85_KEY_LEN {
            return Err(invalid(format!(
                "a CURVE key is {Z85_KEY_LEN} Z85 characters, not {}",
                text.len()
            )));
        }
        // Not `zmq::z85_decode`: it accepts characters outside the alphabet.
        let bytes =
            z85::decode(text).map_err(|_| invalid(format!("{text:?} is not a Z85-encoded key")))?;
        Self::from_slice(&bytes).ok_or_else(|| invalid("a Z85 key decodes to 32 bytes"))
    }

    /// A public key given either as the name of a file holding one (a `.pub`
    /// file, or the public half of a `.key` file) or as 40 Z85 characters.
    /// An existing file wins: a 40-character path can be valid Z85 too.
    pub fn from_z85_or_file(arg: &str) -> io::Result<Self> {
        if !Path::new(arg).exists() && arg.len() == Z85_KEY_LEN {
            return Self::from_z85(arg);
        }
        let text = read_key_file(Path::new(arg))?;
        if let Some(z85) = field(&text, "public-key") {
            return Self::from_z85(z85).map_err(|e| in_file(Path::new(arg), e));
        }
        let keys = parse_key_list(&text).map_err(|e| in_file(Path::new(arg), e))?;
        match keys.as_slice() {
            [key] => Ok(*key),
            _ => Err(in_file(
                Path::new(arg),
                invalid(format!("expected one public key, found {}", keys.len())),
            )),
        }
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The 40-character Z85 form.
    pub fn to_z85(&self) -> String {
        z85::encode(self.0)
    }
}

impl fmt::Display for CurveKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl fmt::Debug for CurveKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurveKey({})", self.to_z85())
    }
}

/// A CURVE key pair: a router's, or a worker's. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct CurveKeyPair {
    public: CurveKey,
    secret: [u8; KEY_LEN],
}

impl CurveKeyPair {
    /// A fresh key pair: a Curve25519 secret key from the operating
    /// system's random source (RustCrypto's `crypto_box`), and its public key.
    pub fn generate() -> io::Result<Self> {
        let secret = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        Ok(Self {
            public: CurveKey(*secret.public_key().as_bytes()),
            secret: secret.to_bytes(),
        })
    }

    /// Reads a secret key file (see the module documentation).
    pub fn from_file(path: &Path) -> io::Result<Self> {
        let text = read_key_file(path)?;
        Self::from_key_file_text(&text).map_err(|e| in_file(path, e))
    }

    /// Parses the text of a secret key file.
    pub fn from_key_file_text(text: &str) -> io::Result<Self> {
        let public = field(text, "public-key").ok_or_else(|| invalid("no public-key line"))?;
        let secret = field(text, "secret-key").ok_or_else(|| invalid("no secret-key line"))?;
        Ok(Self {
            public: CurveKey::from_z85(public)?,
            secret: CurveKey::from_z85(secret)?.0,
        })
    }

    /// The text of a secret key file for this pair.
    pub fn to_key_file_text(&self) -> String {
        format!(
            "# zroute CURVE key pair. Keep this file secret; share only the public key.\n\
             public-key = \"{}\"\n\
             secret-key = \"{}\"\n",
            self.public,
            self.secret_z85()
        )
    }

    /// The public half.
    pub fn public(&self) -> CurveKey {
        self.public
    }

    /// The secret half, in Z85 (for writing a key file).
    pub fn secret_z85(&self) -> String {
        z85::encode(self.secret)
    }

    pub(crate) fn secret_bytes(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }
}

impl fmt::Debug for CurveKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Parses an allowlist (or a `.pub` file): one Z85 key per line, blank lines
/// and lines starting with `#` ignored, text after the key (and a blank)
/// ignored. The error names the first bad line.
pub fn parse_key_list(text: &str) -> io::Result<Vec<CurveKey>> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(word) = line.split_whitespace().next() else {
            continue;
        };
        // `#` is also a Z85 character: a line is a comment only if its first
        // word is not a key.
        match CurveKey::from_z85(word) {
            Ok(key) => keys.push(key),
            Err(_) if word.starts_with('#') => {}
            Err(e) => return Err(invalid(format!("line {}: {e}", n + 1))),
        }
    }
    Ok(keys)
}

/// Whether CURVE can be spoken: always by the native sockets; by libzmq's
/// if it was built with it (it is, unless the build changed: see
/// `third_party/zmq-sys/README.md`).
pub fn curve_available() -> bool {
    #[cfg(feature = "libzmq")]
    return zmq::has("curve").unwrap_or(false);
    #[cfg(not(feature = "libzmq"))]
    true
}

/// The value of a `name = "value"` line, quotes and surrounding blanks removed.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"'))
    })
}

/// Key files are small; a bound keeps a wrong path (a device, a log) from
/// being read whole.
fn read_key_file(path: &Path) -> io::Result<String> {
    const MAX_KEY_FILE: u64 = 1 << 20;
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE + 1).read_to_string(&mut text))
        .map_err(|e| in_file(path, e))?;
    if text.len() as u64 > MAX_KEY_FILE {
        return Err(in_file(path, invalid("larger than 1 MiB")));
    }
    Ok(text)
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn in_file(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_is_available() {
        assert!(curve_available(), "libzmq was built without CURVE");
    }

    #[test]
    fn key_file_round_trips() {
        let pair = CurveKeyPair::generate().unwrap();
        let back = CurveKeyPair::from_key_file_text(&pair.to_key_file_text()).unwrap();
        assert_eq!(back, pair);
        assert!(!format!("{pair:?}").contains(&pair.secret_z85()));
    }

    #[test]
    fn reads_a_czmq_secret_certificate() {
        // The layout zcert_save_secret writes (keys from the libzmq test suite).
        let text = "#   ****  Generated by zcert  ****\n\
                    metadata\n\
                    curve\n    public-key = \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\"\n    \
                    secret-key = \"D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs\"\n";
        let pair = CurveKeyPair::from_key_file_text(text).unwrap();
        assert_eq!(
            pair.public().to_z85(),
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
        );
    }

    #[test]
    fn key_lists_skip_comments_and_name_bad_lines() {
        let a = CurveKeyPair::generate().unwrap().public();
        let b = CurveKeyPair::generate().unwrap().public();
        let text = format!("# workers\n\n{a}  # web-1\n   {b} web-2\n#\n");
        assert_eq!(parse_key_list(&text).unwrap(), vec![a, b]);
        let err = parse_key_list(&format!("{a}\nnot-a-key\n")).unwrap_err();
        assert!(err.to_string().starts_with("line 2:"), "{err}");
        // 40 characters, but not all of them Z85.
        assert!(CurveKey::from_z85(&"\"".repeat(40)).is_err());
    }
}
