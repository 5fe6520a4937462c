use std::process::ExitCode;

// glibc's allocator spent a sixth of the router's CPU under load (profile in
// docs/BENCHMARKS.md): per-request buffers of mixed sizes keep it consolidating.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ExitCode::from(zroute_router::cli::main(std::env::args_os()))
}
