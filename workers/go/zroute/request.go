package zroute

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// RequestInfo describes the stream behind a request, as received.
type RequestInfo struct {
	// StreamID is the stream id within its session.
	StreamID uint32
	// Method, Path, Version, Host and Scheme are the values of the
	// pseudo-headers :method, :path, :version, :host and :scheme (§8.2).
	Method, Path, Version, Host, Scheme string
	// Protocol is :protocol: "websocket" on a WebSocket stream (§8.8.1).
	Protocol string
	// Header is the SYN_STREAM name/value block as received (lowercase
	// names, NUL-joined values), pseudo-headers included.
	Header Block
}

type streamInfoKey struct{}

// Info returns the RequestInfo of a request served by a Worker, or nil.
func Info(r *http.Request) *RequestInfo {
	info, _ := r.Context().Value(streamInfoKey{}).(*RequestInfo)
	return info
}

func requestInfo(r *http.Request, f *SynStream) *RequestInfo {
	info := &RequestInfo{StreamID: f.StreamID, Header: f.Header}
	info.Method, _ = f.Header.Get(":method")
	info.Path, _ = f.Header.Get(":path")
	info.Version, _ = f.Header.Get(":version")
	info.Host, _ = f.Header.Get(":host")
	info.Scheme, _ = f.Header.Get(":scheme")
	info.Protocol, _ = f.Header.Get(":protocol")
	return info
}

// forbiddenField reports a hop-by-hop field of §8.4.
func forbiddenField(name, value string) bool {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return true
	case "te":
		return value != "trailers"
	}
	return false
}

// parseContentLength validates a content-length value (§8.6): a non-empty
// string of ASCII digits of at most 2^64-1. Values above 2^63-1 are
// returned as -1 (unknown length for net/http) with ok true.
func parseContentLength(v string) (int64, bool) {
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	u, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false
	}
	if u > 1<<63-1 {
		return -1, true
	}
	return int64(u), true
}

// splitValues splits a NUL-joined value into its field lines (§8.1).
func splitValues(v string) []string {
	return strings.Split(v, "\x00")
}

var errBadRequestHead = errors.New("bad request head")

// newRequest maps a SYN_STREAM onto an http.Request (§8.2), checking the
// required pseudo-headers, hop-by-hop fields and content-length. Body and
// context are set by the caller.
func (s *session) newRequest(f *SynStream) (*http.Request, error) {
	pseudo := map[string]string{}
	for _, name := range []string{":method", ":path", ":version", ":host", ":scheme"} {
		v, ok := f.Header.Get(name)
		if !ok {
			return nil, fmt.Errorf("%w: missing %s", errBadRequestHead, name)
		}
		if strings.IndexByte(v, 0) >= 0 {
			return nil, fmt.Errorf("%w: %s has several values", errBadRequestHead, name)
		}
		pseudo[name] = v
	}
	method, path, version := pseudo[":method"], pseudo[":path"], pseudo[":version"]
	if method == "" || path == "" {
		return nil, fmt.Errorf("%w: empty :method or :path", errBadRequestHead)
	}
	if p, ok := f.Header.Get(":protocol"); ok {
		// §8.8.1: a WebSocket opens with a GET, without FIN or content-length.
		_, hasCL := f.Header.Get("content-length")
		if p != "websocket" || method != "GET" || f.Flags&FlagFin != 0 || hasCL {
			return nil, fmt.Errorf("%w: :protocol %q on a %s stream", errBadRequestHead, p, method)
		}
	}
	r := &http.Request{
		Method:     method,
		RequestURI: path,
		Proto:      version,
		Header:     make(http.Header),
		Host:       pseudo[":host"],
		Trailer:    make(http.Header),
	}
	switch version {
	case "HTTP/2":
		r.ProtoMajor, r.ProtoMinor = 2, 0
	default:
		var ok bool
		if r.ProtoMajor, r.ProtoMinor, ok = http.ParseHTTPVersion(version); !ok {
			r.ProtoMajor, r.ProtoMinor = 1, 1
		}
	}
	var err error
	if path == "*" {
		r.URL = &url.URL{Path: "*"}
	} else if r.URL, err = url.ParseRequestURI(path); err != nil {
		return nil, fmt.Errorf("%w: :path %q: %v", errBadRequestHead, path, err)
	}
	r.ContentLength = -1
	for _, fl := range f.Header {
		if fl.Name[0] == ':' {
			continue // known ones used above, unknown ones ignored (§8.2)
		}
		if forbiddenField(fl.Name, fl.Value) {
			return nil, fmt.Errorf("%w: hop-by-hop field %s", errBadRequestHead, fl.Name)
		}
		switch fl.Name {
		case "host":
			continue // §8.2: ignored
		case "content-length":
			cl, ok := parseContentLength(fl.Value)
			if !ok {
				return nil, fmt.Errorf("%w: content-length %q", errBadRequestHead, fl.Value)
			}
			if f.Flags&FlagFin != 0 && cl != 0 {
				return nil, fmt.Errorf("%w: content-length %q without a body", errBadRequestHead, fl.Value)
			}
			r.ContentLength = cl
		}
		r.Header[textproto.CanonicalMIMEHeaderKey(fl.Name)] = splitValues(fl.Value)
	}
	if f.Flags&FlagFin != 0 {
		r.ContentLength = 0
	}
	// Announced trailer names, as net/http does for server requests.
	for _, v := range r.Header.Values("Trailer") {
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				r.Trailer[http.CanonicalHeaderKey(k)] = nil
			}
		}
	}
	// RemoteAddr: the TCP peer of the router, the last element of
	// x-forwarded-for (§8.5), which a worker reached only through the
	// router may trust (§14.3).
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		last := xff[len(xff)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if ip := strings.TrimSpace(last); ip != "" {
			r.RemoteAddr = net.JoinHostPort(ip, "0")
		}
	}
	r = r.WithContext(context.Background())
	return r, nil
}
