//! The admin listener: `/metrics` (Prometheus text), `/workers` (JSON),
//! `/healthz`. Kept apart from the client port so it can stay private.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracing::debug;

use crate::dispatch::{Handle, Msg};
use crate::metrics::Metrics;

#[derive(Clone)]
pub(crate) struct Admin {
    pub(crate) dispatch: Handle,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) draining: Arc<AtomicBool>,
}

pub(crate) async fn serve(listener: TcpListener, admin: Admin) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let admin = admin.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let admin = admin.clone();
                async move { Ok::<_, Infallible>(admin.answer(req).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(error = %e, "admin connection ended with an error");
            }
        });
    }
}

impl Admin {
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        match req.uri().path() {
            "/metrics" => reply(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self.metrics.render(),
            ),
            "/workers" => {
                let (tx, rx) = oneshot::channel();
                if !self.dispatch.send(Msg::Workers(tx)) {
                    return reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        "stopping\n".to_owned(),
                    );
                }
                match rx.await {
                    Ok(list) => reply(
                        StatusCode::OK,
                        "application/json",
                        serde_json::to_string_pretty(&list).expect("plain data serializes"),
                    ),
                    Err(_) => reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        "stopping\n".to_owned(),
                    ),
                }
            }
            "/healthz" => {
                if self.draining.load(Ordering::Relaxed) {
                    reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        "draining\n".to_owned(),
                    )
                } else {
                    reply(StatusCode::OK, "text/plain", "ok\n".to_owned())
                }
            }
            _ => reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                "not found: try /metrics, /workers or /healthz\n".to_owned(),
            ),
        }
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    res
}
