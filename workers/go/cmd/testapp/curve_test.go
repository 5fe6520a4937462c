//go:build libzmq

package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"zroute.example/worker/libzmq"
)

// keyPair is what `zroute-router keygen --out NAME` wrote.
type keyPair struct{ key, pub, public string }

func keygen(t *testing.T, router, dir, name string) keyPair {
	t.Helper()
	out, err := exec.Command(router, "keygen", "--out", filepath.Join(dir, name)).Output()
	if err != nil {
		t.Fatalf("keygen %s: %v", name, err)
	}
	return keyPair{
		key:    filepath.Join(dir, name+".key"),
		pub:    filepath.Join(dir, name+".pub"),
		public: strings.TrimSpace(string(out)),
	}
}

// startApp starts the test app with extra environment variables and
// returns its JSON log.
func startApp(t *testing.T, app string, env []string, args ...string) *logWatch {
	t.Helper()
	cmd := exec.Command(app, append(args, "--log-format", "json")...)
	cmd.Env = append(os.Environ(), env...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return watch(t, args[0], stderr)
}

// TestCurve runs the real router with CURVE (spec §14.1): a worker whose key
// is in the allowlist registers and serves over the encrypted connection;
// one whose key is not is refused by the router's ZAP handler, and both
// sides say so with that key.
func TestCurve(t *testing.T) {
	router, app, dir := routerAndApp(t)
	routerKeys := keygen(t, router, dir, "router")
	good := keygen(t, router, dir, "good")
	stranger := keygen(t, router, dir, "stranger")

	t.Run("keygen files load", func(t *testing.T) {
		c, err := libzmq.LoadCurve(routerKeys.pub, good.key)
		if err != nil {
			t.Fatal(err)
		}
		if c.ServerKey != routerKeys.public || c.PublicKey != good.public || len(c.SecretKey) != 40 {
			t.Errorf("LoadCurve: %+v, want server %s and public %s", c, routerKeys.public, good.public)
		}
		for _, arg := range []string{routerKeys.public, routerKeys.key} {
			if k, err := libzmq.ReadServerKey(arg); err != nil || k != routerKeys.public {
				t.Errorf("ReadServerKey(%s): %q, %v", arg, k, err)
			}
		}
	})

	allow := filepath.Join(dir, "workers.allow")
	pub, err := os.ReadFile(good.pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(allow, append([]byte("# the listed worker\n"), pub...), 0o644); err != nil {
		t.Fatal(err)
	}
	rcmd, rlog, httpAddr, endpoint := startRouter(t, router, "--curve-key", routerKeys.key, "--curve-allow", allow)

	// The listed worker takes its keys from the flags.
	glog := startApp(t, app, nil, "go-curve", "--connect", endpoint,
		"--curve-server-key", routerKeys.pub, "--curve-key", good.key)
	started := glog.waitFor("start", func(m map[string]any) bool { return m["msg"] == "test app started" })
	if started["transport"] != "libzmq" || started["curve"] != true {
		t.Fatalf("test app started with %v", started)
	}
	glog.waitFor("registration", func(m map[string]any) bool { return m["msg"] == "registered" })
	client := &http.Client{Timeout: integrationTimeout}
	resp, err := client.Get("http://" + httpAddr + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || string(body) != "Hello from go-curve" {
		t.Fatalf("GET /hello: %d %q %v", resp.StatusCode, body, err)
	}

	// The unlisted worker takes its keys from the environment, the server
	// key as its 40 Z85 characters.
	strangerLog := startApp(t, app, []string{
		libzmq.ServerKeyEnv + "=" + routerKeys.public,
		libzmq.KeyEnv + "=" + stranger.key,
	}, "go-stranger", "--connect", endpoint)
	rlog.waitFor("the router to refuse the unlisted key", func(m map[string]any) bool {
		return strings.Contains(routerField(m, "message"), "worker refused") && routerField(m, "key") == stranger.public
	})
	failed := strangerLog.waitFor("the unlisted worker to report the refusal", func(m map[string]any) bool {
		e, _ := m["err"].(string)
		return m["msg"] == "cannot connect" && strings.Contains(e, "allowlist")
	})
	if e := failed["err"].(string); !strings.Contains(e, stranger.public) || !strings.Contains(e, "ZAP status 400") {
		t.Errorf("refusal reported as %q, want the key %s and ZAP status 400", e, stranger.public)
	}

	// A worker without CURVE is told why it cannot connect.
	plainLog := startApp(t, app, nil, "go-plain", "--connect", endpoint)
	plainLog.waitFor("the worker without CURVE to report the mismatch", func(m map[string]any) bool {
		e, _ := m["err"].(string)
		return m["msg"] == "cannot connect" && strings.Contains(e, "mechanism mismatch")
	})

	// Once its key is listed (allowlist reloaded on SIGHUP), the refused
	// worker registers on its next attempt, on a new socket (§14.1).
	spub, err := os.ReadFile(stranger.pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(allow, append(pub, spub...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rcmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rlog.waitFor("the allowlist reload", func(m map[string]any) bool {
		return routerField(m, "message") == "allowlist reloaded"
	})
	strangerLog.waitFor("the formerly unlisted worker to register", func(m map[string]any) bool { return m["msg"] == "registered" })
}
