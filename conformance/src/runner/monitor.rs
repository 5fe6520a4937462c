//! The response rules the suite checks on every frame of every case, on
//! top of what the case itself expects.

use zroute_proto::Frame;

use super::wire::{fin_stream, headers_of};

/// Rules every response must follow, whatever the case checks: one SYN_REPLY
/// first (Section 5.2), nothing after the worker's FIN or RST_STREAM
/// (Sections 5.3, 10.4), and a body as long as its `content-length` (Section 8.6,
/// except for HEAD and 304).
#[derive(Default)]
pub(super) struct ResponseMonitor {
    streams: std::collections::HashMap<u32, Watch>,
    pub(super) head_requests: std::collections::HashSet<u32>,
}

#[derive(Default)]
struct Watch {
    replied: bool,
    /// The worker sent FIN or RST_STREAM.
    ended: bool,
    content_length: Option<u64>,
    total: u64,
}

impl ResponseMonitor {
    /// A description of the rule `frame` breaks, if any.
    pub(super) fn check(&mut self, frame: &Frame) -> Option<String> {
        let (id, what) = match frame {
            Frame::SynReply(f) => (f.stream_id().get(), "SYN_REPLY"),
            Frame::Data(f) => (f.stream_id().get(), "DATA"),
            Frame::Headers(f) => (f.stream_id().get(), "HEADERS"),
            Frame::RstStream(f) => {
                self.streams.entry(f.stream_id().get()).or_default().ended = true;
                return None;
            }
            _ => return None,
        };
        let head = self.head_requests.contains(&id);
        let w = self.streams.entry(id).or_default();
        if w.ended {
            return Some(format!(
                "{what} on stream {id} after the worker ended it (FIN or RST_STREAM): Sections 5.3 and 10.4"
            ));
        }
        match frame {
            Frame::SynReply(f) => {
                if w.replied {
                    return Some(format!(
                        "a second SYN_REPLY on stream {id}: Section 5.2, \"exactly one SYN_REPLY\""
                    ));
                }
                w.replied = true;
                let headers = headers_of(f.headers());
                let status = headers.iter().find(|(n, _)| n == ":status");
                let exempt = head || status.is_some_and(|(_, v)| v.starts_with("304"));
                if !exempt {
                    w.content_length = headers
                        .iter()
                        .find(|(n, _)| n == "content-length")
                        .and_then(|(_, v)| v.parse().ok());
                }
            }
            _ if !w.replied => {
                return Some(format!(
                    "{what} on stream {id} before its SYN_REPLY: Section 5.2"
                ));
            }
            Frame::Data(d) => w.total += d.payload().len() as u64,
            _ => {}
        }
        let fin = fin_stream(frame).is_some();
        w.ended = fin;
        match w.content_length {
            Some(cl) if w.total > cl || (fin && w.total != cl) => Some(format!(
                "stream {id}: content-length {cl} but {} body bytes{}: Section 8.6",
                w.total,
                if fin { " at FIN" } else { " so far" }
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use zroute_proto::frame::{Data, RstStream, SynReply};
    use zroute_proto::{HeaderBlock, RstCode, StreamId};

    use super::*;

    fn reply(id: u32, pairs: &[(&str, &str)], fin: bool) -> Frame {
        let mut block = HeaderBlock::new();
        for (n, v) in pairs {
            block.insert(n.to_string(), v.to_string()).unwrap();
        }
        let mut r = SynReply::new(StreamId::new(id), block);
        r.set_fin(fin);
        r.into()
    }

    fn data(id: u32, body: &'static [u8], fin: bool) -> Frame {
        let mut d = Data::new(StreamId::new(id), Bytes::from_static(body));
        d.set_fin(fin);
        d.into()
    }

    #[test]
    fn monitor_checks_every_response() {
        let mut m = ResponseMonitor::default();
        assert!(
            m.check(&data(1, b"x", false))
                .unwrap()
                .contains("before its SYN_REPLY")
        );
        let ok = [(":status", "200"), ("content-length", "3")];
        assert_eq!(m.check(&reply(3, &ok, false)), None);
        assert_eq!(m.check(&data(3, b"ab", false)), None);
        assert!(
            m.check(&data(3, b"c", true)).is_none(),
            "3 bytes as announced"
        );
        assert!(
            m.check(&data(3, b"", true))
                .unwrap()
                .contains("after the worker ended")
        );
        assert_eq!(m.check(&reply(5, &ok, false)), None);
        assert!(
            m.check(&data(5, b"ab", true))
                .unwrap()
                .contains("content-length 3")
        );
        assert_eq!(m.check(&reply(7, &[(":status", "200")], false)), None);
        assert!(
            m.check(&reply(7, &[(":status", "200")], false))
                .unwrap()
                .contains("second")
        );
        // HEAD and 304 announce a length they do not send.
        m.head_requests.insert(9);
        assert_eq!(m.check(&reply(9, &ok, true)), None);
        assert_eq!(
            m.check(&reply(
                11,
                &[(":status", "304"), ("content-length", "9")],
                true
            )),
            None
        );
        // The worker's RST_STREAM ends the stream too.
        assert_eq!(m.check(&reply(13, &[(":status", "200")], false)), None);
        assert_eq!(
            m.check(&RstStream::new(StreamId::new(13), RstCode::from_wire(6)).into()),
            None
        );
        assert!(m.check(&data(13, b"late", true)).is_some());
    }
}
