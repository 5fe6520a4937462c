package zroute

import (
	"fmt"
	"strings"
)

// ValidID reports whether id is a valid worker id: 1 to 128 bytes, each
// visible ASCII 0x21 to 0x7E (§5.10).
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// ValidRoute reports whether r matches the route grammar of §12.1.
func ValidRoute(r string) bool {
	if strings.HasPrefix(r, "/") {
		return validPathPrefix(r)
	}
	host, path, hasPath := strings.Cut(r, "/")
	if hasPath && !validPathPrefix("/"+path) {
		return false
	}
	host = strings.TrimPrefix(host, "*.")
	if len(host) == 0 || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func validPathPrefix(p string) bool {
	for i := 1; i < len(p); i++ {
		c := p[i]
		if c < 0x21 || c > 0x7e || c == '#' || c == '?' {
			return false
		}
	}
	return true
}

// validate checks the HELLO content a worker announces.
func (w *Worker) validate() error {
	if !ValidID(w.ID) {
		return fmt.Errorf("zroute: invalid worker id %q (1 to 128 visible ASCII bytes)", w.ID)
	}
	for _, r := range w.Routes {
		if !ValidRoute(r) {
			return fmt.Errorf("zroute: invalid route %q (§12.1)", r)
		}
	}
	for _, f := range w.Features {
		if f == "" || strings.ContainsAny(f, "\x00\r\n") {
			return fmt.Errorf("zroute: invalid feature %q", f)
		}
	}
	return nil
}
