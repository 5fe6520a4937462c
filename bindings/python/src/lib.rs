//! `zroute._zroute`: the Rust half of the zroute Python worker. The Python
//! package (`python/zroute`) runs WSGI and ASGI apps on top of it; see
//! bindings/python/README.md for the design.
//!
//! It owns the bridge between the worker library's runtime and the
//! interpreter: the server object, each request's exchange (body in, response
//! out), the loop's mailbox and log records. It must not speak the protocol
//! itself (that is `zroute-worker`'s) nor hold the interpreter while it waits:
//! every wait releases the GIL, and the runtime's threads never take it.

mod asgi;
mod exchange;
mod heads;
mod logs;
mod mailbox;
mod outbody;
mod router;
mod server;
mod wsgi;

use pyo3::prelude::*;

// As the router's binary does (router/src/main.rs): the router's code runs here
// for `zroute-router`, and the worker's took less CPU with it too (Starlette
// hello: 91-97 against 101-103 us per request, bench/NOTES.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pyo3::create_exception!(
    _zroute,
    ClientDisconnected,
    pyo3::exceptions::PyOSError,
    "The stream is over: the client went away, the request timed out, or the worker gave it up."
);

#[pymodule]
fn _zroute(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<server::Server>()?;
    m.add_class::<exchange::PyExchange>()?;
    m.add_class::<asgi::AsgiHttp>()?;
    m.add_class::<heads::HeadBatch>()?;
    m.add_class::<asgi::Ready>()?;
    m.add_class::<wsgi::Input>()?;
    m.add_class::<wsgi::WsgiResponse>()?;
    m.add_function(wrap_pyfunction!(wsgi::wsgi_environ, m)?)?;
    m.add(
        "ClientDisconnected",
        m.py().get_type::<ClientDisconnected>(),
    )?;
    m.add_function(wrap_pyfunction!(router::router_main, m)?)?;
    m.add_function(wrap_pyfunction!(logs::init_logging, m)?)?;
    m.add_function(wrap_pyfunction!(logs::next_log_record, m)?)?;
    m.add_function(wrap_pyfunction!(logs::close_logs, m)?)?;
    m.add_function(wrap_pyfunction!(logs::dropped_log_records, m)?)?;
    Ok(())
}
