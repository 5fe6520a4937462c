//! One vector, a group of them (one file), and the check that the codec
//! agrees with each.

use bytes::Bytes;
use zroute_proto::Frame;
use zroute_proto::codes::GoAwayStatus;
use zroute_proto::frame::Reaction;

use super::json::{Json, frame_to_json, hex, reaction_to_json};

pub(super) struct Vector {
    pub(super) id: String,
    pub(super) comment: String,
    pub(super) section: &'static str,
    pub(super) bytes: Vec<u8>,
    pub(super) expect: Expect,
}

pub(super) enum Expect {
    /// `canonical` is false when encoding the frame gives other bytes
    /// (reserved bits the decoder drops).
    Valid { frame: Frame, canonical: bool },
    Invalid {
        error: &'static str,
        reaction: Reaction,
    },
}

impl Vector {
    pub(super) fn section(&mut self, section: &'static str) -> &mut Self {
        self.section = section;
        self
    }

    pub(super) fn check(&self) -> Result<(), String> {
        let decoded = Frame::decode(Bytes::copy_from_slice(&self.bytes));
        match (&self.expect, decoded) {
            (Expect::Valid { frame, canonical }, Ok(got)) => {
                if got != *frame {
                    return Err(format!("decodes to {got:?}, expected {frame:?}"));
                }
                let same = frame.to_bytes() == self.bytes;
                if same != *canonical {
                    return Err(format!(
                        "canonical is {canonical} but re-encoding gives same={same}"
                    ));
                }
                Ok(())
            }
            (Expect::Valid { .. }, Err(e)) => Err(format!("expected valid, decode fails with {e}")),
            (Expect::Invalid { error, .. }, Ok(got)) => {
                Err(format!("expected {error}, decodes to {got:?}"))
            }
            (Expect::Invalid { error, reaction }, Err(e)) => {
                if e.name() != *error || e.reaction() != *reaction {
                    return Err(format!(
                        "expected {error} / {reaction:?}, codec says {} / {:?}",
                        e.name(),
                        e.reaction()
                    ));
                }
                Ok(())
            }
        }
    }

    pub(super) fn to_json(&self) -> Json {
        let mut o = vec![
            ("id", Json::str(&self.id)),
            ("comment", Json::str(&self.comment)),
            ("section", Json::str(self.section)),
            ("hex", Json::Str(hex(&self.bytes))),
        ];
        match &self.expect {
            Expect::Valid { frame, canonical } => {
                o.push(("result", Json::str("valid")));
                o.push(("frame", frame_to_json(frame)));
                if !canonical {
                    o.push(("canonical", Json::Bool(false)));
                }
            }
            Expect::Invalid { error, reaction } => {
                let (reaction, stream_id) = reaction_to_json(*reaction);
                o.push(("result", Json::str("invalid")));
                o.push(("error", Json::str(*error)));
                o.push(("reaction", Json::Str(reaction)));
                if let Some(id) = stream_id {
                    o.push(("streamId", Json::Num(id.into())));
                }
            }
        }
        Json::Obj(o)
    }
}

pub(super) struct Group {
    /// File stem; the id prefix is the same with `-` for `_`.
    pub(super) file: &'static str,
    pub(super) section: &'static str,
    pub(super) vectors: Vec<Vector>,
}

impl Group {
    pub(super) fn new(file: &'static str, section: &'static str) -> Self {
        Self {
            file,
            section,
            vectors: Vec::new(),
        }
    }

    pub(super) fn push(
        &mut self,
        name: &str,
        comment: &str,
        bytes: Vec<u8>,
        expect: Expect,
    ) -> &mut Vector {
        self.vectors.push(Vector {
            id: format!("{}/{name}", self.file.replace('_', "-")),
            comment: comment.to_owned(),
            section: self.section,
            bytes,
            expect,
        });
        self.vectors.last_mut().unwrap()
    }

    /// A frame as our encoder writes it.
    pub(super) fn valid(
        &mut self,
        name: &str,
        comment: &str,
        frame: impl Into<Frame>,
    ) -> &mut Vector {
        let frame = frame.into();
        let bytes = frame.to_bytes().to_vec();
        let expect = Expect::Valid {
            frame,
            canonical: true,
        };
        self.push(name, comment, bytes, expect)
    }

    /// Hand-made bytes that decode to `frame` but are not what we would send.
    pub(super) fn lenient(
        &mut self,
        name: &str,
        comment: &str,
        bytes: Vec<u8>,
        frame: impl Into<Frame>,
    ) -> &mut Vector {
        let expect = Expect::Valid {
            frame: frame.into(),
            canonical: false,
        };
        self.push(name, comment, bytes, expect)
    }

    /// A fixed-size control payload at each wrong size: every one is the
    /// same session error (spec #frame-header). `frame(len)` builds the
    /// frame; `sizes` holds the vector name, the length and how the comment
    /// names it.
    pub(super) fn wrong_sizes(
        &mut self,
        type_name: &str,
        exact: usize,
        frame: impl Fn(usize) -> Vec<u8>,
        sizes: &[(&str, usize, &str)],
    ) {
        for &(name, len, why) in sizes {
            self.invalid(
                name,
                &format!(
                    "{type_name}'s payload is exactly {exact} bytes; {why} is a session error."
                ),
                frame(len),
                "bad-payload-size",
                Reaction::Session(GoAwayStatus::PROTOCOL_ERROR),
            );
        }
    }

    pub(super) fn invalid(
        &mut self,
        name: &str,
        comment: &str,
        bytes: Vec<u8>,
        error: &'static str,
        reaction: Reaction,
    ) -> &mut Vector {
        self.push(name, comment, bytes, Expect::Invalid { error, reaction })
    }
}
