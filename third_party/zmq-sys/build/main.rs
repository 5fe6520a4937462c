// Changed from zmq-sys 0.12.0: libzmq is built with CURVE, against the
// libsodium that the `libsodium-sys-stable` crate builds from its bundled,
// signature-checked source tarball (see ../README.md). The published build
// script passes `with_libsodium(None)`, which leaves CURVE out of libzmq.
use std::env;
use std::path::PathBuf;

fn dep_dir(var: &str) -> PathBuf {
    // Set by libsodium-sys-stable's build script (`links = "sodium"`).
    env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{} is not set: libsodium-sys-stable must be a dependency", var))
}

pub fn configure() {
    println!("cargo:rerun-if-changed=build/main.rs");
    println!("cargo:rerun-if-env-changed=PROFILE");

    // Cargo replays the compiler warnings of a path dependency's build script
    // on every build (it hides them for crates.io dependencies); libzmq's own
    // warnings are not ours to fix, so keep them out of every cargo run.
    let mut cxxflags = env::var("CXXFLAGS").unwrap_or_default();
    cxxflags.push_str(" -w");
    env::set_var("CXXFLAGS", cxxflags.trim_start());

    let libsodium = zeromq_src::LibLocation::new(
        dep_dir("DEP_SODIUM_LIB"),
        dep_dir("DEP_SODIUM_INCLUDE"),
    );
    zeromq_src::Build::new().with_libsodium(Some(libsodium)).build();
}

fn main() {
    configure()
}
