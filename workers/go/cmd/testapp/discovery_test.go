package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"zroute.example/worker/internal/fakedns"
	"zroute.example/worker/internal/fakerouter"
	"zroute.example/worker/zroute"
)

// The app follows a named endpoint with the nameserver and resolve interval
// of its flags, else of the environment (Appendix A.1), and announces the
// feature "discovery".
func TestNamedEndpoint(t *testing.T) {
	for _, how := range []string{"flags", "env"} {
		t.Run(how, func(t *testing.T) {
			r1 := fakerouter.New(t)
			_, port, _ := net.SplitHostPort(strings.TrimPrefix(r1.Endpoint, "tcp://"))
			r2, err := fakerouter.Listen(t, "tcp://127.0.0.2:"+port)
			if err != nil {
				t.Skipf("127.0.0.2:%s: %v", port, err)
			}
			dns := fakedns.Start(t)
			dns.SetAddrs("routers.zroute.test", "127.0.0.1")
			args := []string{"app-1", "--connect", "tcp://routers.zroute.test:" + port, "--log-level", "error"}
			if how == "flags" {
				args = append(args, "--nameserver", dns.Addr, "--resolve-interval", "200")
			} else {
				t.Setenv(zroute.NameserverEnv, dns.Addr)
				t.Setenv(zroute.ResolveIntervalEnv, "200")
			}
			code := make(chan int, 1)
			go func() { code <- run(args) }()
			s := r1.Accept(fakerouter.Welcome{})
			if v, _ := s.Hello.Attributes.Get("feature"); !strings.Contains(v+"\x00", "discovery\x00") {
				t.Errorf("feature %q has no discovery", v)
			}
			// A second router joins the name: the app registers there
			// within the 200 ms interval (the default is 5 s).
			changed := time.Now()
			dns.SetAddrs("routers.zroute.test", "127.0.0.1", "127.0.0.2")
			s2 := r2.Accept(fakerouter.Welcome{})
			if d := time.Since(changed); d > 2*time.Second {
				t.Errorf("registered with the new router after %v", d)
			}
			// Both sessions are established (a session still waiting for
			// WELCOME would be closed without GOAWAY).
			for _, s := range []*fakerouter.Session{s, s2} {
				s.Send(&zroute.Ping{ID: 1})
				s.Expect("PING echo", func(f zroute.Frame) bool { p, ok := f.(*zroute.Ping); return ok && p.ID == 1 })
			}
			// SIGTERM drains both sessions; run, whose signal.Notify
			// catches it, returns 0.
			syscall.Kill(os.Getpid(), syscall.SIGTERM)
			for _, r := range []*fakerouter.Router{r1, r2} {
				g := r.Expect("", "GOAWAY", func(f zroute.Frame) bool { _, ok := f.(*zroute.GoAway); return ok }).Frame.(*zroute.GoAway)
				if g.Status != zroute.GoAwayOK {
					t.Errorf("%s: GOAWAY %v", r.Endpoint, g.Status)
				}
			}
			select {
			case c := <-code:
				if c != 0 {
					t.Fatalf("exit %d", c)
				}
			case <-time.After(fakerouter.Timeout):
				t.Fatal("the app did not stop on SIGTERM")
			}
		})
	}
}

// A malformed endpoint stops the app at start, naming it.
func TestEndpointRefused(t *testing.T) {
	for _, ep := range []string{"dns+srv://_zroute._tcp.routers.test:8000", "tcp://routers.test"} {
		code, stderr := runCaptured(t, []string{"app-1", "--connect", ep})
		if code != 2 || !strings.Contains(stderr, fmt.Sprintf("%q", ep)) {
			t.Errorf("%s: exit %d, stderr %q", ep, code, stderr)
		}
	}
}
