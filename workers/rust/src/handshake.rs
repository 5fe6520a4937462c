//! What the worker says when libzmq gives a connection to the router up for
//! good (spec #security-curve): which side lacks CURVE, or that the router
//! refused the key, and what to change.

use tracing::{error, warn};
use zroute_transport::{CurveKey, HandshakeFailure};

/// Says why the router would not complete the connection, and what to change.
pub(crate) fn report_handshake_failure(failure: HandshakeFailure, curve_key: Option<&CurveKey>) {
    match (failure, curve_key) {
        (HandshakeFailure::MechanismMismatch, None) => error!(
            reason = failure.as_str(),
            "the router requires CURVE and this worker does not use it: give the worker the \
             router's public key and a key pair whose public key is in the router's allowlist \
             (Builder::curve_files, or ZROUTE_CURVE_SERVER_KEY=router.pub ZROUTE_CURVE_KEY=worker.key, \
             or the examples' --curve-server-key and --curve-key); trying again on a new socket"
        ),
        (HandshakeFailure::MechanismMismatch, Some(key)) => error!(
            reason = failure.as_str(),
            public_key = %key,
            "this worker uses CURVE but the router does not: remove the worker's CURVE settings \
             (ZROUTE_CURVE_SERVER_KEY, ZROUTE_CURVE_KEY, --curve-server-key, --curve-key), or start \
             the router with --curve-key and --curve-allow; trying again on a new socket"
        ),
        (HandshakeFailure::Auth(status), key) => warn!(
            reason = failure.as_str(),
            status,
            public_key = %key.map_or_else(|| "(none)".to_owned(), ToString::to_string),
            "the router refused this worker's CURVE key (is the key in its allowlist?); \
             trying again on a new socket"
        ),
        _ => error!(
            reason = failure.as_str(),
            error = %failure,
            "the handshake with the router failed; trying again on a new socket"
        ),
    }
}
