package zroute

import (
	"errors"
	"time"
)

// streamKind classifies a stream id as §10.6 does.
type streamKind int

const (
	kindActive streamKind = iota
	kindClosed
	kindNeverOpened
)

func (s *session) classifyLocked(id uint32) (*stream, streamKind) {
	if st, ok := s.streams[id]; ok {
		return st, kindActive
	}
	if id > s.highest || id%2 == 0 {
		return nil, kindNeverOpened
	}
	return nil, kindClosed
}

// handleParts processes the parts of one message in order (§3.2).
func (s *session) handleParts(parts [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, part := range parts {
		if s.state == stateClosed {
			return
		}
		if len(part) == 0 {
			continue // §3.2: ignored, and no sign of life
		}
		s.lastRecv = time.Now()
		f, err := Decode(part, s.opts)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				s.sessionErrorLocked(GoAwayProtocolError, "decode", "err", err)
				return
			}
			s.onDecodeErrorLocked(de)
			continue
		}
		s.onFrameLocked(f)
	}
}

// onDecodeErrorLocked applies §4.6 and the rules after its list.
func (s *session) onDecodeErrorLocked(de *DecodeError) {
	r := de.Reaction
	if !r.Stream {
		s.sessionErrorLocked(r.GoAway, "malformed frame", "err", de.Name)
		return
	}
	id := r.StreamID
	if !de.Control {
		// DATA of step 4: counts against the session window first.
		if !s.consumeSessionWindowLocked(de.PayloadLen) {
			return
		}
		s.creditSessionLocked(int64(de.PayloadLen))
	}
	if de.Control && de.Type == TypeSynStream {
		// Stream-id checks first (§10.1), then the stream error opens and
		// closes the id at once.
		if !s.checkSynStreamIDLocked(id) {
			return
		}
		s.log.Warn("stream error", "stream", id, "status", r.Rst, "err", de.Name)
		s.sendFrameLocked(&RstStream{StreamID: id, Status: r.Rst})
		return
	}
	st, kind := s.classifyLocked(id)
	switch kind {
	case kindClosed:
		return // never RST on a closed stream
	case kindNeverOpened:
		if de.Control && de.Type == TypeWindowUpdate {
			return // §4.6: ignored on a never-opened stream
		}
	}
	s.streamErrorLocked(st, id, r.Rst, de.Name)
}

// streamErrorLocked sends RST_STREAM(id, code) and closes st if active
// (§13.1).
func (s *session) streamErrorLocked(st *stream, id uint32, code RstStatus, reason string) {
	args := []any{"stream", id, "status", code, "reason", reason}
	if st != nil && st.reqID != "" {
		args = append(args, "request_id", st.reqID)
	}
	s.log.Warn("stream error", args...)
	s.sendFrameLocked(&RstStream{StreamID: id, Status: code})
	if st != nil {
		s.closeStreamLocked(st, &StreamError{StreamID: id, Status: code})
	}
}

func (s *session) onFrameLocked(f Frame) {
	switch f := f.(type) {
	case *Data:
		s.onDataLocked(f)
	case *SynStream:
		s.onSynStreamLocked(f)
	case *SynReply:
		// Only workers answer streams (§5.2).
		st, kind := s.classifyLocked(f.StreamID)
		switch kind {
		case kindActive:
			s.streamErrorLocked(st, f.StreamID, RstProtocolError, "SYN_REPLY from the router")
		case kindNeverOpened:
			s.streamErrorLocked(nil, f.StreamID, RstInvalidStream, "SYN_REPLY on a never-opened stream")
		}
	case *Headers:
		s.onHeadersLocked(f)
	case *RstStream:
		if st, kind := s.classifyLocked(f.StreamID); kind == kindActive {
			s.log.Info("stream reset by the router", "stream", f.StreamID, "status", f.Status, "request_id", st.reqID)
			s.closeStreamLocked(st, &StreamError{StreamID: f.StreamID, Status: f.Status.Effective(), Remote: true})
		}
	case *WindowUpdate:
		s.onWindowUpdateLocked(f)
	case *Settings:
		s.onSettingsLocked(f)
	case *Ping:
		if f.ID%2 == 1 {
			s.sendFrameLocked(&Ping{ID: f.ID}) // echo promptly (§5.5)
		} else if t, ok := s.pings[f.ID]; ok {
			delete(s.pings, f.ID)
			s.log.Debug("ping round trip", "id", f.ID, "rtt", time.Since(t))
		}
	case *GoAway:
		s.onGoAwayLocked(f)
	case *Hello:
		s.sessionErrorLocked(GoAwayProtocolError, "HELLO received by a worker")
	case *Welcome:
		s.sessionErrorLocked(GoAwayProtocolError, "second WELCOME")
	case *Unknown:
		// Ignored (§5.12).
	}
}

func (s *session) onGoAwayLocked(f *GoAway) {
	st := f.Status.Effective()
	switch st {
	case GoAwayOK:
		// Router shutdown or drain (§9.8): finish the active streams, then
		// close; register again at once on a new socket.
		if !s.routerDrain {
			s.routerDrain = true
			s.log.Info("router drains the session", "active_streams", len(s.streams))
		}
		s.state = stateDraining
		s.signalReplace()
		s.maybeFinishDrainLocked()
	case GoAwayUnknownSession:
		// §9.3: abandon every stream without RST_STREAM, close, re-register.
		s.log.Warn("router does not know this session", "status", f.Status, "active_streams", len(s.streams))
		s.endLocked(nil, "UNKNOWN_SESSION")
	default:
		s.log.Error("router ended the session", "status", f.Status, "active_streams", len(s.streams))
		s.endLocked(nil, "GOAWAY "+f.Status.String())
	}
}

// consumeSessionWindowLocked counts n received DATA bytes against the
// session receive window, raising the session error of §11.5 on overrun.
func (s *session) consumeSessionWindowLocked(n int) bool {
	if int64(n) > s.recvSession {
		s.sessionErrorLocked(GoAwayFlowControlError, "DATA beyond the session receive window",
			"len", n, "window", s.recvSession)
		return false
	}
	s.recvSession -= int64(n)
	return true
}

// creditSessionLocked credits consumed bytes back to the session window,
// sending WINDOW_UPDATE(0) once half of it is consumed (§11.3).
func (s *session) creditSessionLocked(n int64) {
	if n <= 0 {
		return
	}
	s.recvPending += n
	if s.recvPending >= max(s.recvSize/2, 1) {
		delta := s.recvPending
		s.recvPending = 0
		s.recvSession += delta
		s.sendFrameLocked(&WindowUpdate{StreamID: 0, Delta: uint32(delta)})
	}
}

func (s *session) onDataLocked(f *Data) {
	n := len(f.Payload)
	if !s.consumeSessionWindowLocked(n) {
		return
	}
	st, kind := s.classifyLocked(f.StreamID)
	switch kind {
	case kindClosed:
		s.creditSessionLocked(int64(n))
		return
	case kindNeverOpened:
		s.creditSessionLocked(int64(n))
		s.streamErrorLocked(nil, f.StreamID, RstInvalidStream, "DATA on a never-opened stream")
		return
	}
	if st.remoteDone {
		s.creditSessionLocked(int64(n))
		s.streamErrorLocked(st, f.StreamID, RstStreamAlreadyClosed, "DATA after the router's FIN")
		return
	}
	if int64(n) > st.recvWindow {
		s.creditSessionLocked(int64(n))
		s.streamErrorLocked(st, f.StreamID, RstFlowControlError, "DATA beyond the stream receive window")
		return
	}
	st.recvWindow -= int64(n)
	st.reqGot += uint64(n)
	if st.reqCL >= 0 && st.reqGot > uint64(st.reqCL) {
		s.creditSessionLocked(int64(n))
		s.streamErrorLocked(st, f.StreamID, RstProtocolError, "request body longer than content-length")
		return
	}
	fin := f.Flags&FlagFin != 0
	if fin && st.reqCL >= 0 && st.reqGot != uint64(st.reqCL) {
		s.creditSessionLocked(int64(n))
		s.streamErrorLocked(st, f.StreamID, RstProtocolError, "request body shorter than content-length")
		return
	}
	st.deliverLocked(f.Payload, fin)
}

func (s *session) onHeadersLocked(f *Headers) {
	st, kind := s.classifyLocked(f.StreamID)
	switch kind {
	case kindClosed:
		return
	case kindNeverOpened:
		s.streamErrorLocked(nil, f.StreamID, RstInvalidStream, "HEADERS on a never-opened stream")
		return
	}
	switch {
	case st.remoteDone:
		s.streamErrorLocked(st, f.StreamID, RstStreamAlreadyClosed, "HEADERS after the router's FIN")
		return
	case f.Flags&FlagFin == 0:
		s.streamErrorLocked(st, f.StreamID, RstProtocolError, "HEADERS without FIN")
		return
	}
	for _, fl := range f.Header {
		if fl.Name[0] == ':' {
			s.streamErrorLocked(st, f.StreamID, RstProtocolError, "pseudo-header in trailers")
			return
		}
		if forbiddenField(fl.Name, fl.Value) {
			s.streamErrorLocked(st, f.StreamID, RstProtocolError, "hop-by-hop field in trailers: "+fl.Name)
			return
		}
	}
	if st.reqCL >= 0 && st.reqGot != uint64(st.reqCL) {
		s.streamErrorLocked(st, f.StreamID, RstProtocolError, "request body shorter than content-length")
		return
	}
	st.trailersLocked(f.Header)
}

func (s *session) onWindowUpdateLocked(f *WindowUpdate) {
	if f.StreamID == 0 {
		if s.sendSession+int64(f.Delta) > MaxWindow {
			s.sessionErrorLocked(GoAwayFlowControlError, "session send window above 2^31-1")
			return
		}
		s.sendSession += int64(f.Delta)
		s.windowGrewLocked()
		return
	}
	st, kind := s.classifyLocked(f.StreamID)
	if kind != kindActive || st.localDone {
		return // §11.3
	}
	if st.sendWindow+int64(f.Delta) > MaxWindow {
		s.streamErrorLocked(st, f.StreamID, RstFlowControlError, "stream send window above 2^31-1")
		return
	}
	st.sendWindow += int64(f.Delta)
	s.windowGrewLocked()
}

func (s *session) onSettingsLocked(f *Settings) {
	for _, e := range f.Entries {
		if e.ID != SettingInitialWindowSize {
			continue // MAX_CONCURRENT_STREAMS from the router and unknown ids (§5.4)
		}
		if e.Value > MaxWindow {
			s.sessionErrorLocked(GoAwayFlowControlError, "INITIAL_WINDOW_SIZE above 2^31-1", "value", e.Value)
			return
		}
		delta := int64(e.Value) - s.sendInitial
		s.sendInitial = int64(e.Value)
		for _, st := range s.streams {
			if st.localDone {
				continue
			}
			st.sendWindow += delta
			if st.sendWindow > MaxWindow {
				s.sessionErrorLocked(GoAwayFlowControlError, "INITIAL_WINDOW_SIZE raises a stream window above 2^31-1")
				return
			}
		}
		s.windowGrewLocked()
	}
}

// checkSynStreamIDLocked applies §10.1 to a SYN_STREAM and opens the id.
func (s *session) checkSynStreamIDLocked(id uint32) bool {
	if id%2 == 0 || id <= s.highest {
		s.sessionErrorLocked(GoAwayProtocolError, "SYN_STREAM with an even or reused stream id",
			"stream", id, "highest", s.highest)
		return false
	}
	s.highest = id
	return true
}

func (s *session) onSynStreamLocked(f *SynStream) {
	id := f.StreamID
	if !s.checkSynStreamIDLocked(id) {
		return
	}
	refuse := func(reason string) {
		s.log.Info("stream refused", "stream", id, "reason", reason)
		s.sendFrameLocked(&RstStream{StreamID: id, Status: RstRefusedStream})
	}
	switch {
	case s.goawaySent && id > s.lastGood:
		refuse("draining")
		return
	case s.routerDrain:
		refuse("router sent GOAWAY")
		return
	case uint32(len(s.streams)) >= s.capacity:
		refuse("at capacity")
		return
	case f.AssociatedID != 0:
		s.streamErrorLocked(nil, id, RstProtocolError, "associated-to-stream-id not 0")
		return
	case f.Flags&FlagUnidirectional != 0:
		s.streamErrorLocked(nil, id, RstProtocolError, "FLAG_UNIDIRECTIONAL")
		return
	}
	req, err := s.newRequest(f)
	if err != nil {
		s.streamErrorLocked(nil, id, RstProtocolError, err.Error())
		return
	}
	s.lastGood = id
	s.startStreamLocked(f, req)
}
