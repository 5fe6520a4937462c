//go:build !libzmq

package main

import (
	"strings"
	"testing"
)

var testappBuildFlags []string

// Without the libzmq transport, CURVE options stop the app at start with
// a message that says how to build it.
func TestCurveNeedsLibzmqBuild(t *testing.T) {
	for name, c := range map[string]struct {
		args []string
		env  [2]string
	}{
		"flags": {args: []string{"--curve-server-key", "router.pub", "--curve-key", "w.key"}},
		"env":   {env: [2]string{"ZROUTE_CURVE_SERVER_KEY", "router.pub"}},
	} {
		t.Run(name, func(t *testing.T) {
			if c.env[0] != "" {
				t.Setenv(c.env[0], c.env[1])
			}
			code, stderr := runCaptured(t, append([]string{"w"}, c.args...))
			if code != 2 || !strings.Contains(stderr, "-tags libzmq") || !strings.Contains(stderr, "libzmq3-dev") {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
		})
	}
}
