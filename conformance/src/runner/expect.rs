//! Waiting for what a step expects: one frame (or one of several), several
//! in any order, a body, silence, the worker's exit.

use tokio::time::Instant as TokioInstant;
use zroute_proto::Frame;

use super::body::check_body;
use super::verdict::{Outcome, Verdict, crashed, verdict};
use super::wire::{describe, fin_stream, stream_of, view};
use super::{Event, Run};
use crate::case::{BodySpec, FrameMatch, FrameView};

impl Run {
    pub(super) async fn expect_exit(&mut self, deadline: TokioInstant) -> Result<(), Verdict> {
        let expected = "the worker process to exit";
        loop {
            match self.next(deadline).await? {
                Event::Exited(_) => return Ok(()),
                Event::Deadline => {
                    return Err(verdict(Outcome::Timeout, expected, "it is still running"));
                }
                Event::Frame { peer, frame, raw } => {
                    self.receive(&peer, &frame, &raw)?;
                    if self.peer.as_ref() != Some(&peer) {
                        self.stash.push((peer, frame));
                        continue;
                    }
                    self.pass_over(&frame, expected)?;
                }
            }
        }
    }

    /// Waits for a frame matching one of `alts`; `Ok(true)` if the matching
    /// alternative ends the case.
    pub(super) async fn expect(
        &mut self,
        alts: &[FrameMatch],
        deadline: TokioInstant,
    ) -> Result<bool, Verdict> {
        let expected = match alts {
            [m] => m.to_string(),
            alts => format!(
                "one of: {}",
                alts.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
        };
        let mut last_miss = String::from("nothing");
        let mut last_view: Option<FrameView> = None;
        if alts.iter().any(|m| m.new_peer) {
            let stashed = self.stash.iter().position(|(peer, frame)| {
                self.peer.as_ref() != Some(peer)
                    && frame.as_ref().is_ok_and(|f| {
                        let v = view(f);
                        alts.iter().any(|m| {
                            m.new_peer
                                && self.reached_at(peer, m.at)
                                && m.mismatch(&v, &self.vars).is_none()
                        })
                    })
            });
            if let Some(i) = stashed {
                let (peer, frame) = self.stash.remove(i);
                let frame = frame.expect("checked above");
                let v = view(&frame);
                let m = alts
                    .iter()
                    .find(|m| {
                        m.new_peer
                            && self.reached_at(&peer, m.at)
                            && m.mismatch(&v, &self.vars).is_none()
                    })
                    .expect("checked above");
                self.note(
                    "--",
                    "switching to the new routing id (its HELLO came earlier)",
                );
                self.switch_peer(peer);
                self.note_tolerated(m, alts, &frame);
                return Ok(m.end);
            }
        }
        loop {
            match self.next(deadline).await? {
                Event::Deadline => {
                    return Err(verdict(
                        Outcome::Timeout,
                        expected,
                        format!("deadline passed; last: {last_miss}"),
                    )
                    .with_alternatives(alts)
                    .with_diff(alts, last_view.as_ref(), &self.vars));
                }
                Event::Exited(s) => return Err(crashed(expected, &s).with_alternatives(alts)),
                Event::Frame { peer, frame, raw } => {
                    self.receive(&peer, &frame, &raw)?;
                    let from_current = self.peer.as_ref() == Some(&peer);
                    let frame = match frame {
                        Ok(f) => f,
                        Err(e) if from_current => {
                            return Err(verdict(
                                Outcome::Fail,
                                expected,
                                format!("undecodable frame: {e}"),
                            )
                            .with_alternatives(alts));
                        }
                        Err(_) => continue,
                    };
                    let v = view(&frame);
                    let candidates: Vec<&FrameMatch> = alts
                        .iter()
                        .filter(|m| m.new_peer != from_current && self.reached_at(&peer, m.at))
                        .collect();
                    if let Some(m) = candidates
                        .iter()
                        .find(|m| m.mismatch(&v, &self.vars).is_none())
                    {
                        if m.new_peer {
                            self.note("--", "switching to the new routing id");
                            self.switch_peer(peer);
                        } else if let Some(id) = fin_stream(&frame) {
                            self.finished.insert(id);
                        }
                        self.note_tolerated(m, alts, &frame);
                        return Ok(m.end);
                    }
                    let why = candidates
                        .first()
                        .and_then(|m| m.mismatch(&v, &self.vars))
                        .unwrap_or_else(|| format!("unexpected {}", describe(&frame)));
                    if !from_current {
                        self.stash.push((peer, Ok(frame)));
                        continue;
                    }
                    if let Some(fail) = self.tolerated(&frame, &format!("{expected} ({why})")) {
                        return Err(fail.with_alternatives(alts).with_diff(
                            alts,
                            Some(&v),
                            &self.vars,
                        ));
                    }
                    last_miss = why;
                    if !matches!(frame, Frame::Ping(_)) {
                        last_view = Some(v);
                    }
                }
            }
        }
    }

    /// Waits until each of `ms` has matched one frame, in any order.
    pub(super) async fn expect_unordered(
        &mut self,
        ms: &[FrameMatch],
        deadline: TokioInstant,
    ) -> Result<(), Verdict> {
        let mut left: Vec<&FrameMatch> = ms.iter().collect();
        let mut last_view: Option<FrameView> = None;
        while !left.is_empty() {
            let remaining: Vec<FrameMatch> = left.iter().map(|m| (*m).clone()).collect();
            let expected = format!(
                "in any order: {}",
                left.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
            match self.next(deadline).await? {
                Event::Deadline => {
                    return Err(verdict(Outcome::Timeout, expected, "deadline passed")
                        .with_alternatives(&remaining)
                        .with_diff(&remaining, last_view.as_ref(), &self.vars));
                }
                Event::Exited(s) => return Err(crashed(expected, &s).with_alternatives(&remaining)),
                Event::Frame { peer, frame, raw } => {
                    self.receive(&peer, &frame, &raw)?;
                    if self.peer.as_ref() != Some(&peer) {
                        self.stash.push((peer, frame));
                        continue;
                    }
                    let frame = frame.map_err(|e| {
                        verdict(
                            Outcome::Fail,
                            expected.clone(),
                            format!("undecodable frame: {e}"),
                        )
                    })?;
                    let v = view(&frame);
                    if let Some(i) = left
                        .iter()
                        .position(|m| m.mismatch(&v, &self.vars).is_none())
                    {
                        left.remove(i);
                        if let Some(id) = fin_stream(&frame) {
                            self.finished.insert(id);
                        }
                        continue;
                    }
                    if let Some(fail) = self.tolerated(&frame, &expected) {
                        return Err(fail.with_alternatives(&remaining).with_diff(
                            &remaining,
                            Some(&v),
                            &self.vars,
                        ));
                    }
                    if !matches!(frame, Frame::Ping(_)) {
                        last_view = Some(v);
                    }
                }
            }
        }
        Ok(())
    }

    /// PING and WINDOW_UPDATE may arrive at any time; anything else unexpected fails.
    /// A frame the step is not waiting for: passed over if tolerated (PING,
    /// WINDOW_UPDATE), the step's verdict otherwise.
    fn pass_over(&self, frame: &Result<Frame, String>, expected: &str) -> Result<(), Verdict> {
        match frame {
            Ok(f) => self.tolerated(f, expected).map_or(Ok(()), Err),
            Err(e) => Err(verdict(
                Outcome::Fail,
                expected,
                format!("undecodable frame: {e}"),
            )),
        }
    }

    pub(super) fn tolerated(&self, frame: &Frame, expected: &str) -> Option<Verdict> {
        match frame {
            Frame::Ping(_) | Frame::WindowUpdate(_) => None,
            other => Some(verdict(
                Outcome::Fail,
                expected,
                format!("unexpected {}", describe(other)),
            )),
        }
    }

    pub(super) async fn expect_none(
        &mut self,
        until: TokioInstant,
        strict: bool,
        any_peer: bool,
        stream: Option<u32>,
    ) -> Result<(), Verdict> {
        let on_stream = stream.map(|id| format!("no frame at all on stream {id}"));
        let expected = match (strict, any_peer) {
            _ if on_stream.is_some() => on_stream.as_deref().unwrap_or_default(),
            (true, false) => "no frame at all",
            (false, false) => "no frame but PING or WINDOW_UPDATE",
            (true, true) => "no frame at all, from any routing id",
            (false, true) => "no frame but PING or WINDOW_UPDATE, from any routing id",
        };
        loop {
            match self.next(until).await? {
                Event::Deadline => return Ok(()),
                Event::Exited(s) => return Err(crashed(expected, &s)),
                Event::Frame { peer, frame, raw } => {
                    self.receive(&peer, &frame, &raw)?;
                    if self.peer.as_ref() != Some(&peer) && !any_peer {
                        self.stash.push((peer, frame));
                        continue;
                    }
                    if let (Some(id), Ok(f)) = (stream, &frame)
                        && stream_of(f) != Some(id)
                    {
                        continue;
                    }
                    match frame {
                        Ok(Frame::Ping(_) | Frame::WindowUpdate(_))
                            if !strict && stream.is_none() => {}
                        Ok(f) => {
                            return Err(verdict(
                                Outcome::Fail,
                                expected,
                                format!("received {}", describe(&f)),
                            ));
                        }
                        Err(e) => {
                            return Err(verdict(
                                Outcome::Fail,
                                expected,
                                format!("received an undecodable frame: {e}"),
                            ));
                        }
                    }
                }
            }
        }
    }

    pub(super) async fn expect_body(
        &mut self,
        b: &BodySpec,
        deadline: TokioInstant,
    ) -> Result<(), Verdict> {
        let stream = b.stream.unwrap_or(self.vars.last_stream);
        let expected = format!("the body of stream {stream}");
        let mut body = Vec::new();
        let mut nonempty = 0;
        // An `expect` already saw this stream's FIN (on SYN_REPLY, say): the body is empty.
        let already_done = self.finished.contains(&stream);
        loop {
            if already_done {
                break;
            }
            if let Some(n) = b.upto.filter(|n| body.len() >= *n) {
                if body.len() > n {
                    return Err(verdict(
                        Outcome::Fail,
                        format!("at most {n} body bytes (the window) before a WINDOW_UPDATE"),
                        format!("{} body bytes", body.len()),
                    ));
                }
                break;
            }
            match self.next(deadline).await? {
                Event::Deadline => {
                    return Err(verdict(
                        Outcome::Timeout,
                        expected,
                        format!("deadline passed after {} body bytes", body.len()),
                    ));
                }
                Event::Exited(s) => return Err(crashed(expected, &s)),
                Event::Frame { peer, frame, raw } => {
                    self.receive(&peer, &frame, &raw)?;
                    if self.peer.as_ref() != Some(&peer) {
                        self.stash.push((peer, frame));
                        continue;
                    }
                    match frame {
                        Ok(Frame::Data(d)) if d.stream_id().get() == stream => {
                            if !d.payload().is_empty() {
                                nonempty += 1;
                            }
                            body.extend_from_slice(d.payload());
                            if d.is_fin() {
                                if b.upto.is_some_and(|n| body.len() < n) {
                                    return Err(verdict(
                                        Outcome::Fail,
                                        expected,
                                        format!("FIN after only {} bytes", body.len()),
                                    ));
                                }
                                break;
                            }
                        }
                        other => self.pass_over(&other, &expected)?,
                    }
                }
            }
        }
        check_body(b, &body, nonempty, &self.vars)
            .map_err(|(exp, got)| verdict(Outcome::Fail, exp, got))
    }
}
