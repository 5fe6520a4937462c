//! Why the router answered a request itself, pingora-error's way: each
//! error knows who caused it ([`ErrorSource`]) and whether sending the
//! request to another worker is safe ([`RetryType`]), so that the retry
//! logic reads the error rather than matching on causes.
//!
//! It owns the status and the one-line text the client gets for each; it
//! must not decide whether a retry happens (`--max-retries` and the body
//! replay buffer are the proxy's).

use std::fmt;

use http::StatusCode;

use crate::dispatch::{OpenError, ResetCause};

/// Who caused an error (pingora's `ErrorSource`: downstream, upstream, internal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorSource {
    /// The HTTP client: a request the router will not or cannot carry.
    Client,
    /// A worker: it failed, reset, or did not answer.
    Worker,
    /// The router itself: no worker, no room, or shutting down.
    Router,
}

/// Whether the request may go to another worker (pingora's `RetryType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetryType {
    Never,
    /// The worker said it did not process the stream (REFUSED_STREAM, or
    /// above its GOAWAY's last-good): any request may go elsewhere, spec
    /// #stream-retry.
    Safe,
    /// The worker was lost and may have processed the stream: only an
    /// idempotent request may go elsewhere, up to `--max-retries` times.
    IfIdempotent,
}

/// Why the router answered a request itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Error {
    /// The head, as HTTP/1.1 would send it, is over --max-header-size.
    HeadTooLarge,
    /// The request failed a check of `validate` (its status and text).
    Invalid(StatusCode, &'static str),
    ConnectMethod,
    /// The body is over --max-body-size, declared or as it arrived.
    BodyTooLarge,
    /// The head cannot be carried in a SYN_STREAM.
    Unmappable,
    /// The client's body broke off.
    BodyBrokeOff,
    ShuttingDown,
    /// No worker had room before the queue timeout.
    QueueTimeout,
    NoWorkers,
    /// A WebSocket, and no worker of its pool takes WebSockets.
    NoWebSocketWorkers,
    /// A WebSocket handshake for another version than 13.
    WebSocketVersion,
    /// Every worker of the pool is busy and the queue is full.
    Busy,
    /// No response head before --first-byte-timeout.
    FirstByteTimeout,
    BadResponseHead,
    /// The stream was reset before the response head.
    Reset(ResetCause),
    /// The stream's events stopped, or came out of order, before a head.
    WorkerFailed,
    /// Every attempt ended in a retry.
    AttemptsExhausted,
}

impl Error {
    /// The status the client gets.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Self::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Invalid(status, _) => status,
            Self::ConnectMethod => StatusCode::METHOD_NOT_ALLOWED,
            Self::NoWebSocketWorkers => StatusCode::NOT_IMPLEMENTED,
            Self::WebSocketVersion => StatusCode::UPGRADE_REQUIRED,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unmappable | Self::BodyBrokeOff => StatusCode::BAD_REQUEST,
            Self::ShuttingDown | Self::QueueTimeout | Self::NoWorkers | Self::Busy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::FirstByteTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::BadResponseHead
            | Self::Reset(_)
            | Self::WorkerFailed
            | Self::AttemptsExhausted => StatusCode::BAD_GATEWAY,
        }
    }

    /// The text the client gets (and the log's `why`).
    pub(crate) fn why(self) -> &'static str {
        match self {
            Self::HeadTooLarge => "the request head is larger than this router accepts",
            Self::Invalid(_, why) => why,
            Self::ConnectMethod => "CONNECT is not forwarded",
            Self::BodyTooLarge => "the request body is larger than this router accepts",
            Self::Unmappable => "the request cannot be carried to a worker",
            Self::BodyBrokeOff => "the request body broke off",
            Self::ShuttingDown => "the router is shutting down",
            Self::QueueTimeout => "no worker had room in time",
            Self::NoWorkers => "no worker serves this request",
            Self::WebSocketVersion => "only WebSocket version 13 is supported",
            Self::NoWebSocketWorkers => {
                "no worker for this route accepts WebSockets (none announced the feature `websocket`)"
            }
            Self::Busy => "every worker is busy",
            Self::FirstByteTimeout => "the worker did not answer in time",
            Self::BadResponseHead => "the worker's response head is invalid",
            Self::Reset(_) | Self::WorkerFailed => "the worker failed the request",
            Self::AttemptsExhausted => "no worker completed the request",
        }
    }

    pub(crate) fn source(self) -> ErrorSource {
        match self {
            Self::HeadTooLarge
            | Self::Invalid(..)
            | Self::ConnectMethod
            | Self::BodyTooLarge
            | Self::Unmappable
            | Self::WebSocketVersion
            | Self::BodyBrokeOff => ErrorSource::Client,
            Self::ShuttingDown
            | Self::QueueTimeout
            | Self::NoWorkers
            | Self::NoWebSocketWorkers
            | Self::Busy => ErrorSource::Router,
            Self::FirstByteTimeout
            | Self::BadResponseHead
            | Self::Reset(_)
            | Self::WorkerFailed
            | Self::AttemptsExhausted => ErrorSource::Worker,
        }
    }

    pub(crate) fn retry(self) -> RetryType {
        match self {
            Self::Reset(ResetCause::Refused) => RetryType::Safe,
            Self::Reset(ResetCause::WorkerLost) => RetryType::IfIdempotent,
            _ => RetryType::Never,
        }
    }
}

impl From<OpenError> for Error {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::NoWorkers => Self::NoWorkers,
            OpenError::NoWebSocketWorkers => Self::NoWebSocketWorkers,
            OpenError::QueueFull => Self::Busy,
            OpenError::ShuttingDown => Self::ShuttingDown,
            OpenError::BadRequest => Self::Unmappable,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.why())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use zroute_proto::RstCode;

    use super::*;

    #[test]
    fn only_resets_may_be_retried_and_each_as_its_cause_allows() {
        assert_eq!(Error::Reset(ResetCause::Refused).retry(), RetryType::Safe);
        assert_eq!(
            Error::Reset(ResetCause::WorkerLost).retry(),
            RetryType::IfIdempotent
        );
        assert_eq!(
            Error::Reset(ResetCause::Error(RstCode::INTERNAL_ERROR)).retry(),
            RetryType::Never
        );
        for e in [Error::FirstByteTimeout, Error::Busy, Error::BodyTooLarge] {
            assert_eq!(e.retry(), RetryType::Never, "{e:?}");
        }
    }

    #[test]
    fn sources_and_statuses() {
        assert_eq!(Error::BodyBrokeOff.source(), ErrorSource::Client);
        assert_eq!(Error::BodyBrokeOff.status(), StatusCode::BAD_REQUEST);
        assert_eq!(Error::Busy.source(), ErrorSource::Router);
        assert_eq!(Error::Busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(Error::FirstByteTimeout.source(), ErrorSource::Worker);
        assert_eq!(
            Error::FirstByteTimeout.status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            Error::from(OpenError::BadRequest).why(),
            "the request cannot be carried to a worker"
        );
    }
}
