//go:build libzmq

package libzmq

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"zroute.example/worker/zroute"
)

const testTimeout = 10 * time.Second

// router binds a libzmq ROUTER socket at endpoint, the peer of the DEALER
// under test.
func router(t *testing.T, endpoint string) *zmq.Socket {
	t.Helper()
	s, err := zmq.NewSocket(zmq.ROUTER)
	if err != nil {
		t.Fatal(err)
	}
	s.SetLinger(0)
	s.SetRcvtimeo(testTimeout)
	s.SetSndtimeo(testTimeout)
	if err := s.Bind(endpoint); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// result runs f in a goroutine and returns a channel with its outcome.
func result[T any](f func() (T, error)) <-chan struct {
	v   T
	err error
} {
	ch := make(chan struct {
		v   T
		err error
	}, 1)
	go func() {
		v, err := f()
		ch <- struct {
			v   T
			err error
		}{v, err}
	}()
	return ch
}

func within[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func testDialer() zroute.Dialer {
	return Dialer(slog.New(slog.DiscardHandler), Options{})
}

// The dial waits for a router that is not bound yet (state connecting is
// not a failure, §9.2), and the connection then carries multi-part
// messages both ways in order.
func TestDialWaitsForRouterThenExchanges(t *testing.T) {
	endpoint := "ipc://" + filepath.Join(t.TempDir(), "r.sock")
	dialed := result(func() (zroute.Conn, error) { return testDialer()(context.Background(), endpoint) })
	select {
	case r := <-dialed:
		t.Fatalf("dial returned before the router was bound: %v", r.err)
	default:
	}
	r := router(t, endpoint)
	d := within(t, "the dial", dialed)
	if d.err != nil {
		t.Fatal(d.err)
	}
	c := d.v
	defer c.Close()

	if err := c.Send([][]byte{[]byte("one"), []byte("two")}); err != nil {
		t.Fatal(err)
	}
	got, err := r.RecvMessageBytes(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got[1]) != "one" || string(got[2]) != "two" {
		t.Fatalf("router got %q", got)
	}
	id := got[0]
	for i := range 100 {
		if _, err := r.SendMessage(id, []byte{byte(i)}, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		msg, err := c.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(msg) != 2 || !bytes.Equal(msg[0], []byte{byte(i)}) {
			t.Fatalf("message %d: %q", i, msg)
		}
	}
}

// Close unblocks a Recv that waits for a message, and later calls fail.
func TestCloseUnblocksRecv(t *testing.T) {
	endpoint := "ipc://" + filepath.Join(t.TempDir(), "r.sock")
	router(t, endpoint)
	c, err := testDialer()(context.Background(), endpoint)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	recv := result(func() ([][]byte, error) { close(started); return c.Recv() })
	<-started
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if r := within(t, "Recv to return after Close", recv); !errors.Is(r.err, io.ErrClosedPipe) {
		t.Fatalf("Recv after Close: %q, %v", r.v, r.err)
	}
	if err := c.Send([][]byte{[]byte("late")}); err == nil {
		t.Fatal("Send after Close succeeded")
	}
}

// Close unblocks a sender held back by the high-water marks of a router
// that reads nothing.
func TestCloseUnblocksSend(t *testing.T) {
	endpoint := "ipc://" + filepath.Join(t.TempDir(), "r.sock")
	r := router(t, endpoint)
	r.SetRcvhwm(1)
	blocked := make(chan struct{}, 1)
	logger := slog.New(onMessage{msgSendBlocked, blocked})
	c, err := Dialer(logger, Options{HighWaterMark: 1})(context.Background(), endpoint)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("z"), 64<<10)
	sends := result(func() (int, error) {
		for n := 0; ; n++ {
			if err := c.Send([][]byte{big}); err != nil {
				return n, err
			}
		}
	})
	within(t, "a send to block", blocked)
	c.Close()
	if r := within(t, "Send to fail after Close", sends); !errors.Is(r.err, io.ErrClosedPipe) {
		t.Fatalf("Send after Close: %v", r.err)
	}
}

// onMessage is a slog handler that signals when a record has message msg.
type onMessage struct {
	msg string
	ch  chan struct{}
}

func (h onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h onMessage) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h onMessage) WithGroup(string) slog.Handler            { return h }
func (h onMessage) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}

// A router that goes away ends the connection: Recv reports it (§9.6).
func TestRouterGoneEndsConnection(t *testing.T) {
	endpoint := "ipc://" + filepath.Join(t.TempDir(), "r.sock")
	r := router(t, endpoint)
	c, err := testDialer()(context.Background(), endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send([][]byte{[]byte("hello")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RecvMessageBytes(0); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if res := within(t, "Recv to report the lost connection", result(c.Recv)); !errors.Is(res.err, ErrConnectionLost) {
		t.Fatalf("Recv: %q, %v", res.v, res.err)
	}
}

// A cancelled dial returns the context's error; a malformed endpoint fails
// at once instead of being retried.
func TestDialErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	endpoint := "ipc://" + filepath.Join(t.TempDir(), "nobody.sock")
	dialed := result(func() (zroute.Conn, error) { return testDialer()(ctx, endpoint) })
	cancel()
	if r := within(t, "the cancelled dial", dialed); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled dial: %v", r.err)
	}
	for _, bad := range []string{"nonsense", "tcp://", "carrier-pigeon://x"} {
		if _, err := testDialer()(context.Background(), bad); err == nil {
			t.Errorf("dial %q succeeded", bad)
		}
	}
}
