package testapp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"zroute.example/worker/internal/fakerouter"
	"zroute.example/worker/internal/testapp"
	"zroute.example/worker/zroute"
)

func start(t *testing.T) *fakerouter.Session {
	r := fakerouter.New(t)
	w := &zroute.Worker{ID: "app-1", Features: testapp.Features, Handler: testapp.Handler("app-1"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() { done <- w.Serve(r.Endpoint) }()
	t.Cleanup(func() {
		w.Close()
		if err := <-done; !errors.Is(err, zroute.ErrWorkerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	s := r.Accept(fakerouter.Welcome{})
	if v, _ := s.Hello.Attributes.Get("feature"); v != "trailers\x00websocket\x00discovery\x00reason-phrase" {
		t.Errorf("feature %q", v)
	}
	if _, ok := s.Hello.Attributes.Get("route"); ok {
		t.Errorf("the test app announces no route by default")
	}
	return s
}

func get(s *fakerouter.Session, path string) *fakerouter.Response {
	id := s.Open(fakerouter.Request("GET", path), true)
	return s.Exchange(id, nil, 0, nil)
}

func TestRoutes(t *testing.T) {
	s := start(t)
	cases := []struct {
		path, status, body, ct string
	}{
		{"/hello", "200", "Hello from app-1", "text/plain"},
		{"/hello?x=1", "200", "Hello from app-1", "text/plain"},
		{"/Hello", "404", "not found", "text/plain"},
		{"/hello/", "404", "not found", "text/plain"},
		{"/status/201", "201", "", ""},
		{"/status/304", "304", "", ""},
		{"/status/599", "599", "", ""},
		{"/status/199", "400", "", ""},
		{"/status/2000", "400", "", ""},
		{"/status/", "400", "", ""},
		{"/stream?n=0", "200", "", "application/octet-stream"},
		{"/stream?n=3&size=2", "200", "aabbcc", "application/octet-stream"},
		{"/stream?n=1&size=abc", "400", "", ""},
		{"/stream?n=-1", "400", "", ""},
		{"/slow?ms=1", "200", "slow", "text/plain"},
		{"/slow?ms=", "400", "", ""},
		{"/slow?other=1", "400", "", ""},
		{"/large?bytes=5", "200", "\x00\x01\x02\x03\x04", "application/octet-stream"},
		{"/large?bytes=x", "400", "", ""},
	}
	for _, c := range cases {
		resp := get(s, c.path)
		if resp.Status() != c.status || string(resp.Body) != c.body {
			t.Errorf("GET %s: %s %q, want %s %q", c.path, resp.Status(), resp.Body, c.status, c.body)
		}
		if ct, _ := resp.Reply.Header.Get("content-type"); c.ct != "" && !strings.HasPrefix(ct, c.ct) {
			t.Errorf("GET %s: content-type %q", c.path, ct)
		}
		if (c.status == "304" || c.status == "204") && resp.Reply.Flags&zroute.FlagFin == 0 {
			t.Errorf("GET %s: no FIN on SYN_REPLY", c.path)
		}
	}
	resp := get(s, "/large?bytes=70000")
	if cl, _ := resp.Reply.Header.Get("content-length"); cl != "70000" || len(resp.Body) != 70000 || resp.Body[69999] != byte(69999%256) {
		t.Errorf("/large: cl %q, %d bytes", cl, len(resp.Body))
	}
}

func TestHeadersRoute(t *testing.T) {
	s := start(t)
	id := s.Open(fakerouter.Request("POST", "/headers?x=1", zroute.Field{Name: "x-multi", Value: "a\x00b"},
		zroute.Field{Name: "x-empty", Value: ""}, zroute.Field{Name: "x-latin", Value: "caf\xe9"},
		zroute.Field{Name: ":future", Value: "1"}), false)
	resp := s.Exchange(id, []byte("ignored body"), 4, nil)
	var h struct {
		Method, Path, Version, Host, Scheme string
		Headers                             map[string][]string
	}
	if err := json.Unmarshal(resp.Body, &h); err != nil {
		t.Fatal(err)
	}
	if ct, _ := resp.Reply.Header.Get("content-type"); ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
	if h.Method != "POST" || h.Path != "/headers?x=1" || h.Version != "HTTP/1.1" || h.Host != "example.com" || h.Scheme != "http" {
		t.Errorf("head %+v", h)
	}
	want := map[string][]string{"x-multi": {"a", "b"}, "x-empty": {""}, "x-latin": {"café"},
		"x-request-id": {"0af7651916cd43dd8448eb211c80319c"}}
	for k, v := range want {
		if got := h.Headers[k]; len(got) != len(v) || strings.Join(got, "|") != strings.Join(v, "|") {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if len(h.Headers) != len(want) {
		t.Errorf("headers %v", h.Headers)
	}
}

func TestEchoStreamsBeforeRequestEnds(t *testing.T) {
	s := start(t)
	id := s.Open(fakerouter.Request("POST", "/echo"), false)
	// SYN_REPLY and the echo of the first chunk arrive before the request ends.
	s.Send(&zroute.Data{StreamID: id, Payload: []byte("first")})
	s.Expect("SYN_REPLY", func(f zroute.Frame) bool { _, ok := f.(*zroute.SynReply); return ok })
	d := s.Expect("echo", func(f zroute.Frame) bool { _, ok := f.(*zroute.Data); return ok }).(*zroute.Data)
	if string(d.Payload) != "first" {
		t.Fatalf("echo %q", d.Payload)
	}
	s.Send(&zroute.Data{StreamID: id, Flags: zroute.FlagFin, Payload: []byte("second")})
	var rest []byte
	for {
		d := s.Expect("echo", func(f zroute.Frame) bool { _, ok := f.(*zroute.Data); return ok }).(*zroute.Data)
		rest = append(rest, d.Payload...)
		if d.Flags&zroute.FlagFin != 0 {
			break
		}
	}
	if !bytes.Equal(rest, []byte("second")) {
		t.Fatalf("echo %q", rest)
	}
}

func TestSlowAbandonedOnReset(t *testing.T) {
	s := start(t)
	id := s.Open(fakerouter.Request("GET", "/slow?ms=60000"), true)
	s.Send(&zroute.RstStream{StreamID: id, Status: zroute.RstCancel}, &zroute.Ping{ID: 1})
	// Nothing is sent for the reset stream: the next frame is the PING echo.
	if f := s.Expect("next frame", func(zroute.Frame) bool { return true }); f.Type() != zroute.TypePing {
		t.Fatalf("got %T after RST_STREAM", f)
	}
	// The stream's slot is free again at once: capacity is not held by the
	// abandoned wait, and nothing is sent for the reset stream.
	start := time.Now()
	resp := get(s, "/hello")
	if resp.Status() != "200" || time.Since(start) > 5*time.Second {
		t.Fatalf("after reset: %s", resp.Status())
	}
}

// record is one WebSocket record (§8.8.2): kind, 32-bit length, payload.
func record(kind byte, payload string) []byte {
	return append([]byte{kind, 0, 0, byte(len(payload) >> 8), byte(len(payload))}, payload...)
}

func TestWebSocketEchoAndClose(t *testing.T) {
	s := start(t)
	block := fakerouter.Request("GET", "/ws/echo", zroute.Field{Name: ":protocol", Value: "websocket"})
	id := s.Open(block, false)
	in := append(append(record(zroute.TextMessage, "hi"), record(zroute.BinaryMessage, "\x00\xff")...),
		record(zroute.CloseMessage, "\x03\xe8bye")...)
	res := s.Exchange(id, in, 3, nil)
	if res.Status() != "101" {
		t.Fatalf("status %s", res.Status())
	}
	if string(res.Body) != string(in) {
		t.Fatalf("echo %q, want %q", res.Body, in)
	}
}

func TestWebSocketOnAnotherPathIs404(t *testing.T) {
	s := start(t)
	block := fakerouter.Request("GET", "/ws/other", zroute.Field{Name: ":protocol", Value: "websocket"})
	id := s.Open(block, false)
	res := s.Exchange(id, []byte{}, 1, nil)
	if res.Status() != "404" || string(res.Body) != "not found" {
		t.Fatalf("status %s body %q", res.Status(), res.Body)
	}
}
