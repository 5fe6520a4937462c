package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const integrationTimeout = 20 * time.Second

// logWatch collects JSON log lines of a child process and lets a test wait
// for a line that matches.
type logWatch struct {
	mu    sync.Mutex
	lines []map[string]any
	cond  chan struct{}
	t     *testing.T
	name  string
}

func watch(t *testing.T, name string, r io.Reader) *logWatch {
	w := &logWatch{cond: make(chan struct{}), t: t, name: name}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if testing.Verbose() {
				t.Logf("%s: %s", name, line)
			}
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			w.mu.Lock()
			w.lines = append(w.lines, m)
			close(w.cond)
			w.cond = make(chan struct{})
			w.mu.Unlock()
		}
	}()
	return w
}

// waitFor returns the first line (from the start) for which match is true.
func (w *logWatch) waitFor(what string, match func(map[string]any) bool) map[string]any {
	w.t.Helper()
	deadline := time.After(integrationTimeout)
	seen := 0
	for {
		w.mu.Lock()
		lines, cond := w.lines, w.cond
		w.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if match(lines[seen]) {
				return lines[seen]
			}
		}
		select {
		case <-cond:
		case <-deadline:
			w.t.Fatalf("%s: timed out waiting for %s", w.name, what)
		}
	}
}

// routerField reads fields.<name> of a router log line (tracing JSON).
// routerAndApp skips the test unless ZROUTE_ROUTER_BIN names the router
// binary; it copies that binary and builds the test app into a fresh
// directory, and returns both paths and the directory.
func routerAndApp(t *testing.T) (router, app, dir string) {
	t.Helper()
	bin := os.Getenv("ZROUTE_ROUTER_BIN")
	if bin == "" {
		t.Skip("ZROUTE_ROUTER_BIN not set")
	}
	dir = t.TempDir()
	return copyRouter(t, bin, dir), buildTestapp(t, dir), dir
}

// startRouter runs the router binary on loopback with JSON logs and extra
// flags, and returns it once it reports its HTTP address and workers endpoint.
func startRouter(t *testing.T, router string, extra ...string) (cmd *exec.Cmd, log *logWatch, httpAddr, endpoint string) {
	t.Helper()
	args := append([]string{"--http", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--workers", "tcp://127.0.0.1:*", "--log-format", "json"}, extra...)
	cmd = exec.Command(router, args...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	log = watch(t, "router", stderr)
	httpAddr = routerField(log.waitFor("http listening", func(m map[string]any) bool {
		return routerField(m, "message") == "http listening"
	}), "addr")
	endpoint = routerField(log.waitFor("workers endpoint bound", func(m map[string]any) bool {
		return routerField(m, "message") == "workers endpoint bound"
	}), "endpoint")
	return cmd, log, httpAddr, endpoint
}

func routerField(m map[string]any, name string) string {
	f, _ := m["fields"].(map[string]any)
	s, _ := f[name].(string)
	return s
}

// copyRouter copies the router binary into dir and returns the copy's path:
// the binary may be rebuilt by others at any moment.
func copyRouter(t *testing.T, bin, dir string) string {
	t.Helper()
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	router := filepath.Join(dir, "zroute-router")
	if err := os.WriteFile(router, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	return router
}

// buildTestapp builds this test app into dir, with the build tags of the
// test binary (so `go test -tags libzmq` runs it on the libzmq transport).
func buildTestapp(t *testing.T, dir string) string {
	t.Helper()
	app := filepath.Join(dir, "testapp")
	args := append([]string{"build"}, testappBuildFlags...)
	if out, err := exec.Command("go", append(args, "-o", app, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return app
}

// TestIntegration runs the test app against the real router named by
// ZROUTE_ROUTER_BIN and requests every route of Appendix A over HTTP.
func TestIntegration(t *testing.T) {
	router, app, _ := routerAndApp(t)

	_, rlog, httpAddr, endpoint := startRouter(t, router)
	t.Logf("router: http %s, workers %s", httpAddr, endpoint)

	acmd := exec.Command(app, "w-int", "--connect", endpoint, "--log-format", "json", "--log-level", "debug")
	aerr, _ := acmd.StderrPipe()
	if err := acmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	t.Cleanup(func() {
		acmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(integrationTimeout):
		}
	})
	alog := watch(t, "testapp", aerr)
	go func() { exitErr = acmd.Wait(); close(exited) }()
	alog.waitFor("registration", func(m map[string]any) bool { return m["msg"] == "registered" })

	base := "http://" + httpAddr
	client := &http.Client{Timeout: integrationTimeout}
	do := func(method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Add(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: body: %v", method, path, err)
		}
		return resp, b
	}
	expect := func(method, path string, status int, wantBody string, wantCT string) {
		t.Helper()
		resp, b := do(method, path, nil)
		if resp.StatusCode != status || (wantBody != "\x00" && string(b) != wantBody) {
			t.Errorf("%s %s: %d %q, want %d %q", method, path, resp.StatusCode, b, status, wantBody)
		}
		if wantCT != "" && !strings.HasPrefix(resp.Header.Get("Content-Type"), wantCT) {
			t.Errorf("%s %s: content-type %q, want %q", method, path, resp.Header.Get("Content-Type"), wantCT)
		}
	}

	t.Run("hello", func(t *testing.T) { expect("GET", "/hello", 200, "Hello from w-int", "text/plain") })
	t.Run("not-found", func(t *testing.T) {
		expect("GET", "/nope", 404, "not found", "text/plain")
		expect("POST", "/hello", 404, "not found", "")
	})
	t.Run("status", func(t *testing.T) {
		expect("GET", "/status/201", 201, "", "")
		expect("GET", "/status/204", 204, "", "")
		expect("GET", "/status/418", 418, "", "")
		expect("GET", "/status/503", 503, "", "")
		expect("GET", "/status/99", 400, "", "")
		expect("GET", "/status/600", 400, "", "")
		expect("GET", "/status/abc", 400, "", "")
		expect("GET", "/status/x/204", 400, "", "") // A.5: the code is the whole rest of the path
	})
	t.Run("echo", func(t *testing.T) {
		body := make([]byte, 400*1024) // larger than both windows together
		rand.Read(body)
		resp, b := do("POST", "/echo", bytes.NewReader(body), "Content-Type", "application/x-test")
		if resp.StatusCode != 200 || !bytes.Equal(b, body) {
			t.Errorf("echo: %d, %d bytes back of %d", resp.StatusCode, len(b), len(body))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-test" {
			t.Errorf("echo content-type %q", ct)
		}
		resp, b = do("POST", "/echo", strings.NewReader(""))
		if resp.StatusCode != 200 || len(b) != 0 || resp.Header.Get("Content-Type") != "application/octet-stream" {
			t.Errorf("empty echo: %d %q %q", resp.StatusCode, b, resp.Header.Get("Content-Type"))
		}
	})
	t.Run("headers", func(t *testing.T) {
		for _, method := range []string{"GET", "POST"} {
			resp, b := do(method, "/headers?x=1", strings.NewReader(""), "X-Multi", "a", "X-Multi", "b")
			var h struct {
				Method, Path, Version, Host, Scheme string
				Headers                             map[string][]string
			}
			if err := json.Unmarshal(b, &h); err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s /headers: %d %v %s", method, resp.StatusCode, err, b)
			}
			if resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("content-type %q", resp.Header.Get("Content-Type"))
			}
			if h.Method != method || h.Path != "/headers?x=1" || h.Version != "HTTP/1.1" || h.Host != httpAddr || h.Scheme != "http" {
				t.Errorf("%s /headers: %+v", method, h)
			}
			if got := h.Headers["x-multi"]; len(got) != 2 || got[0] != "a" || got[1] != "b" {
				t.Errorf("x-multi %q", got)
			}
			if len(h.Headers["x-request-id"]) != 1 || len(h.Headers["x-forwarded-for"]) != 1 {
				t.Errorf("router-added fields missing: %v", h.Headers)
			}
		}
	})
	t.Run("stream", func(t *testing.T) {
		resp, b := do("GET", "/stream?n=30&size=1000", nil)
		want := ""
		for k := range 30 {
			want += strings.Repeat(string(rune('a'+k%26)), 1000)
		}
		if resp.StatusCode != 200 || string(b) != want {
			t.Errorf("stream: %d, %d bytes", resp.StatusCode, len(b))
		}
		resp, b = do("GET", "/stream", nil)
		if resp.StatusCode != 200 || len(b) != 10*1024 {
			t.Errorf("stream defaults: %d, %d bytes", resp.StatusCode, len(b))
		}
		resp, b = do("GET", "/stream?n=2&size=65536", nil)
		if resp.StatusCode != 200 || len(b) != 2*65536 {
			t.Errorf("stream size 65536: %d, %d bytes", resp.StatusCode, len(b))
		}
		expect("GET", "/stream?n=0", 200, "", "")
		expect("GET", "/stream?size=0", 400, "", "")
		expect("GET", "/stream?size=65537", 400, "", "")
		expect("GET", "/stream?n=x", 400, "", "")
	})
	t.Run("large", func(t *testing.T) {
		resp, b := do("GET", "/large?bytes=1000000", nil)
		if resp.StatusCode != 200 || resp.ContentLength != 1000000 || len(b) != 1000000 {
			t.Fatalf("large: %d cl=%d len=%d", resp.StatusCode, resp.ContentLength, len(b))
		}
		for i, c := range b {
			if c != byte(i) {
				t.Fatalf("byte %d is %d", i, c)
			}
		}
		resp, b = do("GET", "/large", nil)
		if resp.ContentLength != 1<<20 || len(b) != 1<<20 {
			t.Errorf("large default: cl=%d len=%d", resp.ContentLength, len(b))
		}
		expect("GET", "/large?bytes=0", 200, "", "")
	})
	t.Run("trailers", func(t *testing.T) {
		resp, b := do("GET", "/trailers", nil, "TE", "trailers")
		if resp.StatusCode != 200 || string(b) != "ok" || resp.Trailer.Get("X-Trailer") != "done" {
			t.Errorf("trailers: %d %q %v", resp.StatusCode, b, resp.Trailer)
		}
	})
	t.Run("drain-body", func(t *testing.T) {
		body := make([]byte, 250000)
		resp, b := do("POST", "/drain-body", bytes.NewReader(body))
		if resp.StatusCode != 200 || string(b) != "250000" {
			t.Errorf("drain-body: %d %q", resp.StatusCode, b)
		}
		expect("POST", "/drain-body", 200, "0", "")
	})
	t.Run("slow", func(t *testing.T) {
		expect("GET", "/slow?ms=50", 200, "slow", "")
		expect("GET", "/slow", 400, "", "")
		// The client goes away: the router resets the stream (CANCEL) and
		// the app abandons the wait.
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/slow?ms=60000", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("slow request answered %d", resp.StatusCode)
		}
		alog.waitFor("RST_STREAM(CANCEL)", func(m map[string]any) bool {
			return m["msg"] == "stream reset by the router" && m["status"] == "CANCEL"
		})
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := "/hello"
				if i%2 == 1 {
					path = "/large?bytes=" + strconv.Itoa(100000+i)
				}
				resp, b := do("GET", path, nil)
				if resp.StatusCode != 200 || (i%2 == 1 && len(b) != 100000+i) {
					t.Errorf("concurrent %s: %d %d", path, resp.StatusCode, len(b))
				}
			}()
		}
		wg.Wait()
	})

	// SIGTERM drains the session (§9.7) and the app exits 0.
	acmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if exitErr != nil {
			t.Errorf("testapp exit: %v", exitErr)
		}
	case <-time.After(integrationTimeout):
		t.Fatalf("testapp did not exit after SIGTERM")
	}
	rlog.waitFor("router forgets the session", func(m map[string]any) bool {
		return strings.Contains(routerField(m, "message"), "session ended")
	})
	resp, _ := do("GET", "/hello", nil)
	if resp.StatusCode != 503 {
		t.Errorf("after drain: %d, want 503", resp.StatusCode)
	}
}
