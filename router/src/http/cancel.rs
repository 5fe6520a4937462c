//! The guard that cancels a stream on its worker when the HTTP side lets
//! go of it: shared by the request (`proxy`) and its response body
//! (`body`), which hands it on, so it lives in neither.

use crate::dispatch::{Handle, Msg, StreamKey};

/// Cancels the stream on the worker unless disarmed: dropped when the client
/// goes away, or when the router gives up.
pub(crate) struct CancelGuard {
    dispatch: Handle,
    key: Option<StreamKey>,
}

impl CancelGuard {
    pub(crate) fn new(dispatch: Handle, key: StreamKey) -> Self {
        Self {
            dispatch,
            key: Some(key),
        }
    }

    pub(crate) fn disarm(&mut self) {
        self.key = None;
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.dispatch.send(Msg::Cancel { key });
        }
    }
}
