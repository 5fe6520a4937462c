package zroute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type sessionState int

const (
	stateHelloSent sessionState = iota
	stateEstablished
	stateDraining
	stateClosed
)

func (s sessionState) String() string {
	return [...]string{"hello-sent", "established", "draining", "closed"}[s]
}

// errSessionEnded is the cancellation cause of streams whose session ended.
var errSessionEnded = errors.New("zroute: session ended")

// errHandshake reports a failed handshake (§9.2).
var errHandshake = errors.New("zroute: handshake failed")

// errRouterShuttingDown reports a HELLO answered with GOAWAY(0, OK): the
// router is shutting down (§9.8) and is asked again soon (§9.4 rule 4).
var errRouterShuttingDown = errors.New("zroute: router shutting down")

// inMsg is one received message, or the receive error that ended the socket.
type inMsg struct {
	parts [][]byte
	err   error
}

// session is the worker side of one session on one socket (§9).
type session struct {
	w        *Worker
	conn     Conn
	endpoint string
	log      *slog.Logger
	opts     DecodeOptions

	// Set by the handshake, read-only afterwards.
	interval time.Duration
	liveness uint32

	in       chan inMsg
	out      *outQueue
	ended    chan struct{} // closed when the session ends (endLocked)
	closed   chan struct{} // closed when the socket is closed
	replace  chan struct{} // closed when the endpoint loop should register again
	drainReq chan struct{} // Worker.Shutdown asks to drain
	// goingAway is closed when the session drains: its WebSockets close
	// with 1001 (§8.8.3).
	goingAway chan struct{}
	abortReq  chan struct{} // Worker.Shutdown gave up waiting

	lastSent  atomic.Int64 // unix nanoseconds of the last completed send
	sendStart atomic.Int64 // unix nanoseconds a blocked send started, or 0
	lastRecv  time.Time    // main loop only
	sendErr   chan error

	mu          sync.Mutex
	state       sessionState
	streams     map[uint32]*stream
	highest     uint32 // H of §10.6
	lastGood    uint32 // highest stream id accepted for processing
	capacity    uint32
	helloCap    uint32 // capacity announced in HELLO
	recvInitial int64  // our per-stream receive window (HELLO)
	sendInitial int64  // the router's per-stream receive window (WELCOME, SETTINGS)
	sendSession int64  // session send window, response direction
	recvSession int64  // session receive window left, request direction
	recvSize    int64  // size the session receive window is kept at
	recvPending int64  // consumed request bytes not yet credited on stream 0
	goawaySent  bool
	routerDrain bool
	windowCh    chan struct{} // closed and replaced when a send window grows
	nextPingID  uint32
	pings       map[uint32]time.Time
	replaceOnce sync.Once
}

func newSession(w *Worker, conn Conn, endpoint string, capacity uint32) *session {
	return &session{
		w:           w,
		conn:        conn,
		endpoint:    endpoint,
		log:         w.Logger.With("worker", w.ID, "endpoint", endpoint),
		opts:        DecodeOptions{MaxPairs: w.MaxPairs},
		in:          make(chan inMsg),
		out:         newOutQueue(),
		ended:       make(chan struct{}),
		closed:      make(chan struct{}),
		replace:     make(chan struct{}),
		drainReq:    make(chan struct{}, 1),
		goingAway:   make(chan struct{}),
		abortReq:    make(chan struct{}, 1),
		sendErr:     make(chan error, 1),
		streams:     make(map[uint32]*stream),
		capacity:    capacity,
		recvInitial: int64(w.InitialWindow),
		sendSession: DefaultWindow,
		recvSession: DefaultWindow,
		recvSize:    DefaultWindow,
		windowCh:    make(chan struct{}),
		nextPingID:  2,
		pings:       make(map[uint32]time.Time),
	}
}

// hello builds the HELLO of §5.10.
func (s *session) hello() *Hello {
	attrs := Block{{Name: "id", Value: s.w.ID}}
	if len(s.w.Routes) > 0 {
		attrs = append(attrs, Field{Name: "route", Value: strings.Join(s.w.Routes, "\x00")})
	}
	if len(s.w.Features) > 0 {
		attrs = append(attrs, Field{Name: "feature", Value: strings.Join(s.w.Features, "\x00")})
	}
	labels := make([]string, 0, len(s.w.Labels))
	for k := range s.w.Labels {
		if k == "id" || k == "route" || k == "feature" || strings.HasPrefix(k, ":") || !ValidName(k) {
			continue
		}
		labels = append(labels, k)
	}
	slices.Sort(labels)
	for _, k := range labels {
		attrs = append(attrs, Field{Name: k, Value: s.w.Labels[k]})
	}
	// HELLO may not announce capacity 0 (§5.10); a worker at capacity 0
	// registers with 1 and lowers it with SETTINGS after WELCOME.
	s.mu.Lock()
	s.helloCap = max(s.capacity, 1)
	s.mu.Unlock()
	return &Hello{Version: ProtocolVersion, MaxConcurrentStreams: s.helloCap,
		InitialWindowSize: uint32(s.recvInitial), Attributes: attrs}
}

// handshake performs §9.2 steps 3 to 5 on the connected socket. On success
// the session is established and the remaining parts of WELCOME's message
// have been processed.
func (s *session) handshake(ctx context.Context) error {
	go s.readLoop()
	go s.writeLoop()
	hello := s.hello()
	if e := ValidateBlock(hello.Attributes); e != "" {
		s.log.Error("invalid HELLO attributes; check the worker id, routes and labels", "err", e)
	}
	part, err := Encode(hello)
	if err != nil {
		s.mu.Lock()
		s.endLocked(nil, "HELLO too large")
		s.mu.Unlock()
		return fmt.Errorf("%w: %v", errHandshake, err)
	}
	s.out.push(outItem{part: part, alone: true})
	timer := time.NewTimer(s.w.HandshakeTimeout)
	defer timer.Stop()
	fail := func(reason string, goaway *GoAway, args ...any) error {
		s.log.Warn("handshake failed: "+reason, args...)
		s.mu.Lock()
		s.endLocked(goaway, "handshake failed")
		s.mu.Unlock()
		<-s.closed
		return errHandshake
	}
	for {
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errLeftAnswer) {
				return fail("the router endpoint left the DNS answer", nil)
			}
			return fail("worker shutting down", nil)
		case <-timer.C:
			return fail("no WELCOME within the handshake timeout", nil, "timeout", s.w.HandshakeTimeout)
		case err := <-s.sendErr:
			return fail("send failed", nil, "err", err)
		case m := <-s.in:
			if m.err != nil {
				return fail("connection lost", nil, "err", m.err)
			}
			for i, part := range m.parts {
				if len(part) == 0 {
					continue // §3.2
				}
				f, err := Decode(part, s.opts)
				if err != nil {
					var de *DecodeError
					if errors.As(err, &de) && de.HeaderOK && de.Control && de.Type == TypeWelcome {
						return fail("malformed WELCOME", &GoAway{Status: GoAwayProtocolError}, "err", de.Name)
					}
					return fail("undecodable frame instead of WELCOME", nil, "err", err)
				}
				switch f := f.(type) {
				case *Welcome:
					if reason := validWelcome(f); reason != "" {
						return fail("invalid WELCOME: "+reason, &GoAway{Status: GoAwayProtocolError})
					}
					s.establish(f)
					s.lastRecv = time.Now()
					rest := m.parts[i+1:]
					if len(rest) > 0 {
						s.handleParts(rest)
					}
					return nil
				case *GoAway:
					st := f.Status
					if st == GoAwayOK {
						s.log.Info("router is shutting down: registration refused")
						s.mu.Lock()
						s.endLocked(nil, "router shutting down")
						s.mu.Unlock()
						<-s.closed
						return errRouterShuttingDown
					}
					if st == GoAwayUnsupportedVersion || st == GoAwayRefused {
						return fail("router refused the registration", nil, "status", st)
					}
					return fail("GOAWAY in answer to HELLO", nil, "status", st)
				default:
					return fail("unexpected frame instead of WELCOME", nil, "frame", frameString(f))
				}
			}
		}
	}
}

// validWelcome applies the worker-side checks of §9.2.
func validWelcome(f *Welcome) string {
	switch {
	case f.Version != ProtocolVersion:
		return fmt.Sprintf("protocol version %d", f.Version)
	case f.HeartbeatIntervalMs == 0:
		return "heartbeat interval 0"
	case f.HeartbeatLiveness == 0:
		return "heartbeat liveness 0"
	case f.InitialWindowSize == 0:
		return "initial window size 0"
	}
	return ""
}

func (s *session) establish(f *Welcome) {
	s.interval = time.Duration(f.HeartbeatIntervalMs) * time.Millisecond
	s.liveness = f.HeartbeatLiveness
	var attrs []any
	if v, ok := f.Attributes.Get("router"); ok {
		attrs = append(attrs, "router", v)
	}
	if v, ok := f.Attributes.Get("session"); ok {
		attrs = append(attrs, "session", v)
	}
	s.log = s.log.With(attrs...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = stateEstablished
	s.sendInitial = int64(f.InitialWindowSize)
	s.log.Info("registered", "interval", s.interval, "liveness", s.liveness,
		"router_window", f.InitialWindowSize, "capacity", s.capacity)
	if s.w.SessionWindow > DefaultWindow {
		delta := int64(s.w.SessionWindow) - DefaultWindow
		s.recvSize = int64(s.w.SessionWindow)
		s.recvSession += delta
		s.sendFrameLocked(&WindowUpdate{StreamID: 0, Delta: uint32(delta)})
	}
	if s.capacity != s.helloCap {
		// Capacity 0 (which HELLO cannot carry), or changed meanwhile.
		s.sendFrameLocked(&Settings{Entries: []SettingsEntry{{ID: SettingMaxConcurrentStreams, Value: s.capacity}}})
	}
}

// serve runs the established session until it ends.
func (s *session) serve() {
	timer := time.NewTimer(s.interval)
	defer timer.Stop()
	for {
		select {
		case <-s.ended:
			return
		case m := <-s.in:
			if m.err != nil {
				s.dead("connection lost", "err", m.err)
				continue
			}
			s.handleParts(m.parts)
		case err := <-s.sendErr:
			s.dead("send failed", "err", err)
		case <-timer.C:
			s.heartbeat(timer)
		case <-s.drainReq:
			s.mu.Lock()
			s.drainLocked()
			s.mu.Unlock()
		case <-s.abortReq:
			s.mu.Lock()
			if s.state != stateClosed {
				// §9.7: streams still active are left to the router to
				// retry or fail, as for a dead session.
				status := GoAwayInternalError
				if len(s.streams) == 0 {
					status = GoAwayOK
				} else {
					s.log.Warn("ending the session with active streams", "active_streams", len(s.streams))
				}
				s.endLocked(&GoAway{LastGoodStreamID: s.lastGood, Status: status}, "closed by the worker")
			}
			s.mu.Unlock()
		}
	}
}

// heartbeat implements §9.5 and the send watchdog of §3.4, then re-arms t.
func (s *session) heartbeat(t *time.Timer) {
	now := time.Now()
	dead := s.interval * time.Duration(s.liveness)
	if s.liveness != 0 && dead/time.Duration(s.liveness) != s.interval {
		dead = time.Duration(1<<63 - 1) // overflow: never
	}
	if now.Sub(s.lastRecv) >= dead {
		s.dead("heartbeat expired", "silence", now.Sub(s.lastRecv).Round(time.Millisecond))
		return
	}
	if st := s.sendStart.Load(); st != 0 && now.Sub(time.Unix(0, st)) >= s.interval {
		s.dead("send blocked for one heartbeat interval")
		return
	}
	last := time.Unix(0, s.lastSent.Load())
	if now.Sub(last) >= s.interval {
		s.mu.Lock()
		if s.state == stateEstablished || s.state == stateDraining {
			id := s.nextPingID
			s.nextPingID += 2
			if len(s.pings) > 64 {
				clear(s.pings)
			}
			s.pings[id] = now
			s.sendFrameLocked(&Ping{ID: id})
		}
		s.mu.Unlock()
		// The PING is sent almost at once; do not spin until it is.
		last = now
	}
	wait := min(time.Until(s.lastRecv.Add(dead)), time.Until(last.Add(s.interval)))
	if st := s.sendStart.Load(); st != 0 {
		wait = min(wait, time.Until(time.Unix(0, st).Add(s.interval)))
	}
	t.Reset(max(wait, time.Millisecond))
}

// dead handles a dead session (§9.6): cancel every stream, close the socket
// and re-register.
func (s *session) dead(reason string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed {
		return
	}
	s.log.Warn("session dead: "+reason, append(args, "active_streams", len(s.streams))...)
	s.endLocked(nil, reason)
}

// sessionErrorLocked reports a session error (§9.10, §13.1).
func (s *session) sessionErrorLocked(status GoAwayStatus, reason string, args ...any) {
	if s.state == stateClosed {
		return
	}
	s.log.Error("session error: "+reason, append(args, "status", status, "last_good", s.lastGood)...)
	s.endLocked(&GoAway{LastGoodStreamID: s.lastGood, Status: status}, "session error")
}

// endLocked ends the session: it sends goaway if not nil, cancels every
// stream, and closes the socket once the queue is flushed. It may be called
// from any goroutine that holds s.mu.
func (s *session) endLocked(goaway *GoAway, reason string) {
	if s.state == stateClosed {
		return
	}
	if goaway != nil {
		s.sendFrameLocked(goaway)
	}
	s.state = stateClosed
	for id, st := range s.streams {
		delete(s.streams, id)
		st.abandonLocked(errSessionEnded)
	}
	s.out.push(outItem{close: true})
	close(s.ended)
	s.signalReplace()
	// The socket is closed by the writer after the final frames; if a send
	// is blocked on a dead router, close it after a bounded linger (§3.3).
	go func() {
		linger := max(s.interval, 100*time.Millisecond)
		t := time.NewTimer(linger)
		defer t.Stop()
		select {
		case <-s.closed:
		case <-t.C:
			s.conn.Close()
		}
	}()
	s.log.Debug("session ended", "reason", reason)
}

func (s *session) signalReplace() {
	s.replaceOnce.Do(func() { close(s.replace) })
}

// drain asks the session to drain (Worker.Shutdown).
func (s *session) drain() {
	select {
	case s.drainReq <- struct{}{}:
	default:
	}
	// A session still in its handshake is aborted by the endpoint loop's
	// context; one that never reached serve is closed by the handshake.
}

// abort asks the session to end now (Shutdown's context expired).
func (s *session) abort() {
	select {
	case s.abortReq <- struct{}{}:
	default:
	}
}

// drainLocked starts a worker drain (§9.7).
func (s *session) drainLocked() {
	if s.state != stateEstablished && s.state != stateDraining {
		return
	}
	if !s.goawaySent {
		s.goawaySent = true
		close(s.goingAway)
		s.sendFrameLocked(&GoAway{LastGoodStreamID: s.lastGood, Status: GoAwayOK})
		s.log.Info("draining", "last_good", s.lastGood, "active_streams", len(s.streams))
	}
	s.state = stateDraining
	s.maybeFinishDrainLocked()
}

// maybeFinishDrainLocked closes a draining session without active streams
// (§9.7, §9.8).
func (s *session) maybeFinishDrainLocked() {
	if s.state == stateDraining && len(s.streams) == 0 {
		s.log.Info("drained: closing the socket")
		s.endLocked(nil, "drained")
	}
}

// setCapacity announces a new capacity with SETTINGS (§11.6).
func (s *session) setCapacity(n uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.capacity = n
	if s.state == stateEstablished || s.state == stateDraining {
		s.sendFrameLocked(&Settings{Entries: []SettingsEntry{{ID: SettingMaxConcurrentStreams, Value: n}}})
	}
}

// sendFrameLocked encodes and queues a frame. Frames queued while the
// session is closed are dropped.
func (s *session) sendFrameLocked(f Frame) {
	if s.state == stateClosed {
		return
	}
	part, err := Encode(f)
	if err != nil {
		s.log.Error("cannot encode frame", "frame", frameString(f), "err", err)
		return
	}
	s.out.push(outItem{part: part})
}

// readLoop feeds received messages to the session.
func (s *session) readLoop() {
	for {
		parts, err := s.conn.Recv()
		select {
		case s.in <- inMsg{parts: parts, err: err}:
		case <-s.ended:
			return
		}
		if err != nil {
			return
		}
	}
}

// writeLoop sends queued frames in order, batching consecutive frames into
// one message (§3.2), and closes the socket after the close marker.
func (s *session) writeLoop() {
	defer close(s.closed)
	defer s.conn.Close()
	for {
		parts, closeAfter := s.out.batch(64, 256*1024)
		if len(parts) > 0 {
			s.sendStart.Store(time.Now().UnixNano())
			err := s.conn.Send(parts)
			s.sendStart.Store(0)
			if err != nil {
				select {
				case s.sendErr <- err:
				default:
				}
				return
			}
			s.lastSent.Store(time.Now().UnixNano())
		}
		if closeAfter {
			return
		}
		if len(parts) == 0 {
			select {
			case <-s.out.notify:
			case <-s.ended:
				// Flush what endLocked queued before its marker.
				select {
				case <-s.out.notify:
				default:
				}
			}
		}
	}
}

// windowGrewLocked wakes every sender waiting for window.
func (s *session) windowGrewLocked() {
	close(s.windowCh)
	s.windowCh = make(chan struct{})
}
