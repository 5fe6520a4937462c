package zroute_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"zroute.example/worker/internal/fakerouter"
	"zroute.example/worker/internal/testapp"
	"zroute.example/worker/zroute"
)

func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("ZROUTE_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// serve starts w against r and closes it at cleanup.
func serve(t *testing.T, r *fakerouter.Router, w *zroute.Worker) {
	t.Helper()
	if w.ID == "" {
		w.ID = "w1"
	}
	if w.Handler == nil {
		w.Handler = testapp.Handler(w.ID)
	}
	w.Logger = testLogger(t)
	done := make(chan error, 1)
	go func() { done <- w.Serve(r.Endpoint) }()
	t.Cleanup(func() {
		w.Close()
		select {
		case err := <-done:
			if !errors.Is(err, zroute.ErrWorkerClosed) {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(fakerouter.Timeout):
			t.Errorf("Serve did not return after Close")
		}
	})
}

func isType[T zroute.Frame](f zroute.Frame) bool { _, ok := f.(T); return ok }

// waitFor fails the test if ch does not deliver within the timeout.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(fakerouter.Timeout):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

func TestHandshake(t *testing.T) {
	r := fakerouter.New(t)
	serve(t, r, &zroute.Worker{ID: "w1", Routes: []string{"/api", "example.com"}, Features: []string{"trailers"},
		Capacity: 7, InitialWindow: 40000, Labels: map[string]string{"version": "1.2"}})
	s := r.Accept(fakerouter.Welcome{})
	h := s.Hello
	if h.Version != 1 || h.MaxConcurrentStreams != 7 || h.InitialWindowSize != 40000 || h.Flags != 0 {
		t.Errorf("HELLO fixed fields: %+v", h)
	}
	want := zroute.Block{{Name: "id", Value: "w1"}, {Name: "route", Value: "/api\x00example.com"},
		{Name: "feature", Value: "trailers"}, {Name: "version", Value: "1.2"}}
	if len(h.Attributes) != len(want) {
		t.Fatalf("attributes %q, want %q", h.Attributes, want)
	}
	for i := range want {
		if h.Attributes[i] != want[i] {
			t.Errorf("attribute %d: %q, want %q", i, h.Attributes[i], want[i])
		}
	}
	// Established: the worker echoes the router's PING.
	s.Send(&zroute.Ping{ID: 1})
	s.Expect("PING(1) echo", func(f zroute.Frame) bool { p, ok := f.(*zroute.Ping); return ok && p.ID == 1 })
}

func TestPingParity(t *testing.T) {
	r := fakerouter.New(t)
	r.SetAutoPong(false)
	serve(t, r, &zroute.Worker{})
	s := r.Accept(fakerouter.Welcome{IntervalMs: 50, Liveness: 40})
	// The worker's own PINGs: even ids from 2, step 2 (§5.5), sent when idle.
	var ids []uint32
	for len(ids) < 3 {
		f := s.Expect("worker PING", isType[*zroute.Ping]).(*zroute.Ping)
		ids = append(ids, f.ID)
		s.Send(&zroute.Ping{ID: f.ID}) // echo: the worker must not answer it
	}
	if ids[0] != 2 || ids[1] != 4 || ids[2] != 6 {
		t.Errorf("worker ping ids %v, want [2 4 6]", ids)
	}
	// An even id the worker never sent is ignored; odd ids are echoed.
	s.Send(&zroute.Ping{ID: 1000}, &zroute.Ping{ID: 3})
	for {
		f := s.Expect("PING", isType[*zroute.Ping]).(*zroute.Ping)
		if f.ID == 3 {
			break
		}
		if f.ID == 1000 || f.ID%2 == 1 {
			t.Fatalf("unexpected PING(%d)", f.ID)
		}
		s.Send(&zroute.Ping{ID: f.ID})
	}
}

func TestGetHello(t *testing.T) {
	r := fakerouter.New(t)
	serve(t, r, &zroute.Worker{ID: "w1"})
	s := r.Accept(fakerouter.Welcome{})
	id := s.Open(fakerouter.Request("GET", "/hello"), true)
	resp := s.Exchange(id, nil, 0, nil)
	if resp.Status() != "200" || string(resp.Body) != "Hello from w1" {
		t.Fatalf("got %s %q", resp.Status(), resp.Body)
	}
	if v, _ := resp.Reply.Header.Get(":version"); v != "HTTP/1.1" {
		t.Errorf(":version %q", v)
	}
	if v, _ := resp.Reply.Header.Get("content-type"); !strings.HasPrefix(v, "text/plain") {
		t.Errorf("content-type %q", v)
	}
	// A 204 ends with FIN on SYN_REPLY (§8.6); unknown routes answer 404.
	id = s.Open(fakerouter.Request("GET", "/status/204"), true)
	resp = s.Exchange(id, nil, 0, nil)
	if resp.Status() != "204" || resp.Reply.Flags&zroute.FlagFin == 0 {
		t.Errorf("/status/204: %s flags %x", resp.Status(), resp.Reply.Flags)
	}
	// The handler's own reason phrase follows the code (§8.3, SetReason).
	id = s.Open(fakerouter.Request("GET", "/status/200?reason=Totally+Fine"), true)
	if resp = s.Exchange(id, nil, 0, nil); resp.Status() != "200 Totally Fine" {
		t.Errorf("/status/200?reason=Totally+Fine: %q", resp.Status())
	}
	id = s.Open(fakerouter.Request("GET", "/nope"), true)
	if resp = s.Exchange(id, nil, 0, nil); resp.Status() != "404" || string(resp.Body) != "not found" {
		t.Errorf("/nope: %s %q", resp.Status(), resp.Body)
	}
}

// TestStreamedEcho POSTs a body larger than the worker's stream and session
// windows plus the router's window; it only completes if the worker echoes
// while it reads, under flow control in both directions (Appendix A.3, B.2).
func TestStreamedEcho(t *testing.T) {
	r := fakerouter.New(t)
	serve(t, r, &zroute.Worker{})
	s := r.Accept(fakerouter.Welcome{})
	body := make([]byte, 300*1024)
	rand.Read(body)
	id := s.Open(fakerouter.Request("POST", "/echo", zroute.Field{Name: "content-type", Value: "application/x-test"}), false)
	resp := s.Exchange(id, body, 16384, nil)
	if resp.Rst != nil {
		t.Fatalf("stream reset: %v", resp.Rst.Status)
	}
	if !bytes.Equal(resp.Body, body) {
		t.Fatalf("echo differs: got %d bytes, want %d", len(resp.Body), len(body))
	}
	if v, _ := resp.Reply.Header.Get("content-type"); v != "application/x-test" {
		t.Errorf("content-type %q", v)
	}
	// And the drain-body route counts a body in several frames.
	id = s.Open(fakerouter.Request("POST", "/drain-body"), false)
	resp = s.Exchange(id, body[:100000], 7000, nil)
	if string(resp.Body) != "100000" {
		t.Errorf("/drain-body: %q", resp.Body)
	}
}

// blockingHandler records started requests and blocks until released or
// cancelled.
type blockingHandler struct {
	started  chan string
	canceled chan error
	release  chan struct{}
}

func newBlocking() *blockingHandler {
	return &blockingHandler{started: make(chan string, 16), canceled: make(chan error, 16), release: make(chan struct{})}
}

func (h *blockingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.started <- r.URL.Path
	select {
	case <-h.release:
		io.WriteString(w, "done "+r.URL.Path)
	case <-r.Context().Done():
		h.canceled <- context.Cause(r.Context())
	}
}

func TestRstCancelCancelsHandler(t *testing.T) {
	r := fakerouter.New(t)
	h := newBlocking()
	serve(t, r, &zroute.Worker{Handler: h})
	s := r.Accept(fakerouter.Welcome{})
	id := s.Open(fakerouter.Request("GET", "/wait"), true)
	waitFor(t, h.started, "handler start")
	s.Send(&zroute.RstStream{StreamID: id, Status: zroute.RstCancel})
	cause := waitFor(t, h.canceled, "context cancellation")
	var se *zroute.StreamError
	if !errors.As(cause, &se) || se.Status != zroute.RstCancel || !se.Remote || se.StreamID != id {
		t.Fatalf("cause %v", cause)
	}
	// Nothing more on the stream, and no RST in answer to the RST (§5.3):
	// the next frame of the session is the echo of a PING sent after it.
	s.Send(&zroute.Ping{ID: 5})
	f := s.Expect("anything", func(zroute.Frame) bool { return true })
	if p, ok := f.(*zroute.Ping); !ok || p.ID != 5 {
		t.Fatalf("got %T %+v after RST, want the PING echo", f, f)
	}
}

func TestCapacityRefusedStream(t *testing.T) {
	r := fakerouter.New(t)
	h := newBlocking()
	serve(t, r, &zroute.Worker{Handler: h, Capacity: 1})
	s := r.Accept(fakerouter.Welcome{})
	if s.Hello.MaxConcurrentStreams != 1 {
		t.Fatalf("capacity %d", s.Hello.MaxConcurrentStreams)
	}
	first := s.Open(fakerouter.Request("GET", "/one"), true)
	waitFor(t, h.started, "first handler")
	second := s.Open(fakerouter.Request("GET", "/two"), true)
	if rst := s.ExpectRst(second); rst.Status != zroute.RstRefusedStream {
		t.Fatalf("second stream: %v, want REFUSED_STREAM", rst.Status)
	}
	close(h.release)
	if resp := s.Exchange(first, nil, 0, nil); string(resp.Body) != "done /one" {
		t.Fatalf("first stream: %q", resp.Body)
	}
	// The slot is free again.
	third := s.Open(fakerouter.Request("GET", "/three"), true)
	if resp := s.Exchange(third, nil, 0, nil); string(resp.Body) != "done /three" {
		t.Fatalf("third stream: %q", resp.Body)
	}
	select {
	case p := <-h.started:
		if p != "/three" {
			t.Fatalf("refused stream reached the handler: %s", p)
		}
	default:
		t.Fatalf("third handler did not start")
	}
}

func TestSetCapacityZero(t *testing.T) {
	r := fakerouter.New(t)
	w := &zroute.Worker{}
	serve(t, r, w)
	s := r.Accept(fakerouter.Welcome{})
	w.SetCapacity(0)
	f := s.Expect("SETTINGS", isType[*zroute.Settings]).(*zroute.Settings)
	if len(f.Entries) != 1 || f.Entries[0].ID != zroute.SettingMaxConcurrentStreams || f.Entries[0].Value != 0 {
		t.Fatalf("SETTINGS %+v", f.Entries)
	}
	id := s.Open(fakerouter.Request("GET", "/hello"), true)
	if rst := s.ExpectRst(id); rst.Status != zroute.RstRefusedStream {
		t.Fatalf("got %v", rst.Status)
	}
}

func TestWorkerDrain(t *testing.T) {
	r := fakerouter.New(t)
	h := newBlocking()
	w := &zroute.Worker{Handler: h}
	serve(t, r, w)
	s := r.Accept(fakerouter.Welcome{})
	id := s.Open(fakerouter.Request("GET", "/busy"), true)
	waitFor(t, h.started, "handler start")
	shut := make(chan error, 1)
	go func() { shut <- w.Shutdown(context.Background()) }()
	g := s.Expect("GOAWAY", isType[*zroute.GoAway]).(*zroute.GoAway)
	if g.Status != zroute.GoAwayOK || g.LastGoodStreamID != id {
		t.Fatalf("GOAWAY(%d, %v), want GOAWAY(%d, OK)", g.LastGoodStreamID, g.Status, id)
	}
	// A stream above last-good is refused, not processed (§9.7).
	late := s.Open(fakerouter.Request("GET", "/late"), true)
	if rst := s.ExpectRst(late); rst.Status != zroute.RstRefusedStream {
		t.Fatalf("late stream: %v", rst.Status)
	}
	// Heartbeats continue while draining.
	s.Send(&zroute.Ping{ID: 1})
	s.Expect("PING echo", func(f zroute.Frame) bool { p, ok := f.(*zroute.Ping); return ok && p.ID == 1 })
	close(h.release)
	if resp := s.Exchange(id, nil, 0, nil); string(resp.Body) != "done /busy" {
		t.Fatalf("drained stream: %q", resp.Body)
	}
	if err := waitFor(t, shut, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestDrainTimeout(t *testing.T) {
	r := fakerouter.New(t)
	h := newBlocking()
	w := &zroute.Worker{Handler: h}
	serve(t, r, w)
	s := r.Accept(fakerouter.Welcome{})
	id := s.Open(fakerouter.Request("GET", "/stuck"), true)
	waitFor(t, h.started, "handler start")
	ctx, cancel := context.WithCancel(context.Background())
	shut := make(chan error, 1)
	go func() { shut <- w.Shutdown(ctx) }()
	s.Expect("GOAWAY OK", func(f zroute.Frame) bool { g, ok := f.(*zroute.GoAway); return ok && g.Status == zroute.GoAwayOK })
	cancel()
	g := s.Expect("GOAWAY INTERNAL_ERROR", isType[*zroute.GoAway]).(*zroute.GoAway)
	if g.Status != zroute.GoAwayInternalError || g.LastGoodStreamID != id {
		t.Fatalf("GOAWAY(%d, %v)", g.LastGoodStreamID, g.Status)
	}
	waitFor(t, h.canceled, "handler cancellation")
	if err := waitFor(t, shut, "Shutdown"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestUnknownSessionReregisters(t *testing.T) {
	r := fakerouter.New(t)
	h := newBlocking()
	serve(t, r, &zroute.Worker{Handler: h})
	s := r.Accept(fakerouter.Welcome{})
	s.Open(fakerouter.Request("GET", "/abandoned"), true)
	waitFor(t, h.started, "handler start")
	s.Send(&zroute.GoAway{Status: zroute.GoAwayUnknownSession})
	// Streams are abandoned (no RST) and the worker registers at once on a
	// new socket, hence a new routing id (§9.3, §9.4).
	s2 := r.Accept(fakerouter.Welcome{})
	if s2.Peer == s.Peer {
		t.Fatalf("re-registered on the same routing id")
	}
	waitFor(t, h.canceled, "abandoned handler cancellation")
	id := s2.Open(fakerouter.Request("GET", "/again"), true)
	waitFor(t, h.started, "handler on the new session")
	h.release <- struct{}{}
	if resp := s2.Exchange(id, nil, 0, nil); string(resp.Body) != "done /again" {
		t.Fatalf("new session: %q", resp.Body)
	}
}

func TestRouterShutdownDrain(t *testing.T) {
	r := fakerouter.New(t)
	h := newBlocking()
	serve(t, r, &zroute.Worker{Handler: h})
	s := r.Accept(fakerouter.Welcome{})
	id := s.Open(fakerouter.Request("GET", "/inflight"), true)
	waitFor(t, h.started, "handler start")
	s.Send(&zroute.GoAway{Status: zroute.GoAwayOK})
	// The worker registers anew at once while the old session drains (§9.8).
	s2 := r.Accept(fakerouter.Welcome{})
	if s2.Peer == s.Peer {
		t.Fatalf("same routing id")
	}
	close(h.release)
	if resp := s.Exchange(id, nil, 0, nil); string(resp.Body) != "done /inflight" {
		t.Fatalf("in-flight stream: %q", resp.Body)
	}
}

func TestHeartbeatExpiry(t *testing.T) {
	r := fakerouter.New(t)
	r.SetAutoPong(false) // the router goes silent
	serve(t, r, &zroute.Worker{})
	s := r.Accept(fakerouter.Welcome{IntervalMs: 40, Liveness: 3})
	start := time.Now()
	s2 := r.Accept(fakerouter.Welcome{IntervalMs: 1000})
	if s2.Peer == s.Peer {
		t.Fatalf("same routing id")
	}
	if d := time.Since(start); d < 120*time.Millisecond {
		t.Errorf("re-registered after %v, before I x L = 120ms", d)
	}
}

func TestHandshakeFailureBackoff(t *testing.T) {
	r := fakerouter.New(t)
	w := &zroute.Worker{}
	zroute.SetBackoffUnit(w, 100*time.Millisecond)
	serve(t, r, w)
	var times []time.Time
	for range 3 {
		m := r.Expect("", "HELLO", isType[*zroute.Hello])
		times = append(times, m.At)
		r.Send(m.Peer, &zroute.GoAway{Status: zroute.GoAwayRefused})
	}
	// 1 unit after the first failure, 2 after the second (§9.4), jitter <= 25%.
	if d := times[1].Sub(times[0]); d < 100*time.Millisecond || d > 2*time.Second {
		t.Errorf("first backoff %v, want about 100ms", d)
	}
	if d := times[2].Sub(times[1]); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("second backoff %v, want about 200ms", d)
	}
	// A valid WELCOME resets the backoff: the next loss re-registers at once.
	s := r.Accept(fakerouter.Welcome{})
	s.Send(&zroute.GoAway{Status: zroute.GoAwayUnknownSession})
	before := time.Now()
	r.Accept(fakerouter.Welcome{})
	if d := time.Since(before); d > time.Second {
		t.Errorf("re-registration after a lost session took %v", d)
	}
}

// §9.4 rule 4: a router shutting down answers HELLO with GOAWAY(0, OK) and is
// asked again after the last WELCOME's heartbeat interval, without doubling.
// The backoff unit of an hour makes rule 2's delay far longer than the
// router's wait for each HELLO.
func TestRouterShuttingDownAskedAgainSoon(t *testing.T) {
	r := fakerouter.New(t)
	w := &zroute.Worker{}
	zroute.SetBackoffUnit(w, time.Hour)
	serve(t, r, w)
	s := r.Accept(fakerouter.Welcome{IntervalMs: 50})
	s.Send(&zroute.GoAway{Status: zroute.GoAwayOK}) // a graceful restart begins
	peer := s.Peer
	for range 3 {
		m := r.Expect("", "HELLO", isType[*zroute.Hello])
		if m.Peer == peer {
			t.Fatalf("HELLO sent twice on one socket")
		}
		peer = m.Peer
		r.Send(m.Peer, &zroute.GoAway{Status: zroute.GoAwayOK})
	}
	// The replacement router welcomes the next attempt.
	if s2 := r.Accept(fakerouter.Welcome{}); s2.Peer == peer {
		t.Fatalf("HELLO sent twice on one socket")
	}
}

func TestInvalidWelcome(t *testing.T) {
	r := fakerouter.New(t)
	w := &zroute.Worker{}
	zroute.SetBackoffUnit(w, 10*time.Millisecond)
	serve(t, r, w)
	m := r.Expect("", "HELLO", isType[*zroute.Hello])
	r.Send(m.Peer, &zroute.Welcome{Version: 1, HeartbeatIntervalMs: 0, HeartbeatLiveness: 3, InitialWindowSize: 1})
	g := r.Expect(m.Peer, "GOAWAY", isType[*zroute.GoAway]).Frame.(*zroute.GoAway)
	if g.Status != zroute.GoAwayProtocolError || g.LastGoodStreamID != 0 {
		t.Fatalf("GOAWAY(%d, %v)", g.LastGoodStreamID, g.Status)
	}
	m2 := r.Expect("", "second HELLO", isType[*zroute.Hello])
	if m2.Peer == m.Peer {
		t.Fatalf("HELLO sent twice on one socket")
	}
}

func TestStreamAndSessionErrors(t *testing.T) {
	r := fakerouter.New(t)
	serve(t, r, &zroute.Worker{})
	s := r.Accept(fakerouter.Welcome{})
	// DATA on a never-opened stream: RST INVALID_STREAM (§10.6).
	s.Send(&zroute.Data{StreamID: 9, Payload: []byte("x")})
	if rst := s.ExpectRst(9); rst.Status != zroute.RstInvalidStream {
		t.Fatalf("got %v", rst.Status)
	}
	// WINDOW_UPDATE with delta 0 on a never-opened stream: ignored.
	s.R.SendRaw(s.Peer, []byte{0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 11, 0, 0, 0, 0})
	// A SYN_STREAM without :path: RST PROTOCOL_ERROR.
	id := s.Open(zroute.Block{{Name: ":method", Value: "GET"}, {Name: ":version", Value: "HTTP/1.1"},
		{Name: ":host", Value: "h"}, {Name: ":scheme", Value: "http"}}, true)
	if rst := s.ExpectRst(id); rst.Status != zroute.RstProtocolError {
		t.Fatalf("missing :path: %v", rst.Status)
	}
	// A hop-by-hop field: RST PROTOCOL_ERROR (§8.4).
	id = s.Open(fakerouter.Request("GET", "/hello", zroute.Field{Name: "connection", Value: "close"}), true)
	if rst := s.ExpectRst(id); rst.Status != zroute.RstProtocolError {
		t.Fatalf("hop-by-hop: %v", rst.Status)
	}
	// A malformed block in SYN_STREAM: the id is opened and reset at once.
	bad := zroute.MustEncode(&zroute.SynStream{StreamID: 7, Header: zroute.Block{{Name: "Bad", Value: "x"}}})
	s.R.SendRaw(s.Peer, bad)
	if rst := s.ExpectRst(7); rst.Status != zroute.RstProtocolError {
		t.Fatalf("malformed block: %v", rst.Status)
	}
	// Frames on the now closed stream 7 are ignored, even DATA (no RST).
	s.Send(&zroute.Data{StreamID: 7, Payload: []byte("late")}, &zroute.Ping{ID: 1})
	if f := s.Expect("next", func(zroute.Frame) bool { return true }); !isType[*zroute.Ping](f) {
		t.Fatalf("got %T after DATA on a closed stream, want the PING echo", f)
	}
	// A SYN_STREAM reusing an id: session error PROTOCOL_ERROR with
	// last-good = the highest accepted stream (none here).
	s.Send(&zroute.SynStream{StreamID: 7, Flags: zroute.FlagFin, Header: fakerouter.Request("GET", "/hello")})
	g := s.Expect("GOAWAY", isType[*zroute.GoAway]).(*zroute.GoAway)
	if g.Status != zroute.GoAwayProtocolError || g.LastGoodStreamID != 0 {
		t.Fatalf("GOAWAY(%d, %v)", g.LastGoodStreamID, g.Status)
	}
	// ... after which the worker registers again.
	r.Accept(fakerouter.Welcome{})
}

func TestTrailersBothWays(t *testing.T) {
	r := fakerouter.New(t)
	got := make(chan string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /up", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b) + "|" + r.Trailer.Get("X-Checksum")
		w.Header().Set("Trailer", "X-Result")
		io.WriteString(w, "ok")
		w.Header().Set("X-Result", "stored")
	})
	mux.Handle("/", testapp.Handler("w1"))
	serve(t, r, &zroute.Worker{Handler: mux})
	s := r.Accept(fakerouter.Welcome{})
	id := s.Open(fakerouter.Request("POST", "/up"), false)
	resp := s.Exchange(id, []byte("payload"), 3, zroute.Block{{Name: "x-checksum", Value: "abc"}})
	if v := waitFor(t, got, "handler"); v != "payload|abc" {
		t.Errorf("handler saw %q", v)
	}
	if v, _ := resp.Trailers.Get("x-result"); v != "stored" || string(resp.Body) != "ok" {
		t.Errorf("response %q trailers %q", resp.Body, resp.Trailers)
	}
	// The test app's /trailers route (Appendix A.9).
	id = s.Open(fakerouter.Request("GET", "/trailers"), true)
	resp = s.Exchange(id, nil, 0, nil)
	if string(resp.Body) != "ok" || len(resp.Trailers) != 1 || resp.Trailers[0] != (zroute.Field{Name: "x-trailer", Value: "done"}) {
		t.Errorf("/trailers: %q %q", resp.Body, resp.Trailers)
	}
}

func TestHandlerPanicBecomes500(t *testing.T) {
	r := fakerouter.New(t)
	var once sync.Once
	serve(t, r, &zroute.Worker{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() {})
		panic("boom")
	})})
	s := r.Accept(fakerouter.Welcome{})
	id := s.Open(fakerouter.Request("GET", "/"), true)
	if resp := s.Exchange(id, nil, 0, nil); resp.Status() != "500" {
		t.Fatalf("status %s", resp.Status())
	}
}

func TestStreamFramesExact(t *testing.T) {
	r := fakerouter.New(t)
	serve(t, r, &zroute.Worker{})
	s := r.Accept(fakerouter.Welcome{})
	id := s.Open(fakerouter.Request("GET", "/stream?n=30&size=5000"), true)
	resp := s.Exchange(id, nil, 0, nil)
	if len(resp.Body) != 150000 {
		t.Fatalf("got %d bytes", len(resp.Body))
	}
	for k := range 30 {
		if c := resp.Body[k*5000]; c != byte('a'+k%26) {
			t.Fatalf("frame %d starts with %q", k, c)
		}
	}
	// 30 frames of 5000 bytes, plus possibly one empty FIN frame.
	if resp.Frames != 30 && resp.Frames != 31 {
		t.Errorf("%d DATA frames, want 30 (or 31)", resp.Frames)
	}
}

func TestResponseWriterShapes(t *testing.T) {
	r := fakerouter.New(t)
	big := bytes.Repeat([]byte("0123456789"), 20000) // 200,000 bytes in one Write
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(big) })
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tiny") })
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.Write(big[:50000])
	})
	mux.HandleFunc("/hop", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Header().Set("Transfer-Encoding", "chunked")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Set("X-Bad", "line\r\nbreak")
		w.WriteHeader(202)
	})
	serve(t, r, &zroute.Worker{Handler: mux})
	s := r.Accept(fakerouter.Welcome{})

	resp := s.Exchange(s.Open(fakerouter.Request("GET", "/big"), true), nil, 0, nil)
	if !bytes.Equal(resp.Body, big) {
		t.Errorf("/big: %d bytes", len(resp.Body))
	}
	// A small body is buffered and announced with an exact content-length.
	resp = s.Exchange(s.Open(fakerouter.Request("GET", "/small"), true), nil, 0, nil)
	if cl, _ := resp.Reply.Header.Get("content-length"); cl != "4" || string(resp.Body) != "tiny" {
		t.Errorf("/small: cl %q body %q", cl, resp.Body)
	}
	// HEAD: FIN on SYN_REPLY, the length of the body the handler wrote.
	resp = s.Exchange(s.Open(fakerouter.Request("HEAD", "/small"), true), nil, 0, nil)
	if cl, _ := resp.Reply.Header.Get("content-length"); cl != "4" || resp.Reply.Flags&zroute.FlagFin == 0 || len(resp.Body) != 0 {
		t.Errorf("HEAD /small: cl %q flags %x body %q", cl, resp.Reply.Flags, resp.Body)
	}
	// A body shorter than its content-length after SYN_REPLY: the handler
	// failed, RST_STREAM(INTERNAL_ERROR) (§10.4).
	resp = s.Exchange(s.Open(fakerouter.Request("GET", "/short"), true), nil, 0, nil)
	if resp.Rst == nil || resp.Rst.Status != zroute.RstInternalError {
		t.Errorf("/short: rst %v", resp.Rst)
	}
	// Hop-by-hop fields are not sent (§8.4); field lines of one name are
	// NUL-joined (§8.1); CR/LF never reach the wire (§7.2).
	resp = s.Exchange(s.Open(fakerouter.Request("GET", "/hop"), true), nil, 0, nil)
	if _, ok := resp.Reply.Header.Get("connection"); ok {
		t.Errorf("connection sent")
	}
	if _, ok := resp.Reply.Header.Get("transfer-encoding"); ok {
		t.Errorf("transfer-encoding sent")
	}
	if v, _ := resp.Reply.Header.Get("set-cookie"); v != "a=1\x00b=2" {
		t.Errorf("set-cookie %q", v)
	}
	if v, _ := resp.Reply.Header.Get("x-bad"); v != "line  break" {
		t.Errorf("x-bad %q", v)
	}
	if resp.Status() != "202" {
		t.Errorf("status %s", resp.Status())
	}
}

// TestSetReason: only a phrase a status line can carry, only on a zroute
// response (reached through Unwrap too), only before the head goes out.
func TestSetReason(t *testing.T) {
	rec := httptest.NewRecorder()
	if zroute.SetReason(rec, "Fine") {
		t.Error("SetReason took a ResponseWriter that is not a zroute response")
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wrapped := unwrapping{w}
		for _, bad := range []string{"", "a\r\nb", "a\x00b", "a\x7fb"} {
			if zroute.SetReason(wrapped, bad) {
				t.Errorf("SetReason took %q", bad)
			}
		}
		if !zroute.SetReason(wrapped, "Totally\tFine \xe9") {
			t.Error("SetReason refused a valid phrase through Unwrap")
		}
		w.WriteHeader(299)
		w.(http.Flusher).Flush()
		if zroute.SetReason(w, "Late") {
			t.Error("SetReason took a phrase after the head went out")
		}
	})
	r := fakerouter.New(t)
	serve(t, r, &zroute.Worker{Handler: h})
	s := r.Accept(fakerouter.Welcome{})
	id := s.Open(fakerouter.Request("GET", "/"), true)
	if resp := s.Exchange(id, nil, 0, nil); resp.Status() != "299 Totally\tFine \xe9" {
		t.Errorf(":status %q", resp.Status())
	}
}

type unwrapping struct{ http.ResponseWriter }

func (u unwrapping) Unwrap() http.ResponseWriter { return u.ResponseWriter }
