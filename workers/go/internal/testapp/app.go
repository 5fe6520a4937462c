// Package testapp implements the routes of the zroute conformance test app
// (spec/PROTOCOL.md, Appendix A) as an http.Handler.
package testapp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"zroute.example/worker/zroute"
)

// Features is the HELLO `feature` list of this app (Appendix A.1, A.9,
// A.11): the worker follows named endpoints (§3.5) and cmd/testapp takes
// --nameserver and --resolve-interval, hence "discovery"; /status/{code}
// takes `reason` (A.5), hence "reason-phrase".
var Features = []string{"trailers", "websocket", "discovery", "reason-phrase"}

// Handler returns the test app for the worker id.
func Handler(id string) http.Handler {
	return &app{id: id}
}

type app struct{ id string }

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if info := zroute.Info(r); info != nil {
		// Routes match the path part of :path, exactly (Appendix A.1).
		path, _, _ = strings.Cut(info.Path, "?")
	}
	if zroute.IsWebSocket(r) {
		// Refused without reading: a WebSocket's messages end only with its close.
		if path != "/ws/echo" {
			text(w, http.StatusNotFound, "not found")
			return
		}
		a.wsEcho(w, r)
		return
	}
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	switch {
	case path == "/echo" && post:
		a.echo(w, r)
		return
	case path == "/drain-body" && post:
		a.drainBody(w, r)
		return
	case path == "/hello" && get:
		// Answered without waiting for the request's FIN (Appendix A.2); the
		// worker discards what the body still brings.
		text(w, http.StatusOK, "Hello from "+a.id)
		return
	}
	// Every other route reads and discards the request body first, so that
	// flow control keeps moving (Appendix A.1).
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return // the stream was reset
	}
	switch {
	case path == "/headers" && (get || post):
		a.headers(w, r)
	case strings.HasPrefix(path, "/status/") && get:
		a.status(w, r, path)
	case path == "/stream" && get:
		a.stream(w, r)
	case path == "/slow" && get:
		a.slow(w, r)
	case path == "/large" && get:
		a.large(w, r)
	case path == "/trailers" && get:
		a.trailers(w)
	default:
		text(w, http.StatusNotFound, "not found")
	}
}

func text(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	io.WriteString(w, body)
}

func badRequest(w http.ResponseWriter) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusBadRequest)
}

// errBadParam marks an invalid or missing parameter: the app answers 400.
var errBadParam = errors.New("bad parameter")

// param returns the numeric query parameter name (Appendix A.1): def if
// absent (or errBadParam if def < 0, meaning required), errBadParam if not
// 1*DIGIT or outside [lo, hi].
// rawParam is the first value of a query parameter, not percent-decoded
// (Appendix A.1), or "" if it is absent.
func rawParam(r *http.Request, name string) string {
	query := r.URL.RawQuery
	if info := zroute.Info(r); info != nil {
		_, query, _ = strings.Cut(info.Path, "?")
	}
	for _, pair := range strings.Split(query, "&") {
		if k, v, _ := strings.Cut(pair, "="); k == name {
			return v
		}
	}
	return ""
}

func param(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	query := r.URL.RawQuery
	if info := zroute.Info(r); info != nil {
		_, query, _ = strings.Cut(info.Path, "?")
	}
	for _, pair := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(pair, "=")
		if k != name {
			continue
		}
		if v == "" || strings.Trim(v, "0123456789") != "" {
			return 0, errBadParam
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return 0, errBadParam
		}
		return n, nil
	}
	if def < 0 {
		return 0, errBadParam
	}
	return def, nil
}

// echo streams the request body back (Appendix A.3).
func (a *app) echo(w http.ResponseWriter, r *http.Request) {
	// Appendix A.3: a non-empty content-type is echoed with all its segments;
	// an empty or missing one becomes application/octet-stream.
	var ct []string
	for _, v := range r.Header.Values("Content-Type") {
		if v != "" {
			ct = append(ct, v)
		}
	}
	if len(ct) == 0 {
		ct = []string{"application/octet-stream"}
	}
	w.Header()["Content-Type"] = ct
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	flusher.Flush()
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			flusher.Flush()
		}
		if err != nil {
			return
		}
	}
}

// drainBody counts the request body, then answers (Appendix A.10).
func (a *app) drainBody(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		return
	}
	text(w, http.StatusOK, strconv.FormatInt(n, 10))
}

// latin1 maps each byte to the code point of the same value (Appendix A.4).
func latin1(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// headers answers the request head as JSON (Appendix A.4).
func (a *app) headers(w http.ResponseWriter, r *http.Request) {
	type head struct {
		Method  string              `json:"method"`
		Path    string              `json:"path"`
		Version string              `json:"version"`
		Host    string              `json:"host"`
		Scheme  string              `json:"scheme"`
		Headers map[string][]string `json:"headers"`
	}
	h := head{Headers: map[string][]string{}}
	if info := zroute.Info(r); info != nil {
		h.Method, h.Path, h.Version = latin1(info.Method), latin1(info.Path), latin1(info.Version)
		h.Host, h.Scheme = latin1(info.Host), latin1(info.Scheme)
		for _, f := range info.Header {
			if strings.HasPrefix(f.Name, ":") {
				continue
			}
			var vs []string
			for _, v := range strings.Split(f.Value, "\x00") {
				vs = append(vs, latin1(v))
			}
			h.Headers[f.Name] = vs
		}
	} else {
		h.Method, h.Path, h.Version, h.Host = r.Method, r.RequestURI, r.Proto, r.Host
		h.Scheme = "http"
		for k, vs := range r.Header {
			h.Headers[strings.ToLower(k)] = vs
		}
	}
	body, _ := json.Marshal(h)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// status answers the status named by the last path segment (Appendix A.5).
func (a *app) status(w http.ResponseWriter, r *http.Request, path string) {
	// Appendix A.5: the code is everything after the "/status/" prefix.
	seg := strings.TrimPrefix(path, "/status/")
	code, err := strconv.Atoi(seg)
	if len(seg) != 3 || strings.Trim(seg, "0123456789") != "" || err != nil || code < 200 || code > 599 {
		badRequest(w)
		return
	}
	if code != http.StatusNoContent && code != http.StatusNotModified {
		w.Header().Set("Content-Length", "0")
	}
	// Feature "reason-phrase": the app's own words, "+" for a space.
	if reason := rawParam(r, "reason"); reason != "" {
		zroute.SetReason(w, strings.ReplaceAll(reason, "+", " "))
	}
	w.WriteHeader(code)
}

// stream sends N DATA frames of S bytes (Appendix A.6).
func (a *app) stream(w http.ResponseWriter, r *http.Request) {
	n, err1 := param(r, "n", 10, 0, 1<<62)
	size, err2 := param(r, "size", 1024, 1, 65536)
	if err1 != nil || err2 != nil {
		badRequest(w)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	fw, ok := w.(zroute.FrameWriter)
	frame := make([]byte, size)
	for k := range n {
		b := byte('a' + k%26)
		for i := range frame {
			frame[i] = b
		}
		if ok {
			if fw.WriteFrame(frame) != nil {
				return
			}
		} else {
			if _, err := w.Write(frame); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
}

// slow answers "slow" after M ms, or nothing if the stream is reset
// (Appendix A.7).
func (a *app) slow(w http.ResponseWriter, r *http.Request) {
	ms, err := param(r, "ms", -1, 0, 1<<40)
	if err != nil {
		badRequest(w)
		return
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		text(w, http.StatusOK, "slow")
	case <-r.Context().Done():
		// RST_STREAM: abandon the wait and send nothing more.
	}
}

// large sends B bytes with content-length (Appendix A.8).
func (a *app) large(w http.ResponseWriter, r *http.Request) {
	size, err := param(r, "bytes", 1<<20, 0, 1<<62)
	if err != nil {
		badRequest(w)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	chunk := make([]byte, 64*1024)
	for i := range chunk {
		chunk[i] = byte(i) // 64 KiB is a multiple of 256: byte i = i mod 256
	}
	for size > 0 {
		n := min(size, int64(len(chunk)))
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		size -= n
	}
}

// trailers sends "ok" then the trailer x-trailer: done (Appendix A.9). The
// trailer is announced in a `trailer` field: the reference router forwards
// trailers to HTTP/1.1 clients only when announced (see README.md).
func (a *app) trailers(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Trailer", "X-Trailer")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "ok")
	w.(http.Flusher).Flush()
	w.Header().Set("X-Trailer", "done")
}

// wsEcho echoes every message of a WebSocket (Appendix A.11); a text
// message "close:CODE:REASON" closes with that code and reason instead.
func (a *app) wsEcho(w http.ResponseWriter, r *http.Request) {
	protocol := ""
	for _, v := range r.Header.Values("Sec-Websocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == "echo" {
				protocol = "echo"
			}
		}
	}
	ws, err := zroute.AcceptWebSocket(w, r, protocol)
	if err != nil {
		return
	}
	for {
		kind, payload, err := ws.ReadMessage()
		if err != nil || kind == zroute.CloseMessage {
			return
		}
		if kind == zroute.TextMessage {
			if rest, ok := strings.CutPrefix(string(payload), "close:"); ok {
				codeText, reason, _ := strings.Cut(rest, ":")
				if code, err := strconv.Atoi(codeText); err == nil {
					if ws.Close(code, reason) != nil {
						return
					}
					continue
				}
			}
		}
		if ws.WriteMessage(kind, payload) != nil {
			return
		}
	}
}
