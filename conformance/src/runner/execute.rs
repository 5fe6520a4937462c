//! A case's course: the HELLO, the WELCOME, then each step under the case
//! deadline (or the step's own).

use std::time::Duration;

use tokio::time::Instant as TokioInstant;
use zroute_proto::Frame;

use super::verdict::{Outcome, Verdict, prefix, verdict};
use super::wire::{describe, hex, view};
use super::{Event, HELLO_TIMEOUT, Run, RunConfig};
use crate::case::{Case, Step};

impl Run {
    pub(super) async fn execute(&mut self, case: &Case, cfg: &RunConfig) -> Result<(), Verdict> {
        // The HELLO, within the start-up timeout.
        let hello_deadline = TokioInstant::now() + HELLO_TIMEOUT;
        if cfg.attach.is_some() {
            self.drop_stale_sessions(hello_deadline).await?;
        }
        let hello = match self.next(hello_deadline).await? {
            Event::Deadline => {
                return Err(verdict(
                    Outcome::Timeout,
                    "a HELLO within 10 s of start",
                    "no frame from the worker",
                ));
            }
            Event::Exited(s) => {
                return Err(verdict(
                    Outcome::Crash,
                    "a HELLO",
                    format!("worker exited before HELLO: {s}"),
                ));
            }
            Event::Frame { peer, frame, raw } => {
                self.peer = Some(peer.clone());
                self.receive(&peer, &frame, &raw)?;
                match frame {
                    Ok(Frame::Hello(h)) => h,
                    Ok(f) => {
                        return Err(verdict(
                            Outcome::Fail,
                            "HELLO as the first frame",
                            format!("first frame: {}", describe(&f)),
                        ));
                    }
                    Err(e) => {
                        return Err(verdict(
                            Outcome::Fail,
                            "HELLO as the first frame",
                            format!("undecodable first frame: {e}"),
                        ));
                    }
                }
            }
        };
        self.hello_seen = true;
        let view = view(&Frame::Hello(hello.clone()));
        self.vars.id = view
            .headers
            .iter()
            .find(|(n, _)| n == "id")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        self.vars.capacity = hello.max_concurrent_streams();
        if let Some(why) = case.hello.mismatch(&view, &self.vars) {
            // A case that passes options fails here first when the app ignores
            // them: say that, not only what the HELLO lacked.
            let happened = if case.worker_args.is_empty() {
                why
            } else {
                format!(
                    "the case started the worker with {}; its HELLO announced capacity {} and \
                     initial window {} ({why}): a test app must accept the options of \
                     spec/PROTOCOL.md#test-app-command-line",
                    case.worker_args.join(" "),
                    hello.max_concurrent_streams(),
                    hello.initial_window_size(),
                )
            };
            return Err(verdict(Outcome::Fail, case.hello.to_string(), happened));
        }
        if let Some(feature) = &case.feature {
            let announced = hello
                .attributes()
                .values("feature")
                .any(|v| v.split(|b| *b == 0).any(|f| f == feature.as_bytes()));
            if !announced {
                return Err(verdict(
                    Outcome::Unsupported,
                    format!("feature {feature:?} announced in HELLO"),
                    "the worker does not announce it",
                ));
            }
        }
        if case.welcome.send {
            self.send_welcome(case)?;
        }
        let scale =
            |ms: u64| Duration::from_millis(((ms as f64) * cfg.timeout_scale).ceil() as u64);
        let deadline = TokioInstant::now() + scale(case.timeout_ms);
        for (i, step) in case.steps.iter().enumerate() {
            let n = i + 1;
            let (step, deadline) = match step {
                Step::Within { ms, step } => {
                    (&**step, deadline.min(TokioInstant::now() + scale(*ms)))
                }
                step => (step, deadline),
            };
            let end = match step {
                Step::Expect(m) => self.expect(std::slice::from_ref(m), deadline).await,
                Step::ExpectOneOf(alts) => self.expect(alts, deadline).await,
                Step::ExpectUnordered(ms) => {
                    self.expect_unordered(ms, deadline).await.map(|()| false)
                }
                Step::ExpectStreams(streams) => {
                    self.expect_streams(streams, deadline).await.map(|()| false)
                }
                Step::Send(s) => self.send(s, case).map(|()| false),
                Step::SendRaw(bytes) => {
                    self.note("->", format!("raw {}", hex(bytes, 64)));
                    self.send_bytes(bytes).map(|()| false)
                }
                Step::SendParts(parts) => {
                    for p in parts {
                        self.note("->", format!("part {}", hex(p, 64)));
                    }
                    self.send_parts(parts).map(|()| false)
                }
                Step::Signal(sig) => self.signal(sig).map(|()| false),
                Step::Dns(addresses) => self.dns(Some(addresses), false).map(|()| false),
                Step::DnsFailing(failing) => self.dns(None, *failing).map(|()| false),
                Step::ExpectExit => self.expect_exit(deadline).await.map(|()| false),
                Step::ExpectNone {
                    ms,
                    strict,
                    any_peer,
                    fixed,
                    stream,
                } => {
                    let window = if *fixed {
                        Duration::from_millis(*ms)
                    } else {
                        scale(*ms)
                    };
                    let until = TokioInstant::now() + window;
                    self.expect_none(until, *strict, *any_peer, *stream)
                        .await
                        .map(|()| false)
                }
                Step::ExpectBody(b) => self.expect_body(b, deadline).await.map(|()| false),
                Step::Within { .. } => {
                    Err(verdict(Outcome::Error, "a valid case", "nested within_ms"))
                }
            }
            .map_err(|v| prefix(n, v))?;
            if end {
                self.note("--", format!("step {n} ends the case"));
                break;
            }
        }
        Ok(())
    }
}
