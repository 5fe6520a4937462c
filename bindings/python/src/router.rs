//! The wheel's `zroute-router` command: the router's own command line
//! (`zroute_router::cli`), so that `pip install` gives both commands as the
//! code the cargo build runs.

use std::ffi::OsString;

use pyo3::prelude::*;

/// Runs the router with `argv` (program name first) until SIGTERM or SIGINT
/// and returns its exit status. Detached from the interpreter throughout:
/// the router never calls into Python.
#[pyfunction]
pub(crate) fn router_main(py: Python<'_>, argv: Vec<OsString>) -> u8 {
    py.detach(|| zroute_router::cli::main(argv))
}
