package zroute_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"zroute.example/worker/internal/fakedns"
	"zroute.example/worker/internal/fakerouter"
	"zroute.example/worker/internal/testapp"
	"zroute.example/worker/zroute"
)

// resolveInterval is short, so that each test takes a few intervals.
const resolveInterval = 250 * time.Millisecond

// logLines captures the worker's log lines (level info and up) and lets a
// test wait for one.
type logLines struct {
	t       *testing.T
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
	over    bool // the test is ending: t.Log may no longer be called
}

func captureLogs(t *testing.T) *logLines {
	l := &logLines{t: t, changed: make(chan struct{})}
	// Registered before the worker's cleanup, so it runs after it.
	t.Cleanup(func() { l.mu.Lock(); l.over = true; l.mu.Unlock() })
	return l
}

func (l *logLines) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.over && testing.Verbose() {
		l.t.Log(line)
	}
	l.lines = append(l.lines, line)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// count is the number of lines that contain s.
func (l *logLines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// waitCount waits until n lines contain s.
func (l *logLines) waitCount(s string, n int) {
	l.t.Helper()
	deadline := time.After(fakerouter.Timeout)
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		if l.count(s) >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			l.t.Fatalf("timed out waiting for %d log lines with %q", n, s)
		}
	}
}

// routersOnOnePort starts n fake routers on 127.0.0.1, 127.0.0.2, ... with
// the same port (Linux routes all of 127.0.0.0/8 to loopback).
func routersOnOnePort(t *testing.T, n int) ([]*fakerouter.Router, uint16) {
	t.Helper()
	for range 20 {
		first, err := fakerouter.Listen(t, "tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, portText, _ := net.SplitHostPort(strings.TrimPrefix(first.Endpoint, "tcp://"))
		port, _ := strconv.ParseUint(portText, 10, 16)
		routers := []*fakerouter.Router{first}
		for i := 2; i <= n; i++ {
			r, err := fakerouter.Listen(t, fmt.Sprintf("tcp://127.0.0.%d:%d", i, port))
			if err != nil {
				break // that port is taken there: try another
			}
			routers = append(routers, r)
		}
		if len(routers) == n {
			return routers, uint16(port)
		}
	}
	t.Fatal("no port free on every loopback address")
	return nil, 0
}

// served is a running Serve: done is closed when it returns err.
type served struct {
	done chan struct{}
	err  error
}

// serveNamed starts w on endpoints with the nameserver dns, capturing its
// logs, and closes it at cleanup.
func serveNamed(t *testing.T, dns *fakedns.Server, w *zroute.Worker, endpoints ...string) (*logLines, *served) {
	t.Helper()
	logs := captureLogs(t)
	if w.ID == "" {
		w.ID = "w1"
	}
	if w.Handler == nil {
		w.Handler = testapp.Handler(w.ID)
	}
	w.Logger = slog.New(slog.NewTextHandler(logs, nil))
	w.Nameserver = dns.Addr
	if w.ResolveInterval == 0 {
		w.ResolveInterval = resolveInterval
	}
	sv := &served{done: make(chan struct{})}
	go func() { sv.err = w.Serve(endpoints...); close(sv.done) }()
	t.Cleanup(func() {
		w.Close()
		select {
		case <-sv.done:
			if !errors.Is(sv.err, zroute.ErrWorkerClosed) {
				t.Errorf("Serve returned %v", sv.err)
			}
		case <-time.After(fakerouter.Timeout):
			t.Errorf("Serve did not return after Close")
		}
	})
	return logs, sv
}

// untouched checks that a session goes on as before: the next frame it
// sends is the echo of a PING sent now (no GOAWAY came first), and that its
// router got no other HELLO.
func untouched(t *testing.T, s *fakerouter.Session, id uint32) {
	t.Helper()
	s.Send(&zroute.Ping{ID: id})
	f := s.Expect("anything", func(zroute.Frame) bool { return true })
	if p, ok := f.(*zroute.Ping); !ok || p.ID != id {
		t.Fatalf("session %s: got %T %+v, want the PING(%d) echo", s.Peer, f, f, id)
	}
	noHello(t, s.R)
}

// noHello checks that no HELLO has reached r beyond those already taken.
func noHello(t *testing.T, r *fakerouter.Router) {
	t.Helper()
	for _, m := range r.Received("") {
		if _, ok := m.Frame.(*zroute.Hello); ok {
			t.Fatalf("%s: unexpected HELLO from %s", r.Endpoint, m.Peer)
		}
	}
}

// lookups waits until the nameserver has answered n more A questions
// successfully: n more lookups of a tcp://name:port endpoint.
func lookups(dns *fakedns.Server, n int) {
	base := dns.Count(dnsmessage.TypeA, dnsmessage.RCodeSuccess)
	dns.Wait(fmt.Sprintf("%d lookups", n), func() bool {
		return dns.Count(dnsmessage.TypeA, dnsmessage.RCodeSuccess) >= base+n
	})
}

// §3.5 item 1: one socket, and so one session, per address of the name.
func TestDiscoveryOneSessionPerAddress(t *testing.T) {
	routers, port := routersOnOnePort(t, 3)
	dns := fakedns.Start(t)
	dns.SetAddrs("routers.zroute.test", "127.0.0.1", "127.0.0.2", "127.0.0.3")
	serveNamed(t, dns, &zroute.Worker{}, fmt.Sprintf("tcp://routers.zroute.test:%d", port))
	var sessions []*fakerouter.Session
	for _, r := range routers {
		sessions = append(sessions, r.Accept(fakerouter.Welcome{}))
	}
	// Later lookups give the same answer: nothing changes.
	lookups(dns, 2)
	for i, s := range sessions {
		untouched(t, s, uint32(2*i+1))
	}
}

// An address that joins the answer gets a session within one interval,
// without backoff.
func TestDiscoveryAddressAdded(t *testing.T) {
	routers, port := routersOnOnePort(t, 2)
	dns := fakedns.Start(t)
	dns.SetAddrs("routers.zroute.test", "127.0.0.1")
	serveNamed(t, dns, &zroute.Worker{}, fmt.Sprintf("tcp://routers.zroute.test:%d", port))
	s1 := routers[0].Accept(fakerouter.Welcome{})
	changed := time.Now()
	dns.SetAddrs("routers.zroute.test", "127.0.0.1", "127.0.0.2")
	routers[1].Accept(fakerouter.Welcome{})
	d := time.Since(changed)
	t.Logf("HELLO at the new address %v after the answer changed", d)
	if d > resolveInterval+time.Second {
		t.Errorf("HELLO at the new address after %v, want within the resolve interval %v (plus a handshake)", d, resolveInterval)
	}
	untouched(t, s1, 1)
}

// An address that leaves the answer has its session drained with
// GOAWAY(last-good, OK) and no new HELLO; the others go on.
func TestDiscoveryAddressRemoved(t *testing.T) {
	routers, port := routersOnOnePort(t, 3)
	dns := fakedns.Start(t)
	dns.SetAddrs("routers.zroute.test", "127.0.0.1", "127.0.0.2", "127.0.0.3")
	logs, _ := serveNamed(t, dns, &zroute.Worker{}, fmt.Sprintf("tcp://routers.zroute.test:%d", port))
	var sessions []*fakerouter.Session
	for i, r := range routers {
		sessions = append(sessions, r.Accept(fakerouter.Welcome{}))
		// Established: a socket still waiting for WELCOME would be closed
		// without GOAWAY.
		untouched(t, sessions[i], uint32(2*i+1))
	}
	dns.SetAddrs("routers.zroute.test", "127.0.0.1", "127.0.0.3")
	g := sessions[1].Expect("GOAWAY", isType[*zroute.GoAway]).(*zroute.GoAway)
	if g.Status != zroute.GoAwayOK || g.LastGoodStreamID != 0 {
		t.Fatalf("GOAWAY(%d, %v), want GOAWAY(0, OK)", g.LastGoodStreamID, g.Status)
	}
	logs.waitCount("drained: closing the socket", 1)
	// Two more lookups later, no socket has registered there again.
	lookups(dns, 2)
	noHello(t, routers[1])
	untouched(t, sessions[0], 1)
	untouched(t, sessions[2], 3)
}

// A failed lookup (SERVFAIL, then NXDOMAIN) keeps every session, and each run
// of failures is logged once, as is the recovery.
func TestDiscoveryLookupFailureKeepsSessions(t *testing.T) {
	routers, port := routersOnOnePort(t, 2)
	dns := fakedns.Start(t)
	const name = "routers.zroute.test"
	dns.SetAddrs(name, "127.0.0.1", "127.0.0.2")
	logs, _ := serveNamed(t, dns, &zroute.Worker{}, fmt.Sprintf("tcp://%s:%d", name, port))
	var sessions []*fakerouter.Session
	for _, r := range routers {
		sessions = append(sessions, r.Accept(fakerouter.Welcome{}))
	}

	// SERVFAIL for at least three lookups (Go's resolver asks up to
	// "attempts" times per lookup, 2 by default, so wait for 6 questions).
	dns.SetServfail(true)
	dns.Wait("SERVFAIL lookups", func() bool {
		return dns.Count(dnsmessage.TypeA, dnsmessage.RCodeServerFailure) >= 6
	})
	dns.SetServfail(false)
	logs.waitCount("lookup succeeded again", 1)
	if n := logs.count("lookup failed"); n != 1 {
		t.Fatalf("%d log lines for one run of SERVFAIL lookups, want 1", n)
	}
	if n := logs.count("endpoint=tcp://" + name); n < 2 {
		t.Errorf("the failure and recovery lines do not name the endpoint")
	}

	// NXDOMAIN: the name is gone (three lookups; no retry on NXDOMAIN).
	dns.Remove(name)
	dns.Wait("NXDOMAIN lookups", func() bool {
		return dns.Count(dnsmessage.TypeA, dnsmessage.RCodeNameError) >= 3
	})
	dns.SetAddrs(name, "127.0.0.1", "127.0.0.2")
	logs.waitCount("lookup succeeded again", 2)
	if n := logs.count("lookup failed"); n != 2 {
		t.Fatalf("%d failure lines after two runs of failures, want 2", n)
	}
	if n := logs.count("draining"); n != 0 {
		t.Fatalf("a session was drained")
	}
	for i, s := range sessions {
		untouched(t, s, uint32(2*i+1))
	}
}

// dns+srv:// looks up SRV records, then each target's addresses; each
// record gives its own port.
func TestDiscoverySRV(t *testing.T) {
	r1, r2 := fakerouter.New(t), fakerouter.New(t)
	portOf := func(r *fakerouter.Router) uint16 {
		_, p, _ := net.SplitHostPort(strings.TrimPrefix(r.Endpoint, "tcp://"))
		n, _ := strconv.ParseUint(p, 10, 16)
		return uint16(n)
	}
	dns := fakedns.Start(t)
	const name = "_zroute._tcp.routers.zroute.test"
	dns.SetAddrs("a.routers.zroute.test", "127.0.0.1")
	dns.SetAddrs("b.routers.zroute.test", "127.0.0.1")
	dns.SetSRV(name,
		fakedns.SRV{Port: portOf(r1), Target: "a.routers.zroute.test"},
		fakedns.SRV{Port: portOf(r2), Target: "b.routers.zroute.test"})
	serveNamed(t, dns, &zroute.Worker{}, "dns+srv://"+name)
	s1 := r1.Accept(fakerouter.Welcome{})
	s2 := r2.Accept(fakerouter.Welcome{})
	untouched(t, s2, 1) // established
	// The second record goes: its session drains, the first goes on.
	dns.SetSRV(name, fakedns.SRV{Port: portOf(r1), Target: "a.routers.zroute.test"})
	g := s2.Expect("GOAWAY", isType[*zroute.GoAway]).(*zroute.GoAway)
	if g.Status != zroute.GoAwayOK {
		t.Fatalf("GOAWAY(%d, %v), want status OK", g.LastGoodStreamID, g.Status)
	}
	n := dns.Count(dnsmessage.TypeSRV, dnsmessage.RCodeSuccess)
	dns.Wait("two SRV lookups", func() bool { return dns.Count(dnsmessage.TypeSRV, dnsmessage.RCodeSuccess) >= n+2 })
	noHello(t, r2)
	untouched(t, s1, 1)
}

// A router endpoint that leaves the answer and comes back while its old
// session drains: the old session finishes its stream, a new socket
// registers beside it.
func TestDiscoveryLeaveAndReturnWhileDraining(t *testing.T) {
	routers, port := routersOnOnePort(t, 2)
	dns := fakedns.Start(t)
	dns.SetAddrs("routers.zroute.test", "127.0.0.1", "127.0.0.2")
	h := newBlocking()
	serveNamed(t, dns, &zroute.Worker{Handler: h}, fmt.Sprintf("tcp://routers.zroute.test:%d", port))
	routers[0].Accept(fakerouter.Welcome{})
	old := routers[1].Accept(fakerouter.Welcome{})
	id := old.Open(fakerouter.Request("GET", "/busy"), true)
	waitFor(t, h.started, "handler start")

	dns.SetAddrs("routers.zroute.test", "127.0.0.1")
	g := old.Expect("GOAWAY", isType[*zroute.GoAway]).(*zroute.GoAway)
	if g.Status != zroute.GoAwayOK || g.LastGoodStreamID != id {
		t.Fatalf("GOAWAY(%d, %v), want GOAWAY(%d, OK)", g.LastGoodStreamID, g.Status, id)
	}
	dns.SetAddrs("routers.zroute.test", "127.0.0.1", "127.0.0.2")
	s := routers[1].Accept(fakerouter.Welcome{})
	if s.Peer == old.Peer {
		t.Fatalf("registered again on the draining socket")
	}
	close(h.release)
	if resp := old.Exchange(id, nil, 0, nil); string(resp.Body) != "done /busy" {
		t.Fatalf("the draining session's stream: %q", resp.Body)
	}
	untouched(t, s, 1)
}

// The worker's own drain stops the lookups and drains every session.
func TestDiscoveryShutdownDrainsEverySession(t *testing.T) {
	routers, port := routersOnOnePort(t, 2)
	dns := fakedns.Start(t)
	dns.SetAddrs("routers.zroute.test", "127.0.0.1", "127.0.0.2")
	w := &zroute.Worker{}
	_, sv := serveNamed(t, dns, w, fmt.Sprintf("tcp://routers.zroute.test:%d", port))
	var sessions []*fakerouter.Session
	for i, r := range routers {
		sessions = append(sessions, r.Accept(fakerouter.Welcome{}))
		untouched(t, sessions[i], uint32(2*i+1)) // established
	}
	shut := make(chan error, 1)
	go func() { shut <- w.Shutdown(context.Background()) }()
	for _, s := range sessions {
		g := s.Expect("GOAWAY", isType[*zroute.GoAway]).(*zroute.GoAway)
		if g.Status != zroute.GoAwayOK {
			t.Fatalf("GOAWAY(%d, %v), want status OK", g.LastGoodStreamID, g.Status)
		}
	}
	if err := waitFor(t, shut, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Serve returns once every loop, the lookups included, has ended.
	waitFor(t, sv.done, "Serve to return")
	if !errors.Is(sv.err, zroute.ErrWorkerClosed) {
		t.Fatalf("Serve: %v", sv.err)
	}
	before := dns.Count(dnsmessage.TypeA, dnsmessage.RCodeSuccess)
	for _, r := range routers {
		noHello(t, r)
	}
	if after := dns.Count(dnsmessage.TypeA, dnsmessage.RCodeSuccess); after != before {
		t.Errorf("lookups after Shutdown")
	}
}

// Malformed endpoints and discovery settings are refused by Serve at once,
// with an error that names them.
func TestEndpointConfigErrors(t *testing.T) {
	for _, c := range []struct{ endpoint, want string }{
		{"dns+srv://_zroute._tcp.routers.test:8000", "no port"},
		{"dns+srv://_zroute._tcp.routers.test/x", "no path"},
		{"dns+srv://routers.test", "_service._tcp.name"},
		{"dns+srv://_zroute._udp.routers.test", "_service._tcp.name"},
		{"tcp://routers.test", "needs a port"},
		{"tcp://routers.test:", "needs a port"},
		{"tcp://127.0.0.1", "needs a port"},
		{"tcp://[::1]", "needs a port"},
		{"tcp://routers.test:http", "1 to 65535"},
		{"tcp://routers.test:0", "1 to 65535"},
	} {
		err := zroute.CheckEndpoint(c.endpoint)
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(c.endpoint)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckEndpoint(%q) = %v, want an error naming it and saying %q", c.endpoint, err, c.want)
		}
		w := &zroute.Worker{ID: "w1", Logger: slog.New(slog.DiscardHandler)}
		if err2 := w.Serve("tcp://127.0.0.1:1", c.endpoint); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("Serve(%q) = %v, want %v", c.endpoint, err2, err)
		}
	}
	for _, ok := range []string{"tcp://127.0.0.1:8000", "tcp://[::1]:8000", "tcp://routers.test:8000",
		"tcp://routers.test.:8000", "dns+srv://_zroute._tcp.routers.test", "dns+srv://_zroute._tcp.routers.test.",
		"ipc:///tmp/zroute.sock"} {
		if err := zroute.CheckEndpoint(ok); err != nil {
			t.Errorf("CheckEndpoint(%q): %v", ok, err)
		}
	}
	// Discovery settings are checked when an endpoint is named.
	w := &zroute.Worker{ID: "w1", Nameserver: "localhost:53", Logger: slog.New(slog.DiscardHandler)}
	if err := w.Serve("tcp://routers.test:8000"); err == nil || !strings.Contains(err.Error(), `"localhost:53"`) {
		t.Errorf("Serve with a nameserver that is not IP:PORT: %v", err)
	}
	t.Setenv(zroute.ResolveIntervalEnv, "soon")
	w = &zroute.Worker{ID: "w1", Logger: slog.New(slog.DiscardHandler)}
	if err := w.Serve("tcp://routers.test:8000"); err == nil || !strings.Contains(err.Error(), zroute.ResolveIntervalEnv) {
		t.Errorf("Serve with %s=soon: %v", zroute.ResolveIntervalEnv, err)
	}
}

// A name with A and AAAA records is served on its IPv4 addresses only; a
// name with AAAA records only, on its IPv6 addresses.
func TestDiscoveryPrefersIPv4(t *testing.T) {
	v4 := fakerouter.New(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(v4.Endpoint, "tcp://"))
	v6, err := fakerouter.Listen(t, "tcp://[::1]:"+port)
	if err != nil {
		t.Skipf("no IPv6 loopback with that port: %v", err)
	}
	dns := fakedns.Start(t)
	dns.SetAddrs("both.zroute.test", "::1", "127.0.0.1")
	dns.SetAddrs("six.zroute.test", "::1")
	serveNamed(t, dns, &zroute.Worker{}, "tcp://both.zroute.test:"+port, "tcp://six.zroute.test:"+port)
	s4 := v4.Accept(fakerouter.Welcome{})
	s6 := v6.Accept(fakerouter.Welcome{}) // six.zroute.test's
	lookups(dns, 4)
	untouched(t, s4, 1)
	untouched(t, s6, 3) // and no second HELLO at [::1]: both.zroute.test's AAAA is unused
}

// A socket still waiting to register when its address leaves the answer is
// closed at once, and never registers again.
func TestDiscoveryRemovedWhileRegistering(t *testing.T) {
	routers, port := routersOnOnePort(t, 2)
	dns := fakedns.Start(t)
	dns.SetAddrs("routers.zroute.test", "127.0.0.1", "127.0.0.2")
	w := &zroute.Worker{HandshakeTimeout: time.Minute}
	logs, _ := serveNamed(t, dns, w, fmt.Sprintf("tcp://routers.zroute.test:%d", port))
	s1 := routers[0].Accept(fakerouter.Welcome{})
	// The second router never answers the HELLO.
	hello := routers[1].Expect("", "HELLO", isType[*zroute.Hello])
	dns.SetAddrs("routers.zroute.test", "127.0.0.1")
	logs.waitCount("handshake failed: the router endpoint left the DNS answer", 1)
	lookups(dns, 2)
	for _, m := range routers[1].Received("") {
		t.Fatalf("frame from %s (HELLO from %s) after the address left: %T", m.Peer, hello.Peer, m.Frame)
	}
	untouched(t, s1, 1)
}
