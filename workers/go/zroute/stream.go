package zroute

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// StreamError is the cancellation cause of a request context whose stream
// was reset, and the error returned by the request body and the
// ResponseWriter afterwards.
type StreamError struct {
	StreamID uint32
	Status   RstStatus
	// Remote is true when the router reset the stream.
	Remote bool
}

func (e *StreamError) Error() string {
	who := "worker"
	if e.Remote {
		who = "router"
	}
	return fmt.Sprintf("zroute: stream %d reset by the %s (%s)", e.StreamID, who, e.Status)
}

// errBodyClosed is returned by reads after the handler closed the body.
var errBodyClosed = errors.New("zroute: read on closed request body")

// stream is one request/response exchange (§10). Fields after mu-guarded
// are guarded by the session lock.
type stream struct {
	s      *session
	id     uint32
	ctx    context.Context
	cancel context.CancelCauseFunc
	isHead bool
	reqID  string // x-request-id, for logs (§8.5)
	// websocket: a :protocol websocket stream, which 101 may accept (§8.8).
	websocket bool

	// Request direction (router to worker).
	remoteDone  bool  // the router's FIN arrived
	recvWindow  int64 // stream receive window left
	recvPending int64 // consumed bytes not yet credited on this stream
	chunks      [][]byte
	buffered    int
	reqCL       int64 // content-length, or -1
	reqGot      uint64
	trailer     http.Header
	discard     bool // the handler is done with the body: consume on arrival
	readCh      chan struct{}

	// Response direction.
	localDone  bool // FIN sent
	replied    bool // SYN_REPLY sent
	sendWindow int64

	closed bool
	err    error // why the stream closed abnormally
}

// startStreamLocked registers an accepted stream and starts its handler.
func (s *session) startStreamLocked(f *SynStream, req *http.Request) {
	parent := context.Background()
	if s.w.BaseContext != nil {
		parent = s.w.BaseContext()
	}
	ctx, cancel := context.WithCancelCause(parent)
	st := &stream{
		s:          s,
		id:         f.StreamID,
		ctx:        ctx,
		cancel:     cancel,
		isHead:     req.Method == http.MethodHead,
		reqID:      req.Header.Get("X-Request-Id"),
		recvWindow: s.recvInitial,
		reqCL:      -1,
		trailer:    req.Trailer,
		readCh:     make(chan struct{}, 1),
		sendWindow: s.sendInitial,
	}
	if v, ok := f.Header.Get("content-length"); ok {
		st.reqCL, _ = parseContentLength(v) // validated by newRequest
	}
	_, st.websocket = f.Header.Get(":protocol") // validated by newRequest
	if f.Flags&FlagFin != 0 {
		st.remoteDone = true
	}
	s.streams[st.id] = st
	req = req.WithContext(context.WithValue(ctx, streamInfoKey{}, requestInfo(req, f)))
	if st.remoteDone {
		req.Body = http.NoBody
	} else {
		req.Body = &requestBody{st: st}
	}
	s.w.handlers.Add(1)
	go st.serve(req)
}

// deliverLocked queues request body bytes for the handler.
func (st *stream) deliverLocked(p []byte, fin bool) {
	if fin {
		st.remoteDone = true
	}
	if len(p) > 0 {
		if st.discard {
			st.consumedLocked(len(p))
		} else {
			st.chunks = append(st.chunks, p)
			st.buffered += len(p)
		}
	}
	st.wake()
	if st.remoteDone && st.localDone {
		st.s.closeStreamLocked(st, nil)
	}
}

// trailersLocked records the request trailers, which end the request.
func (st *stream) trailersLocked(b Block) {
	if st.trailer != nil {
		for _, f := range b {
			key := http.CanonicalHeaderKey(f.Name)
			st.trailer[key] = splitValues(f.Value)
		}
	}
	st.deliverLocked(nil, true)
}

func (st *stream) wake() {
	select {
	case st.readCh <- struct{}{}:
	default:
	}
}

// consumedLocked credits n request bytes that the handler consumed or that
// were discarded (§11.3).
func (st *stream) consumedLocked(n int) {
	s := st.s
	s.creditSessionLocked(int64(n))
	if st.remoteDone || st.closed {
		return // no stream WINDOW_UPDATE once no more DATA can arrive (§10.2)
	}
	st.recvPending += int64(n)
	if st.recvPending >= max(s.recvInitial/2, 1) {
		delta := st.recvPending
		st.recvPending = 0
		st.recvWindow += delta
		s.sendFrameLocked(&WindowUpdate{StreamID: st.id, Delta: uint32(delta)})
	}
}

// dropBufferLocked treats buffered request bytes as consumed.
func (st *stream) dropBufferLocked() {
	if st.buffered > 0 {
		n := st.buffered
		st.chunks, st.buffered = nil, 0
		st.consumedLocked(n)
	}
}

// closeStreamLocked closes an active stream. err is nil when both
// directions ended normally.
func (s *session) closeStreamLocked(st *stream, err error) {
	if st.closed {
		return
	}
	if err != nil {
		st.err = err
		// Buffered data of a reset stream is consumed at once (§11.1).
		st.dropBufferLocked()
	}
	st.closed = true
	delete(s.streams, st.id)
	st.wake()
	if err != nil {
		st.cancel(err)
	}
	s.windowGrewLocked() // wake a sender blocked on this stream
	s.maybeFinishDrainLocked()
}

// abandonLocked drops a stream of an ended session (no frames are sent).
func (st *stream) abandonLocked(cause error) {
	st.closed = true
	st.err = cause
	st.chunks, st.buffered = nil, 0
	st.wake()
	st.cancel(cause)
}

// localDoneLocked records that the response ended with FIN.
func (st *stream) localDoneLocked() {
	st.localDone = true
	if st.remoteDone {
		st.s.closeStreamLocked(st, nil)
	}
}

// handlerDone is called when the handler returned: unread request bytes
// are discarded from now on, but credit keeps flowing until the router's
// FIN (§10.4).
func (st *stream) handlerDone() {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	st.discard = true
	st.dropBufferLocked()
	if !st.closed && st.localDone && st.remoteDone {
		s.closeStreamLocked(st, nil)
	}
}

// requestBody is the http.Request.Body of a stream with a request body.
type requestBody struct {
	st     *stream
	closed bool
}

func (b *requestBody) Read(p []byte) (int, error) {
	st := b.st
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case b.closed:
			return 0, errBodyClosed
		case st.buffered > 0:
			if len(p) == 0 {
				return 0, nil
			}
			n := 0
			for n < len(p) && len(st.chunks) > 0 {
				c := copy(p[n:], st.chunks[0])
				n += c
				if c == len(st.chunks[0]) {
					st.chunks = st.chunks[1:]
				} else {
					st.chunks[0] = st.chunks[0][c:]
				}
			}
			st.buffered -= n
			if !st.closed {
				st.consumedLocked(n)
			}
			return n, nil
		case st.err != nil:
			return 0, st.err
		case st.remoteDone:
			return 0, io.EOF
		case st.closed:
			return 0, io.ErrUnexpectedEOF
		}
		s.mu.Unlock()
		select {
		case <-st.readCh:
		case <-st.ctx.Done():
		}
		s.mu.Lock()
	}
}

func (b *requestBody) Close() error {
	st := b.st
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if !b.closed {
		b.closed = true
		st.discard = true
		st.dropBufferLocked()
	}
	return nil
}

// sendData sends p as DATA frames under flow control (§11.2), with FIN on
// the last frame if fin. If exact, p is sent as one frame when the router's
// stream window can ever hold it (Appendix A.6).
func (st *stream) sendData(p []byte, fin, exact bool) error {
	s := st.s
	maxFrame := s.w.MaxFrameSize
	s.mu.Lock()
	defer s.mu.Unlock()
	if exact && len(p) > 0 {
		maxFrame = len(p)
	}
	for {
		if st.closed || s.state == stateClosed {
			return st.errLocked()
		}
		if len(p) == 0 {
			if fin {
				s.sendFrameLocked(&Data{Flags: FlagFin, StreamID: st.id})
				st.localDoneLocked()
			}
			return nil
		}
		avail := min(st.sendWindow, s.sendSession)
		want := int64(min(len(p), maxFrame))
		if exact && want > s.sendInitial {
			// The window can never hold the whole frame: fall back to
			// frames of at most the window's size (Appendix A.6).
			exact = false
			maxFrame = s.w.MaxFrameSize
			want = int64(min(len(p), maxFrame))
		}
		if avail > 0 && (avail >= want || !exact) {
			n := int(min(avail, want))
			flags := uint8(0)
			if fin && n == len(p) {
				flags = FlagFin
			}
			s.sendFrameLocked(&Data{Flags: flags, StreamID: st.id, Payload: p[:n]})
			st.sendWindow -= int64(n)
			s.sendSession -= int64(n)
			p = p[n:]
			if flags&FlagFin != 0 {
				st.localDoneLocked()
				return nil
			}
			continue
		}
		ch := s.windowCh
		s.mu.Unlock()
		select {
		case <-ch:
		case <-st.ctx.Done():
		}
		s.mu.Lock()
	}
}

func (st *stream) errLocked() error {
	if st.err != nil {
		return st.err
	}
	return errSessionEnded
}

// sendFrame sends a non-DATA frame of the stream, unless it is closed.
func (st *stream) sendFrame(f Frame, fin bool) error {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.closed || s.state == stateClosed {
		return st.errLocked()
	}
	if _, ok := f.(*SynReply); ok {
		st.replied = true
	}
	s.sendFrameLocked(f)
	if fin {
		st.localDoneLocked()
	}
	return nil
}

// reset sends RST_STREAM(code) for an active stream (handler failure).
func (st *stream) reset(code RstStatus, reason string) {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.closed || s.state == stateClosed {
		return
	}
	s.streamErrorLocked(st, st.id, code, reason)
}
