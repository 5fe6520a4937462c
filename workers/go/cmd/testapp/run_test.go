package main

import (
	"io"
	"os"
	"testing"
)

// runCaptured calls run with stderr redirected and returns its exit code and
// what it wrote.
func runCaptured(t *testing.T, args []string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	code := run(args)
	os.Stderr = saved
	w.Close()
	out, _ := io.ReadAll(r)
	return code, string(out)
}
