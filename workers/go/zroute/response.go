package zroute

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// FrameWriter is implemented by the ResponseWriter of a Worker. WriteFrame
// sends p as exactly one DATA frame (one message part), waiting for enough
// flow-control window instead of splitting it, unless the router's stream
// window can never hold len(p) bytes, in which case it sends frames of at
// most the window's size (Appendix A.6). Buffered data is flushed first.
type FrameWriter interface {
	WriteFrame(p []byte) error
}

// bufferSize is how much response body is buffered before the response head
// is committed; a handler that writes less and returns gets an exact
// content-length, as with net/http.
const bufferSize = 16384

// responseWriter implements http.ResponseWriter, http.Flusher and
// FrameWriter on a stream (§8.3, §10.4).
type responseWriter struct {
	st      *stream
	req     *http.Request
	header  http.Header
	status  int    // set by WriteHeader
	reason  string // set by SetReason: the handler's own reason phrase
	commit  bool   // SYN_REPLY sent
	buf     []byte
	written int64 // body bytes accepted from the handler
	cl      int64 // declared content-length, or -1
	noBody  bool  // HEAD, 204 or 304: FIN on SYN_REPLY
	ended   bool  // the response ended with FIN before the handler returned
	err     error // sticky send error
}

var (
	_ http.ResponseWriter = (*responseWriter)(nil)
	_ http.Flusher        = (*responseWriter)(nil)
	_ FrameWriter         = (*responseWriter)(nil)
)

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code == http.StatusSwitchingProtocols && w.st.websocket {
		// §8.8.1: 101 accepts a WebSocket; records follow, with no length.
		w.status, w.cl = code, -1
		w.header.Del("Content-Length")
		return
	}
	if code < 200 {
		// Version 1 has no interim responses (§8.3); 100 Continue is the
		// router's business.
		return
	}
	if code > 599 {
		w.st.s.log.Error("status code outside 200..599; sending 500", "stream", w.st.id, "code", code)
		code = http.StatusInternalServerError
	}
	w.status = code
	w.noBody = w.st.isHead || code == http.StatusNoContent || code == http.StatusNotModified
	w.cl = -1
	if v := w.header.Get("Content-Length"); v != "" {
		if n, ok := parseContentLength(v); ok && n >= 0 {
			w.cl = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody {
		if w.st.isHead {
			w.written += int64(len(p))
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	// end: the declared body is complete, FIN goes on its last DATA frame.
	end := w.written == w.cl && !w.declaresTrailers()
	if len(w.buf)+len(p) < bufferSize && (!end || !w.commit) {
		// Small writes are buffered; a small complete body waits for
		// finish, which sends it with SYN_REPLY in one batch.
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if !w.commit || len(w.buf) > 0 {
		if err := w.flush(false); err != nil {
			return 0, err
		}
	}
	w.ended = end
	if err := w.st.sendData(p, end, false); err != nil {
		w.err = err
		return 0, err
	}
	return len(p), nil
}

// Flush sends the response head and any buffered body now.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.flush(false)
}

// FlushError is Flush returning the error (http.ResponseController).
func (w *responseWriter) FlushError() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.flush(false)
}

func (w *responseWriter) WriteFrame(p []byte) error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		if w.st.isHead {
			w.written += int64(len(p))
			return nil
		}
		return http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return http.ErrContentLength
	}
	if err := w.flush(false); err != nil {
		return err
	}
	w.written += int64(len(p))
	if len(p) == 0 {
		return nil
	}
	if err := w.st.sendData(p, false, true); err != nil {
		w.err = err
	}
	return w.err
}

// commitHead sends SYN_REPLY (§8.3), with FIN if fin.
func (w *responseWriter) commitHead(fin bool) error {
	w.commit = true
	block := responseBlock(w.status, w.reason, w.header, w.noBody || w.status == http.StatusNoContent, w.st)
	flags := uint8(0)
	if fin {
		flags = FlagFin
	}
	if err := w.st.sendFrame(&SynReply{Flags: flags, StreamID: w.st.id, Header: block}, fin); err != nil {
		w.err = err
	}
	return w.err
}

// flush commits the head if needed and sends the buffered body; with fin
// the response ends (unless trailers follow, handled by finish).
func (w *responseWriter) flush(fin bool) error {
	if w.err != nil {
		return w.err
	}
	if w.ended && !fin {
		return nil
	}
	if !w.commit {
		if err := w.commitHead(w.noBody || (fin && len(w.buf) == 0)); err != nil {
			return err
		}
		if w.noBody || (fin && len(w.buf) == 0) {
			return nil
		}
	} else if w.noBody {
		return nil
	}
	if len(w.buf) == 0 && !fin {
		return nil
	}
	buf := w.buf
	w.buf = nil
	if err := w.st.sendData(buf, fin, false); err != nil {
		w.err = err
	}
	return w.err
}

// trailers returns the response trailers the handler set (net/http
// conventions: names announced in "Trailer", or prefixed http.TrailerPrefix).
func (w *responseWriter) trailers() http.Header {
	var t http.Header
	add := func(k string, v []string) {
		if len(v) == 0 {
			return
		}
		if t == nil {
			t = make(http.Header)
		}
		t[http.CanonicalHeaderKey(k)] = v
	}
	for _, v := range w.header.Values("Trailer") {
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				add(k, w.header.Values(k))
			}
		}
	}
	for k, v := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			add(name, v)
		}
	}
	return t
}

// declaresTrailers reports whether the handler announced trailers.
func (w *responseWriter) declaresTrailers() bool {
	if len(w.header.Values("Trailer")) > 0 {
		return true
	}
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// finish ends the response after the handler returned (§10.4).
func (w *responseWriter) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil || w.ended {
		return
	}
	if !w.commit && w.cl < 0 && !w.declaresTrailers() && w.status != http.StatusNoContent &&
		w.status != http.StatusNotModified && w.status != http.StatusSwitchingProtocols {
		// The whole body is buffered: announce its exact length.
		n := int64(len(w.buf))
		if w.st.isHead {
			n = w.written
		}
		w.header.Set("Content-Length", strconv.FormatInt(n, 10))
		w.cl = n
	}
	if w.cl >= 0 && w.written != w.cl && !w.noBody {
		w.fail(fmt.Errorf("handler wrote %d body bytes, content-length is %d", w.written, w.cl))
		return
	}
	var trailers http.Header
	if !w.noBody {
		trailers = w.trailers()
	}
	if len(trailers) == 0 {
		_ = w.flush(true)
		return
	}
	if err := w.flush(false); err != nil {
		return
	}
	block := fieldBlock(trailers, w.st, true)
	_ = w.st.sendFrame(&Headers{Flags: FlagFin, StreamID: w.st.id, Header: block}, true)
}

// fail handles a handler failure (§10.4): a 500 response before SYN_REPLY,
// RST_STREAM(INTERNAL_ERROR) after it.
func (w *responseWriter) fail(err error) {
	st := w.st
	st.s.log.Error("handler failed", "stream", st.id, "err", err, "request_id", w.req.Header.Get("X-Request-Id"))
	if w.commit || w.err != nil {
		st.reset(RstInternalError, "handler failed after SYN_REPLY")
		return
	}
	w.header = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	w.status, w.noBody, w.cl = http.StatusInternalServerError, w.st.isHead, -1
	w.buf = append(w.buf[:0], "internal server error"...)
	w.written = int64(len(w.buf))
	w.header.Set("Content-Length", strconv.Itoa(len(w.buf)))
	if w.noBody {
		w.buf = nil
	}
	_ = w.flush(true)
}

// serve runs the handler for an accepted stream.
func (st *stream) serve(req *http.Request) {
	s := st.s
	defer s.w.handlers.Done()
	w := &responseWriter{st: st, req: req, header: make(http.Header), cl: -1}
	defer st.handlerDone()
	defer st.cancel(nil)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				st.reset(RstInternalError, "handler aborted")
				return
			}
			w.fail(fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
			return
		}
		w.finish()
	}()
	s.w.handler().ServeHTTP(w, req)
}

// responseBlock builds the SYN_REPLY block: :status, :version and the
// header fields (§8.3).
func responseBlock(code int, reason string, h http.Header, dropCL bool, st *stream) Block {
	status := strconv.Itoa(code)
	if reason != "" {
		status += " " + reason
	}
	b := Block{{Name: ":status", Value: status}, {Name: ":version", Value: "HTTP/1.1"}}
	if dropCL && h.Get("Content-Length") != "" && (code == http.StatusNoContent || code < 200) {
		h = h.Clone()
		h.Del("Content-Length")
	}
	return append(b, fieldBlock(h, st, false)...)
}

// fieldBlock converts header fields to pairs: lowercase names, one pair per
// name with NUL-joined values (§8.1), without hop-by-hop fields (§8.4),
// host, trailer-prefixed keys, or anything the grammar of §7.2 forbids.
func fieldBlock(h http.Header, st *stream, trailers bool) Block {
	values := map[string][]string{}
	for k, vs := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		name := strings.ToLower(k)
		if !ValidName(name) || name[0] == ':' || name == "host" {
			st.s.log.Debug("dropping response field with an invalid name", "stream", st.id, "name", k)
			continue
		}
		if _, ok := values[name]; !ok {
			values[name] = []string{}
		}
		for _, v := range vs {
			// Empty field lines cannot be combined (§8.1).
			if v = sanitizeValue(v); v != "" {
				values[name] = append(values[name], v)
			}
		}
	}
	names := make([]string, 0, len(values))
	for name, vs := range values {
		joined := strings.Join(vs, "\x00")
		if forbiddenField(name, joined) || (trailers && name == "content-length") {
			st.s.log.Debug("dropping hop-by-hop response field", "stream", st.id, "name", name)
			delete(values, name)
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	b := make(Block, 0, len(names))
	for _, name := range names {
		// A name whose only lines were empty is sent with an empty value.
		b = append(b, Field{Name: name, Value: strings.Join(values[name], "\x00")})
	}
	return b
}

// sanitizeValue replaces the bytes a value may not hold (CR, LF, and NUL,
// the value separator) with spaces, as net/http does for CR and LF.
func sanitizeValue(v string) string {
	if !strings.ContainsAny(v, "\r\n\x00") {
		return v
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '\r', '\n', 0:
			return ' '
		}
		return r
	}, v)
}

// SetReason gives the response a reason phrase of the handler's own, which
// HTTP/1.x clients see after the code on the status line (§8.3); without it
// they see the registered phrase. net/http's ResponseWriter has no such
// call, so this is the one place a Go handler can say it. Call it before
// the head goes out (WriteHeader and the first Write or Flush). It reports
// false, and changes nothing, if w is not a zroute response (nor wraps one
// that Unwrap reaches), if the head has gone out, or if reason is empty or
// has a byte a status line cannot carry (a control byte other than tab).
func SetReason(w http.ResponseWriter, reason string) bool {
	for {
		switch rw := w.(type) {
		case *responseWriter:
			if rw.commit || !validReason(reason) {
				return false
			}
			rw.reason = reason
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = rw.Unwrap()
		default:
			return false
		}
	}
}

// validReason reports whether s is an RFC 9112 reason-phrase:
// 1*( HTAB / SP / VCHAR / obs-text ).
func validReason(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\t' && (c < ' ' || c == 0x7f) {
			return false
		}
	}
	return true
}
