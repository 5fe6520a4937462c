//! `expect_streams`: whole responses of several streams, whatever their interleaving.

use std::fmt::Write as _;

use tokio::time::Instant as TokioInstant;
use zroute_proto::Frame;

use super::body::check_body;
use super::verdict::{Outcome, Verdict, verdict};
use super::wire::{describe, fin_stream, stream_of, view};
use super::{Event, Run};
use crate::case::StreamExpect;

impl Run {
    /// Collects the responses of several streams at once, whatever the interleaving.
    pub(super) async fn expect_streams(
        &mut self,
        streams: &[StreamExpect],
        deadline: TokioInstant,
    ) -> Result<(), Verdict> {
        #[derive(PartialEq)]
        enum State {
            Waiting,
            Body,
            Done,
        }
        let mut states: Vec<(State, Vec<u8>, usize)> = streams
            .iter()
            .map(|_| (State::Waiting, Vec::new(), 0))
            .collect();
        let expected_of = |e: &StreamExpect| {
            let mut s = format!("stream {}: {}", e.stream, e.reply);
            if e.body.is_some() {
                s.push_str(", then its body");
            }
            if let Some(t) = &e.trailers {
                let _ = write!(s, ", then {t}");
            }
            s
        };
        let all_expected = streams.iter().map(expected_of).collect::<Vec<_>>();
        while states.iter().any(|(st, _, _)| *st != State::Done) {
            let pending: Vec<String> = streams
                .iter()
                .zip(&states)
                .filter(|(_, (st, _, _))| *st != State::Done)
                .map(|(e, (st, body, _))| match st {
                    State::Waiting => format!("stream {}: no first frame", e.stream),
                    _ => format!("stream {}: {} body bytes, no FIN", e.stream, body.len()),
                })
                .collect();
            let fail = |outcome, happened: String| {
                let mut v = verdict(
                    outcome,
                    "the responses of every stream, in any interleaving",
                    happened,
                );
                v.acceptable = all_expected.clone();
                v
            };
            let event = self.next(deadline).await?;
            let (peer, frame, raw) = match event {
                Event::Deadline => {
                    return Err(fail(
                        Outcome::Timeout,
                        format!("deadline passed; {}", pending.join("; ")),
                    ));
                }
                Event::Exited(s) => {
                    return Err(fail(Outcome::Crash, format!("worker exited: {s}")));
                }
                Event::Frame { peer, frame, raw } => (peer, frame, raw),
            };
            self.receive(&peer, &frame, &raw)?;
            if self.peer.as_ref() != Some(&peer) {
                self.stash.push((peer, frame));
                continue;
            }
            let frame =
                frame.map_err(|e| fail(Outcome::Fail, format!("undecodable frame: {e}")))?;
            let idx = stream_of(&frame).and_then(|id| streams.iter().position(|e| e.stream == id));
            let Some(i) = idx else {
                if let Some(v) = self.tolerated(&frame, "a frame of one of the expected streams") {
                    let mut f = fail(Outcome::Fail, v.happened);
                    f.diff = Vec::new();
                    return Err(f);
                }
                continue;
            };
            let e = &streams[i];
            let v = view(&frame);
            let (state, body, nonempty) = &mut states[i];
            match state {
                State::Waiting => {
                    if let Some(why) = e.reply.mismatch(&v, &self.vars) {
                        let mut f = fail(Outcome::Fail, format!("stream {}: {why}", e.stream));
                        f.diff = e.reply.diff(&v, &self.vars);
                        return Err(f);
                    }
                    *state = if fin_stream(&frame).is_some() || matches!(frame, Frame::RstStream(_))
                    {
                        State::Done
                    } else {
                        State::Body
                    };
                }
                State::Body => match &frame {
                    Frame::Data(d) => {
                        if !d.payload().is_empty() {
                            *nonempty += 1;
                        }
                        body.extend_from_slice(d.payload());
                        if d.is_fin() {
                            *state = State::Done;
                        }
                    }
                    Frame::Headers(_) => {
                        let Some(t) = &e.trailers else {
                            return Err(fail(
                                Outcome::Fail,
                                format!(
                                    "stream {}: unexpected trailers {}",
                                    e.stream,
                                    describe(&frame)
                                ),
                            ));
                        };
                        if let Some(why) = t.mismatch(&v, &self.vars) {
                            let mut f = fail(Outcome::Fail, format!("stream {}: {why}", e.stream));
                            f.diff = t.diff(&v, &self.vars);
                            return Err(f);
                        }
                        *state = State::Done;
                    }
                    Frame::WindowUpdate(_) => {}
                    other => {
                        return Err(fail(
                            Outcome::Fail,
                            format!("stream {}: unexpected {}", e.stream, describe(other)),
                        ));
                    }
                },
                State::Done => {
                    if !matches!(frame, Frame::WindowUpdate(_)) {
                        return Err(fail(
                            Outcome::Fail,
                            format!(
                                "stream {}: {} after the stream ended",
                                e.stream,
                                describe(&frame)
                            ),
                        ));
                    }
                }
            }
            if *state == State::Done {
                self.finished.insert(e.stream);
                if let Some(b) = &e.body {
                    check_body(b, body, *nonempty, &self.vars).map_err(|(exp, got)| {
                        fail(
                            Outcome::Fail,
                            format!("stream {}: expected {exp}, got {got}", e.stream),
                        )
                    })?;
                }
            }
        }
        Ok(())
    }
}
