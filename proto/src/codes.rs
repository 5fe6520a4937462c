//! Wire codes as open newtypes: unknown values decode, compare and re-encode
//! unchanged, so a peer newer than us never breaks our codec.

use std::fmt;

macro_rules! wire_code {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $value:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name($repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: Self = Self($value); )*

            pub const fn from_wire(raw: $repr) -> Self {
                Self(raw)
            }

            pub const fn to_wire(self) -> $repr {
                self.0
            }

            /// The spec's name for a known code, `None` for an unknown one.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some(stringify!($konst)), )*
                    _ => None,
                }
            }

            /// Looks a code up by the spec's name (as used in test vectors).
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( stringify!($konst) => Some(Self::$konst), )*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    };
}

wire_code! {
    /// RST_STREAM status codes ([spec](../../spec/PROTOCOL.md#rst-codes)).
    ///
    /// 0 and unknown values are treated as `INTERNAL_ERROR` on receipt.
    RstCode(u32) {
        /// A generic error for a stream that broke the protocol.
        PROTOCOL_ERROR = 1;
        /// A frame arrived for a stream that was never opened.
        INVALID_STREAM = 2;
        /// The worker did not process the stream (at capacity, or draining); the router may retry it elsewhere.
        REFUSED_STREAM = 3;
        /// The stream's version is not supported.
        UNSUPPORTED_VERSION = 4;
        /// The stream is no longer needed (client gone, router shutting down).
        CANCEL = 5;
        /// The sender failed while handling the stream.
        INTERNAL_ERROR = 6;
        /// The peer sent more DATA than the stream's window allowed.
        FLOW_CONTROL_ERROR = 7;
        /// A second SYN_REPLY arrived for a stream.
        STREAM_IN_USE = 8;
        /// A frame arrived after its sender had already ended its direction of the stream.
        STREAM_ALREADY_CLOSED = 9;
        /// A frame was larger than the 65,536-byte payload limit.
        FRAME_TOO_LARGE = 11;
    }
}

impl RstCode {
    /// How a receiver must act on this code: unknown codes and 0 mean INTERNAL_ERROR.
    pub const fn effective(self) -> Self {
        match self.name() {
            Some(_) => self,
            None => Self::INTERNAL_ERROR,
        }
    }

    /// The worker did not process the stream, so the router may send it elsewhere.
    pub const fn is_retry_safe(self) -> bool {
        self.0 == Self::REFUSED_STREAM.0
    }
}

wire_code! {
    /// GOAWAY status codes ([spec](../../spec/PROTOCOL.md#goaway-codes)).
    ///
    /// 0–2 are SPDY/3.1's; 3 resolves SPDY/3.1's mention of a FLOW_CONTROL_ERROR
    /// status its list lacks; 4–6 are zroute's own. Unknown values mean INTERNAL_ERROR.
    GoAwayStatus(u32) {
        /// A graceful end: drain, shutdown, or stream ids exhausted.
        OK = 0;
        /// The peer broke the protocol at session level.
        PROTOCOL_ERROR = 1;
        /// The sender failed internally.
        INTERNAL_ERROR = 2;
        /// The peer overran the session window.
        FLOW_CONTROL_ERROR = 3;
        /// The router has no session for this peer: re-register on a new socket.
        UNKNOWN_SESSION = 4;
        /// The router does not speak the HELLO's protocol version.
        UNSUPPORTED_VERSION = 5;
        /// The router refused the registration by policy; retry with backoff.
        REFUSED = 6;
    }
}

impl GoAwayStatus {
    pub const fn effective(self) -> Self {
        match self.name() {
            Some(_) => self,
            None => Self::INTERNAL_ERROR,
        }
    }

    pub const fn is_error(self) -> bool {
        self.0 != Self::OK.0
    }
}

wire_code! {
    /// SETTINGS entry ids. zroute acts on two; the rest are SPDY's hints and are ignored.
    SettingId(u32) {
        UPLOAD_BANDWIDTH = 1;
        DOWNLOAD_BANDWIDTH = 2;
        ROUND_TRIP_TIME = 3;
        /// Sent by a worker: its capacity from now on (0 = take no new streams for now).
        MAX_CONCURRENT_STREAMS = 4;
        CURRENT_CWND = 5;
        DOWNLOAD_RETRANS_RATE = 6;
        /// The sender's receive window for streams it will get from now on.
        INITIAL_WINDOW_SIZE = 7;
        CLIENT_CERTIFICATE_VECTOR_SIZE = 8;
    }
}

wire_code! {
    /// Control frame types ([spec](../../spec/PROTOCOL.md#frame-types)).
    FrameType(u16) {
        SYN_STREAM = 1;
        SYN_REPLY = 2;
        RST_STREAM = 3;
        SETTINGS = 4;
        PING = 6;
        GOAWAY = 7;
        HEADERS = 8;
        WINDOW_UPDATE = 9;
        /// zroute: the worker's registration, first frame of a session.
        HELLO = 0x5A01;
        /// zroute: the router's answer to HELLO.
        WELCOME = 0x5A02;
    }
}
