//! The worker library's own log lines (registration, draining, protocol
//! errors), on stderr at the level the CLI was given.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Installs the log output once per process; later calls do nothing.
#[pyfunction]
pub(crate) fn init_logging(level: &str) -> PyResult<()> {
    let level: tracing::Level = level
        .parse()
        .map_err(|_| PyValueError::new_err(format!("unknown log level {level:?}")))?;
    let _ = tracing_subscriber::fmt()
        .with_target(false)
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    Ok(())
}
