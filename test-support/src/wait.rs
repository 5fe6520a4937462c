//! Waiting for an event with a deadline: a test that would hang fails instead.

use std::future::Future;
use std::time::{Duration, Instant};

/// The longest any single wait in a test may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Awaits `fut`, panicking with `what` after [`DEADLINE`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Logs to the test output when `RUST_LOG`-style detail is wanted: set
/// `ZROUTE_TEST_LOG=1`.
pub fn init_tracing() {
    if std::env::var_os("ZROUTE_TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_test_writer()
            .try_init();
    }
}

/// Polls `check` until it returns true; fails the test after `within`.
pub async fn wait_until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
