//! SETTINGS: runtime changes of capacity and initial window ([spec](../../spec/PROTOCOL.md#frame-settings)).
//!
//! ```text
//! +----------------------------------+
//! |1|   version    |         4       |
//! +----------------------------------+
//! | Flags (8)  |  Length (24 bits)   |
//! +----------------------------------+
//! |         Number of entries        |
//! +----------------------------------+
//! |    ID/Value Pairs                |
//! |   +------------------------------+
//! |   |Flags(8)|      ID (24 bits)   |
//! |   +------------------------------+
//! |   |          Value (32 bits)     |
//! |   +------------------------------+
//! ```
//!
//! zroute keeps nothing across sessions, so the CLEAR_SETTINGS, PERSIST_VALUE
//! and PERSISTED flags are carried but never acted on.

use bytes::{BufMut, Bytes};

use super::head::{be_u32, encode_control};
use super::{Error, ErrorKind};
use crate::codes::{FrameType, SettingId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    pub flags: u8,
    pub id: SettingId,
    pub value: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    flags: u8,
    entries: Vec<Setting>,
}

impl Settings {
    pub const FLAG_CLEAR_SETTINGS: u8 = 0x01;

    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an entry; receivers apply entries in order, so a later duplicate wins.
    pub fn push(&mut self, id: SettingId, value: u32) -> &mut Self {
        self.entries.push(Setting {
            flags: 0,
            id,
            value,
        });
        self
    }

    pub fn push_entry(&mut self, entry: Setting) -> &mut Self {
        self.entries.push(entry);
        self
    }

    pub fn entries(&self) -> &[Setting] {
        &self.entries
    }

    /// The value that wins for `id`: the last one in the frame.
    pub fn get(&self, id: SettingId) -> Option<u32> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.id == id)
            .map(|e| e.value)
    }

    pub(super) fn load(flags: u8, payload: Bytes) -> Result<Self, Error> {
        if payload.len() < 4 {
            return Err(Error::new(ErrorKind::BadPayloadSize));
        }
        let count = be_u32(&payload, 0) as usize;
        if count.checked_mul(8).and_then(|n| n.checked_add(4)) != Some(payload.len()) {
            return Err(Error::new(ErrorKind::BadPayloadSize));
        }
        let entries = payload[4..]
            .chunks_exact(8)
            .map(|e| Setting {
                flags: e[0],
                id: SettingId::from_wire(u32::from_be_bytes([0, e[1], e[2], e[3]])),
                value: be_u32(e, 4),
            })
            .collect();
        Ok(Self { flags, entries })
    }

    pub(super) fn payload_len(&self) -> usize {
        4 + 8 * self.entries.len()
    }

    pub(super) fn encode(&self, dst: &mut impl BufMut) {
        encode_control(FrameType::SETTINGS, self.flags, self.payload_len(), dst);
        dst.put_u32(self.entries.len() as u32);
        for e in &self.entries {
            dst.put_u32(((e.flags as u32) << 24) | (e.id.to_wire() & 0x00ff_ffff));
            dst.put_u32(e.value);
        }
    }
}

super::flags_field!(Settings);
