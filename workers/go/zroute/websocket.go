package zroute

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"unicode/utf8"
)

// WebSocket message kinds (§8.8.2): RFC 6455's opcodes.
const (
	TextMessage   = 0x01
	BinaryMessage = 0x02
	CloseMessage  = 0x08
)

// Close codes the spec names (RFC 6455 §7.4.1).
const (
	CloseNormal        = 1000
	CloseGoingAway     = 1001
	CloseInternalError = 1011
)

// DefaultMaxMessage is the largest message a WebSocket accepts unless its
// MaxMessage says otherwise: the reference router's default.
const DefaultMaxMessage = 16 << 20

// maxCloseReason is the longest close reason (RFC 6455 §5.5).
const maxCloseReason = 123

var (
	// ErrNotWebSocket: AcceptWebSocket on a request that is not a WebSocket stream.
	ErrNotWebSocket = errors.New("zroute: not a WebSocket request")
	// ErrWebSocketClosed: a write after Close, or after the router's close was answered.
	ErrWebSocketClosed = errors.New("zroute: WebSocket closed")
	// ErrProtocol: the router broke the record rules (§8.8.2); the stream is reset.
	ErrProtocol = errors.New("zroute: WebSocket record rules broken")
)

// IsWebSocket reports whether r opens a WebSocket (§8.8.1). Only a Worker
// that announces the feature "websocket" receives such requests.
func IsWebSocket(r *http.Request) bool {
	info := Info(r)
	return info != nil && info.Protocol == "websocket"
}

// WebSocket is an accepted WebSocket: whole messages in and out, as records
// on the stream (§8.8.2). The router owns RFC 6455 towards the client
// (masking, fragments, ping and pong). Reads are for one goroutine; writes
// may come from any.
type WebSocket struct {
	// MaxMessage bounds the messages accepted from the router; a longer
	// one resets the stream.
	MaxMessage int

	body io.Reader
	w    *responseWriter
	st   *stream

	mu        sync.Mutex // writes, and sentClose
	sentClose bool
	readDone  bool // the router's close arrived, or its direction ended
	done      chan struct{}
	doneOnce  sync.Once
}

// AcceptWebSocket accepts r's WebSocket with 101 (§8.8.1), selecting
// subprotocol if it is not empty (it must be one the client offered, in
// r's Sec-WebSocket-Protocol). The handler then serves the socket and
// returns when it is done; returning ends the worker's direction.
func AcceptWebSocket(w http.ResponseWriter, r *http.Request, subprotocol string) (*WebSocket, error) {
	rw, ok := w.(*responseWriter)
	if !ok || !IsWebSocket(r) {
		return nil, ErrNotWebSocket
	}
	if subprotocol != "" {
		w.Header().Set("Sec-WebSocket-Protocol", subprotocol)
	}
	w.WriteHeader(http.StatusSwitchingProtocols)
	ws := &WebSocket{
		MaxMessage: DefaultMaxMessage,
		body:       r.Body,
		w:          rw,
		st:         rw.st,
		done:       make(chan struct{}),
	}
	if err := rw.flush(false); err != nil {
		return nil, err
	}
	// §8.8.3: a draining worker closes its WebSockets with 1001.
	go func() {
		select {
		case <-ws.st.s.goingAway:
			_ = ws.Close(CloseGoingAway, "the worker is going away")
		case <-ws.done:
		case <-ws.st.ctx.Done():
		}
	}()
	return ws, nil
}

// ReadMessage returns the next message: its kind and payload. A close from
// the router comes as CloseMessage with its payload (empty, or a 2-byte
// code and a reason), answered for the handler; after it, io.EOF.
func (ws *WebSocket) ReadMessage() (int, []byte, error) {
	if ws.readDone {
		return 0, nil, io.EOF
	}
	var head [5]byte
	if _, err := io.ReadFull(ws.body, head[:]); err != nil {
		if errors.Is(err, io.EOF) {
			// The router's direction ended without a close: a close without a code.
			ws.finishReading()
			ws.answerClose(nil)
			return CloseMessage, nil, nil
		}
		return 0, nil, ws.fail(err)
	}
	kind := int(head[0])
	n := binary.BigEndian.Uint32(head[1:])
	if kind != TextMessage && kind != BinaryMessage && kind != CloseMessage {
		return 0, nil, ws.fail(fmt.Errorf("%w: kind %#x", ErrProtocol, kind))
	}
	if uint64(n) > uint64(ws.MaxMessage) {
		return 0, nil, ws.fail(fmt.Errorf("%w: a %d-byte message, over %d", ErrProtocol, n, ws.MaxMessage))
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(ws.body, payload); err != nil {
		return 0, nil, ws.fail(fmt.Errorf("%w: %v", ErrProtocol, err))
	}
	switch kind {
	case TextMessage:
		if !utf8.Valid(payload) {
			return 0, nil, ws.fail(fmt.Errorf("%w: text that is not UTF-8", ErrProtocol))
		}
	case CloseMessage:
		if !validClose(payload) {
			return 0, nil, ws.fail(fmt.Errorf("%w: an invalid close", ErrProtocol))
		}
		ws.finishReading()
		ws.answerClose(payload)
	}
	return kind, payload, nil
}

// WriteMessage sends one whole text or binary message.
func (ws *WebSocket) WriteMessage(kind int, data []byte) error {
	if kind != TextMessage && kind != BinaryMessage {
		return fmt.Errorf("zroute: message kind %#x: use Close to close", kind)
	}
	if kind == TextMessage && !utf8.Valid(data) {
		return fmt.Errorf("zroute: text that is not UTF-8")
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.sentClose {
		return ErrWebSocketClosed
	}
	return ws.writeLocked(kind, data)
}

// Close sends a close with code and reason (cut to 123 bytes); messages may
// still arrive until the router answers it. The handler should return once
// ReadMessage reports the answer.
func (ws *WebSocket) Close(code int, reason string) error {
	if !sendableCloseCode(code) {
		return fmt.Errorf("zroute: close code %d may not be sent", code)
	}
	for len(reason) > maxCloseReason || !utf8.ValidString(reason) {
		reason = reason[:len(reason)-1]
	}
	payload := binary.BigEndian.AppendUint16(nil, uint16(code))
	payload = append(payload, reason...)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.sentClose {
		return ErrWebSocketClosed
	}
	return ws.closeLocked(payload)
}

// closeLocked sends a close record and ends the worker's direction (§8.8.3).
func (ws *WebSocket) closeLocked(payload []byte) error {
	ws.sentClose = true
	if err := ws.writeLocked(CloseMessage, payload); err != nil {
		return err
	}
	err := ws.w.flush(true)
	ws.w.ended = true
	return err
}

func (ws *WebSocket) writeLocked(kind int, data []byte) error {
	record := make([]byte, 5, 5+len(data))
	record[0] = byte(kind)
	binary.BigEndian.PutUint32(record[1:], uint32(len(data)))
	record = append(record, data...)
	if _, err := ws.w.Write(record); err != nil {
		return err
	}
	return ws.w.flush(false)
}

// answerClose echoes the router's close, unless the handler closed first.
func (ws *WebSocket) answerClose(payload []byte) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if !ws.sentClose {
		_ = ws.closeLocked(payload)
	}
}

func (ws *WebSocket) finishReading() {
	ws.readDone = true
	ws.doneOnce.Do(func() { close(ws.done) })
}

// fail resets the stream (§8.8.2) and returns err.
func (ws *WebSocket) fail(err error) error {
	ws.finishReading()
	if errors.Is(err, ErrProtocol) {
		ws.st.reset(RstProtocolError, err.Error())
	}
	return err
}

func sendableCloseCode(code int) bool {
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
}

func validClose(p []byte) bool {
	switch {
	case len(p) == 0:
		return true
	case len(p) == 1 || len(p) > 2+maxCloseReason:
		return false
	}
	return sendableCloseCode(int(binary.BigEndian.Uint16(p))) && utf8.Valid(p[2:])
}
