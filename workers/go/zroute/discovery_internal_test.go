package zroute

import "testing"

// §3.5: an IP literal or ipc:// is static, a DNS name is named.
func TestParseEndpoint(t *testing.T) {
	for _, c := range []struct {
		text string
		want endpoint
	}{
		{"tcp://127.0.0.1:8000", endpoint{}},
		{"tcp://[::1]:8000", endpoint{}},
		{"tcp://*:8000", endpoint{}},
		{"ipc:///tmp/zroute.sock", endpoint{}},
		{"tcp://routers.example:8000", endpoint{named: true, host: "routers.example", port: 8000}},
		{"tcp://zroute-router:8000", endpoint{named: true, host: "zroute-router", port: 8000}},
		{"dns+srv://_zroute._tcp.routers.example.", endpoint{named: true, srv: true, host: "_zroute._tcp.routers.example."}},
	} {
		got, err := parseEndpoint(c.text)
		c.want.text = c.text
		if err != nil || got != c.want {
			t.Errorf("parseEndpoint(%q) = %+v, %v; want %+v", c.text, got, err, c.want)
		}
	}
}
