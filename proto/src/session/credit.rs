//! Flow control at the session's level ([spec](../../../spec/PROTOCOL.md#flow-control)):
//! the peer's WINDOW_UPDATE and SETTINGS, which open our send windows, and
//! the credit we give back for what the application consumed. The window
//! arithmetic itself is in `flow`.

use super::{Event, Role, Session};
use crate::frame::{MAX_WINDOW, Settings, WindowUpdate};
use crate::{FrameType, GoAwayStatus, RstCode, SettingId, StreamId};

impl Session {
    /// Tells the session the application consumed `len` bytes of `id`'s body,
    /// so the peer may send more. Bytes of finished streams are credited back
    /// when the stream ends, so late calls for them are ignored.
    pub fn release_capacity(&mut self, id: StreamId, len: usize) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        let len = len.min(stream.recv_pending);
        stream.recv_pending -= len;
        if let Some(delta) = stream.recv.release(len).filter(|_| !stream.remote_fin) {
            self.queue(WindowUpdate::new(id, delta));
        }
        self.release_session(len);
    }

    pub(super) fn on_window_update(&mut self, f: &WindowUpdate) {
        let id = f.stream_id();
        if id.is_zero() {
            if !self.session_send.grant(f.delta()) {
                return self.session_error(
                    GoAwayStatus::FLOW_CONTROL_ERROR,
                    WINDOW_UPDATE,
                    "WINDOW_UPDATE raising the session send window above 2^31-1 (spec #error-table row 57)",
                );
            }
        } else if let Some(stream) = self.streams.get_mut(&id).filter(|s| !s.local_fin) {
            if !stream.send.grant(f.delta()) {
                return self.stream_error(
                    id,
                    RstCode::FLOW_CONTROL_ERROR,
                    WINDOW_UPDATE,
                    "WINDOW_UPDATE raising a stream send window above 2^31-1 (spec #error-table row 56)",
                );
            }
        } else {
            // Updates race with the stream's end, or come after our FIN: ignore them.
            return;
        }
        self.events.push_back(Event::WindowOpened { id });
    }

    pub(super) fn on_settings(&mut self, f: &Settings) {
        for entry in f.entries() {
            match entry.id {
                SettingId::INITIAL_WINDOW_SIZE => {
                    if entry.value > MAX_WINDOW {
                        return self.session_error(
                            GoAwayStatus::FLOW_CONTROL_ERROR,
                            SETTINGS,
                            "SETTINGS INITIAL_WINDOW_SIZE above 2^31-1 (spec #error-table row 59)",
                        );
                    }
                    let shift = i64::from(entry.value) - i64::from(self.peer_initial_window);
                    self.peer_initial_window = entry.value;
                    // Spec #flow-control-settings: pushing any stream past 2^31-1 is a session error.
                    if !self.streams.values_mut().all(|s| s.send.shift(shift)) {
                        return self.session_error(
                            GoAwayStatus::FLOW_CONTROL_ERROR,
                            SETTINGS,
                            "SETTINGS raising a stream send window above 2^31-1 (spec #error-table row 59)",
                        );
                    }
                    if shift > 0 {
                        self.events
                            .push_back(Event::WindowOpened { id: StreamId::ZERO });
                    }
                }
                SettingId::MAX_CONCURRENT_STREAMS if self.role == Role::Router => {
                    self.capacity = entry.value;
                    self.events.push_back(Event::CapacityChanged {
                        capacity: entry.value,
                    });
                }
                // Spec: every other id, and MAX_CONCURRENT_STREAMS from the router, is ignored.
                _ => {}
            }
        }
    }

    pub(super) fn grow_session_window(&mut self) {
        if let Some(delta) = self.session_recv.grow_to(self.session_window_target) {
            self.queue(WindowUpdate::new(StreamId::ZERO, delta));
        }
    }

    pub(super) fn release_session(&mut self, len: usize) {
        if let Some(delta) = self.session_recv.release(len) {
            self.queue(WindowUpdate::new(StreamId::ZERO, delta));
        }
    }
}

const WINDOW_UPDATE: Option<FrameType> = Some(FrameType::WINDOW_UPDATE);
const SETTINGS: Option<FrameType> = Some(FrameType::SETTINGS);
