// Package fakerouter is a tiny zroute router for tests, written from
// spec/PROTOCOL.md: a ZeroMQ ROUTER socket on loopback that decodes every
// part it receives into frames, lets a test script the router's side of a
// session, and waits for events with deadlines (no sleeps).
package fakerouter

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"zroute.example/worker/zroute"
)

// Timeout bounds every wait.
const Timeout = 10 * time.Second

// Received is one part received from a worker socket.
type Received struct {
	Peer  string       // routing id of the worker socket
	Frame zroute.Frame // nil if the part failed to decode
	Err   error
	Parts int // number of parts of the message it came in
	At    time.Time
}

// Router is the test router.
type Router struct {
	t        testing.TB
	sock     zmq4.Socket
	Endpoint string

	frames chan Received

	mu       sync.Mutex
	autoPong bool       // echo the worker's PINGs (and hide them from tests)
	pending  []Received // frames of other peers, kept for later waits
}

// New starts a router on a free loopback port; it stops at test cleanup.
func New(t testing.TB) *Router {
	t.Helper()
	r, err := Listen(t, "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return r
}

// Listen starts a router bound to endpoint (port 0 picks a free one); it
// stops at test cleanup.
func Listen(t testing.TB, endpoint string) (*Router, error) {
	sock := zmq4.NewRouter(context.Background())
	if err := sock.Listen(endpoint); err != nil {
		sock.Close()
		return nil, err
	}
	r := &Router{
		t:        t,
		sock:     sock,
		Endpoint: "tcp://" + sock.Addr().(*net.TCPAddr).String(),
		frames:   make(chan Received, 4096),
		autoPong: true,
	}
	go r.recvLoop()
	t.Cleanup(func() { sock.Close() })
	return r, nil
}

// Received returns, without waiting, the parts received so far from peer
// ("" for any) that no wait has taken yet, and removes them.
func (r *Router) Received(peer string) []Received {
	var got []Received
	for {
		select {
		case m := <-r.frames:
			r.mu.Lock()
			r.pending = append(r.pending, m)
			r.mu.Unlock()
			continue
		default:
		}
		break
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.pending[:0]
	for _, m := range r.pending {
		if peer == "" || m.Peer == peer {
			got = append(got, m)
		} else {
			kept = append(kept, m)
		}
	}
	r.pending = kept
	return got
}

// SetAutoPong chooses whether the router echoes the worker's PINGs by
// itself (the default) or hands them to the test like any frame.
func (r *Router) SetAutoPong(on bool) {
	r.mu.Lock()
	r.autoPong = on
	r.mu.Unlock()
}

func (r *Router) recvLoop() {
	for {
		msg, err := r.sock.Recv()
		if err != nil {
			return
		}
		if msg.Type == zmq4.CmdMsg || len(msg.Frames) < 1 {
			continue
		}
		peer := string(msg.Frames[0])
		parts := msg.Frames[1:]

		for _, p := range parts {
			if len(p) == 0 {
				continue
			}
			f, err := zroute.Decode(p, zroute.DecodeOptions{MaxPairs: 100})
			if ping, ok := f.(*zroute.Ping); ok {
				r.mu.Lock()
				auto := r.autoPong
				r.mu.Unlock()
				if auto && ping.ID%2 == 0 {
					r.Send(peer, &zroute.Ping{ID: ping.ID})
					continue
				}
			}
			r.frames <- Received{Peer: peer, Frame: f, Err: err, Parts: len(parts), At: time.Now()}
		}
	}
}

// Send sends frames to a peer, one message with one part per frame.
func (r *Router) Send(peer string, frames ...zroute.Frame) {
	parts := [][]byte{[]byte(peer)}
	for _, f := range frames {
		parts = append(parts, zroute.MustEncode(f))
	}
	if err := r.sock.Send(zmq4.NewMsgFrom(parts...)); err != nil {
		r.t.Errorf("router send: %v", err)
	}
}

// SendRaw sends raw parts to a peer.
func (r *Router) SendRaw(peer string, parts ...[]byte) {
	if err := r.sock.Send(zmq4.NewMsgFrom(append([][]byte{[]byte(peer)}, parts...)...)); err != nil {
		r.t.Errorf("router send: %v", err)
	}
}

// Next returns the next received part, failing the test after Timeout.
func (r *Router) Next() Received {
	r.t.Helper()
	return r.Expect("", "any frame", func(zroute.Frame) bool { return true })
}

// recv returns the next part from peer ("" for any): first from the parts
// kept for later, then from the socket. Parts of other peers are kept, so
// that a wait on one socket never loses frames of another (ordering is
// only guaranteed per socket, §3.2).
func (r *Router) recv(peer string, deadline <-chan time.Time) (Received, bool) {
	r.mu.Lock()
	for i, m := range r.pending {
		if peer == "" || m.Peer == peer {
			r.pending = append(r.pending[:i], r.pending[i+1:]...)
			r.mu.Unlock()
			return m, true
		}
	}
	r.mu.Unlock()
	for {
		select {
		case m := <-r.frames:
			if peer == "" || m.Peer == peer {
				return m, true
			}
			r.mu.Lock()
			r.pending = append(r.pending, m)
			r.mu.Unlock()
		case <-deadline:
			return Received{}, false
		}
	}
}

// Expect returns the next frame from peer that matches, dropping the
// frames of that peer that do not. Pass peer "" for any peer.
func (r *Router) Expect(peer string, what string, match func(zroute.Frame) bool) Received {
	r.t.Helper()
	deadline := time.After(Timeout)
	for {
		m, ok := r.recv(peer, deadline)
		if !ok {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		if m.Err != nil {
			r.t.Fatalf("worker sent an undecodable part: %v", m.Err)
		}
		if match(m.Frame) {
			return m
		}
	}
}

// Session is the router's view of one registered worker socket.
type Session struct {
	R     *Router
	Peer  string
	Hello *zroute.Hello
	// Windows of the router (flow control, §11).
	SendSession    int64 // request direction, session
	WorkerInitial  int64 // worker's per-stream window (HELLO)
	RecvSession    int64 // response direction, session (what the worker may still send)
	RouterInitial  int64
	nextID         uint32
	streamSendWins map[uint32]int64
	streamRecvWins map[uint32]int64
}

// Welcome options.
type Welcome struct {
	IntervalMs, Liveness uint32
	Window               uint32
}

// Accept waits for a HELLO (alone in its message, §9.2) and answers WELCOME.
func (r *Router) Accept(w Welcome) *Session {
	r.t.Helper()
	m := r.Expect("", "HELLO", func(f zroute.Frame) bool { _, ok := f.(*zroute.Hello); return ok })
	if m.Parts != 1 {
		r.t.Errorf("HELLO shared its message with %d other parts", m.Parts-1)
	}
	if w.IntervalMs == 0 {
		w.IntervalMs = 1000
	}
	if w.Liveness == 0 {
		w.Liveness = 3
	}
	if w.Window == 0 {
		w.Window = zroute.DefaultWindow
	}
	h := m.Frame.(*zroute.Hello)
	r.Send(m.Peer, &zroute.Welcome{Version: 1, HeartbeatIntervalMs: w.IntervalMs, HeartbeatLiveness: w.Liveness,
		InitialWindowSize: w.Window, Attributes: zroute.Block{{Name: "router", Value: "fake"}, {Name: "session", Value: m.Peer}}})
	return &Session{R: r, Peer: m.Peer, Hello: h, SendSession: zroute.DefaultWindow,
		WorkerInitial: int64(h.InitialWindowSize), RecvSession: zroute.DefaultWindow,
		RouterInitial: int64(w.Window), nextID: 1,
		streamSendWins: map[uint32]int64{}, streamRecvWins: map[uint32]int64{}}
}

// Send sends frames on the session.
func (s *Session) Send(frames ...zroute.Frame) { s.R.Send(s.Peer, frames...) }

// Expect waits for a matching frame on this session.
func (s *Session) Expect(what string, match func(zroute.Frame) bool) zroute.Frame {
	s.R.t.Helper()
	return s.R.Expect(s.Peer, what, match).Frame
}

// ExpectRst waits for RST_STREAM on stream id.
func (s *Session) ExpectRst(id uint32) *zroute.RstStream {
	s.R.t.Helper()
	return s.Expect(fmt.Sprintf("RST_STREAM(%d)", id), func(f zroute.Frame) bool {
		rst, ok := f.(*zroute.RstStream)
		return ok && rst.StreamID == id
	}).(*zroute.RstStream)
}

// Request builds a SYN_STREAM block with the five pseudo-headers (§8.2).
func Request(method, path string, extra ...zroute.Field) zroute.Block {
	b := zroute.Block{{Name: ":method", Value: method}, {Name: ":path", Value: path},
		{Name: ":version", Value: "HTTP/1.1"}, {Name: ":host", Value: "example.com"},
		{Name: ":scheme", Value: "http"}, {Name: "x-request-id", Value: "0af7651916cd43dd8448eb211c80319c"}}
	return append(b, extra...)
}

// Open sends SYN_STREAM on the next stream id and returns the id.
func (s *Session) Open(block zroute.Block, fin bool) uint32 {
	id := s.nextID
	s.nextID += 2
	var flags uint8
	if fin {
		flags = zroute.FlagFin
	}
	s.streamSendWins[id] = s.WorkerInitial
	s.streamRecvWins[id] = s.RouterInitial
	s.Send(&zroute.SynStream{Flags: flags, StreamID: id, Priority: 3, Header: block})
	return id
}

// Response is a collected response.
type Response struct {
	Reply    *zroute.SynReply
	Body     []byte
	Frames   int
	Trailers zroute.Block
	Rst      *zroute.RstStream
}

// Status returns the :status value.
func (r *Response) Status() string { v, _ := r.Reply.Header.Get(":status"); return v }

// Exchange streams body (in frames of chunk bytes, under the worker's
// windows) as the request body of stream id, ending with FIN or with
// trailers, while collecting the response and granting response credit
// (§11). It checks that the worker never exceeds the router's windows.
func (s *Session) Exchange(id uint32, body []byte, chunk int, trailers zroute.Block) *Response {
	t := s.R.t
	t.Helper()
	resp := &Response{}
	reqDone := body == nil && trailers == nil
	respDone := false
	deadline := time.After(Timeout)
	for !(reqDone && respDone) {
		// Send as much request body as the windows allow.
		for !reqDone {
			win := min(s.SendSession, s.streamSendWins[id])
			if len(body) == 0 {
				if trailers != nil {
					s.Send(&zroute.Headers{Flags: zroute.FlagFin, StreamID: id, Header: trailers})
				} else {
					s.Send(&zroute.Data{Flags: zroute.FlagFin, StreamID: id})
				}
				reqDone = true
				break
			}
			if win <= 0 {
				break
			}
			n := int(min(int64(len(body)), win, int64(chunk)))
			flags := uint8(0)
			if n == len(body) && trailers == nil {
				flags = zroute.FlagFin
			}
			s.Send(&zroute.Data{Flags: flags, StreamID: id, Payload: body[:n]})
			s.SendSession -= int64(n)
			s.streamSendWins[id] -= int64(n)
			body = body[n:]
			if flags != 0 {
				reqDone = true
			}
		}
		if reqDone && respDone {
			break
		}
		m, ok := s.R.recv(s.Peer, deadline)
		if !ok {
			t.Fatalf("stream %d: timed out (request done %v, response done %v, %d body bytes)", id, reqDone, respDone, len(resp.Body))
		}
		if m.Err != nil {
			t.Fatalf("undecodable part: %v", m.Err)
		}
		switch f := m.Frame.(type) {
		case *zroute.WindowUpdate:
			if f.StreamID == 0 {
				s.SendSession += int64(f.Delta)
			} else {
				s.streamSendWins[f.StreamID] += int64(f.Delta)
			}
		case *zroute.SynReply:
			if f.StreamID != id {
				continue
			}
			if resp.Reply != nil {
				t.Fatalf("second SYN_REPLY")
			}
			resp.Reply = f
			respDone = f.Flags&zroute.FlagFin != 0
		case *zroute.Data:
			if f.StreamID != id {
				continue
			}
			if resp.Reply == nil {
				t.Fatalf("DATA before SYN_REPLY")
			}
			n := int64(len(f.Payload))
			if n > s.RecvSession || n > s.streamRecvWins[id] {
				t.Fatalf("worker overran the router's windows: %d bytes, session %d, stream %d", n, s.RecvSession, s.streamRecvWins[id])
			}
			s.RecvSession -= n
			s.streamRecvWins[id] -= n
			resp.Body = append(resp.Body, f.Payload...)
			resp.Frames++
			// Consume at once and credit back (half-window threshold).
			if s.RouterInitial-s.streamRecvWins[id] >= s.RouterInitial/2 && f.Flags&zroute.FlagFin == 0 {
				d := s.RouterInitial - s.streamRecvWins[id]
				s.streamRecvWins[id] += d
				s.Send(&zroute.WindowUpdate{StreamID: id, Delta: uint32(d)})
			}
			if zroute.DefaultWindow-s.RecvSession >= zroute.DefaultWindow/2 {
				d := zroute.DefaultWindow - s.RecvSession
				s.RecvSession += d
				s.Send(&zroute.WindowUpdate{StreamID: 0, Delta: uint32(d)})
			}
			if f.Flags&zroute.FlagFin != 0 {
				respDone = true
			}
		case *zroute.Headers:
			if f.StreamID != id {
				continue
			}
			resp.Trailers = f.Header
			respDone = true
		case *zroute.RstStream:
			if f.StreamID != id {
				continue
			}
			resp.Rst = f
			return resp
		}
	}
	return resp
}
