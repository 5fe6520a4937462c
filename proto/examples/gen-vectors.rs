//! Writes the spec's frame test vectors, one JSON file per group.
//!
//! ```text
//! cargo run -p zroute-proto --example gen-vectors [-- OUTDIR]
//! ```
//!
//! OUTDIR defaults to `spec/vectors` in the workspace. `tests/vectors.rs`
//! fails when the committed files differ from what this writes, so run it
//! after any change to the vector definitions or the codec.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[path = "../tests/support/vectors/mod.rs"]
mod vectors;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let dir = match (args.next(), args.next()) {
        (None, _) => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the crate sits in the workspace")
            .join("spec/vectors"),
        (Some(dir), None) => PathBuf::from(dir),
        (Some(_), Some(_)) => {
            eprintln!("usage: gen-vectors [OUTDIR]");
            return ExitCode::FAILURE;
        }
    };
    let written = std::fs::create_dir_all(&dir).and_then(|()| vectors::write_all(&dir));
    match written {
        Ok(files) => {
            for f in &files {
                println!("{:>4}  {}", f.count, f.name);
            }
            let total: usize = files.iter().map(|f| f.count).sum();
            println!(
                "{total} vectors in {} files written to {}",
                files.len(),
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-vectors: cannot write to {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
