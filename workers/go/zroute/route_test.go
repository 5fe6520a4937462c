package zroute_test

import (
	"testing"

	"zroute.example/worker/internal/fakerouter"
	"zroute.example/worker/zroute"
)

func TestValidRoute(t *testing.T) {
	for _, r := range []string{"/", "/api", "/api/v2/", "example.com", "example.com/", "*.example.com/api",
		"api.example.com/api/v2/", "a-b.c0/x!\"$%&'()*+,-./:;<=>@[\\]^_`{|}~"} {
		if !zroute.ValidRoute(r) {
			t.Errorf("%q rejected", r)
		}
	}
	for _, r := range []string{"", "Example.com", "example.com:80", "/a?b", "/a#b", "/a b", "*.", "*/x", "a..b",
		"*.*.example.com", "example.com/a?b", string(make([]byte, 254))} {
		if zroute.ValidRoute(r) {
			t.Errorf("%q accepted", r)
		}
	}
	if zroute.ValidID("") || zroute.ValidID("a b") || !zroute.ValidID("w-1") {
		t.Errorf("ValidID")
	}
}

func TestServeRejectsInvalidHello(t *testing.T) {
	w := &zroute.Worker{ID: "bad id"}
	if err := w.Serve("tcp://127.0.0.1:1"); err == nil {
		t.Fatal("invalid id accepted")
	}
	w = &zroute.Worker{ID: "w", Routes: []string{"/a?b"}}
	if err := w.Serve("tcp://127.0.0.1:1"); err == nil {
		t.Fatal("invalid route accepted")
	}
}

// TestRegisterAtCapacityZero: HELLO cannot carry 0 (§5.10), so the worker
// announces 1 and lowers it with SETTINGS right after WELCOME.
func TestRegisterAtCapacityZero(t *testing.T) {
	r := fakerouter.New(t)
	w := &zroute.Worker{}
	w.SetCapacity(0)
	serve(t, r, w)
	s := r.Accept(fakerouter.Welcome{})
	if s.Hello.MaxConcurrentStreams != 1 {
		t.Fatalf("HELLO capacity %d", s.Hello.MaxConcurrentStreams)
	}
	f := s.Expect("SETTINGS", isType[*zroute.Settings]).(*zroute.Settings)
	if f.Entries[0].ID != zroute.SettingMaxConcurrentStreams || f.Entries[0].Value != 0 {
		t.Fatalf("SETTINGS %+v", f.Entries)
	}
	w.SetCapacity(2)
	f = s.Expect("SETTINGS", isType[*zroute.Settings]).(*zroute.Settings)
	if f.Entries[0].Value != 2 {
		t.Fatalf("SETTINGS %+v", f.Entries)
	}
	id := s.Open(fakerouter.Request("GET", "/hello"), true)
	if resp := s.Exchange(id, nil, 0, nil); resp.Status() != "200" {
		t.Fatalf("status %s", resp.Status())
	}
}
