//go:build libzmq

package libzmq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"zroute.example/worker/zroute"
)

// Options configure the sockets of Dialer. Zero values take the defaults
// of spec §3.3.
type Options struct {
	// Curve enables CURVE (§14.1); nil uses the NULL mechanism.
	Curve *Curve
	// ReconnectInterval is ZMQ_RECONNECT_IVL; default 100 ms.
	ReconnectInterval time.Duration
	// Linger is ZMQ_LINGER, how long Close waits to flush unsent
	// messages; default 200 ms.
	Linger time.Duration
	// HighWaterMark is ZMQ_SNDHWM and ZMQ_RCVHWM; default 10,000 messages.
	HighWaterMark int
	// MaxMessageSize is ZMQ_MAXMSGSIZE, the largest inbound part; default
	// 1 MiB.
	MaxMessageSize int64
	// Heartbeat is ZMQ_HEARTBEAT_IVL; ZMQ_HEARTBEAT_TIMEOUT and
	// ZMQ_HEARTBEAT_TTL are three times it. Default 1 s.
	Heartbeat time.Duration
	// CurveConnectTimeout bounds the wait for a completed connection with
	// CURVE (a refused key is never reconnected by libzmq, §14.1);
	// default 3 s. Without CURVE the wait is unbounded: libzmq keeps
	// reconnecting to an unreachable router on its own.
	CurveConnectTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.ReconnectInterval <= 0 {
		o.ReconnectInterval = 100 * time.Millisecond
	}
	if o.Linger <= 0 {
		o.Linger = 200 * time.Millisecond
	}
	if o.HighWaterMark <= 0 {
		o.HighWaterMark = 10000
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = 1 << 20
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.CurveConnectTimeout <= 0 {
		o.CurveConnectTimeout = 3 * time.Second
	}
}

// AuthError is the router's refusal of this worker's credentials: its ZAP
// handler answered the CURVE handshake with a status other than 200.
type AuthError struct {
	// Status is the ZAP status code (400: key not in the allowlist).
	Status int
	// PublicKey is this worker's CURVE public key, empty without CURVE.
	PublicKey string
}

func (e *AuthError) Error() string {
	if e.PublicKey == "" {
		return fmt.Sprintf("handshake failed: the router refused this worker (ZAP status %d)", e.Status)
	}
	return fmt.Sprintf("handshake failed: the router refused this worker's CURVE key %s (ZAP status %d): is the key in the router's allowlist?",
		e.PublicKey, e.Status)
}

// ErrConnectionLost is returned by Recv and Send once libzmq reports that
// the connection of an established socket is gone (§9.6 allows treating
// this as a dead session).
var ErrConnectionLost = errors.New("zroute/libzmq: connection lost")

// Dialer returns a zroute.Dialer whose sockets are libzmq DEALER sockets
// with the options of §3.3. Each Conn has its own libzmq context (one I/O
// thread), so that Close can wait for the socket's messages to be flushed
// (at most Linger).
func Dialer(logger *slog.Logger, opts Options) zroute.Dialer {
	if logger == nil {
		logger = slog.Default()
	}
	opts.setDefaults()
	return func(ctx context.Context, endpoint string) (zroute.Conn, error) {
		return dial(ctx, endpoint, logger.With("endpoint", endpoint), opts)
	}
}

// The socket events the connection watches: the end of the ZMTP (and CURVE)
// handshake, its failures, and a lost connection.
const watchedEvents = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH |
	zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_DISCONNECTED

func dial(ctx context.Context, endpoint string, log *slog.Logger, opts Options) (zroute.Conn, error) {
	c, err := newConn(endpoint, log, opts)
	if err != nil {
		return nil, fmt.Errorf("zroute/libzmq: connect %s: %w", endpoint, err)
	}
	go c.loop()
	var timeout <-chan time.Time
	if opts.Curve != nil {
		t := time.NewTimer(opts.CurveConnectTimeout)
		defer t.Stop()
		timeout = t.C
	}
	// §9.2 step 2: the socket is writable once the handshake succeeded
	// (with ZMQ_IMMEDIATE libzmq attaches the connection only then).
	select {
	case <-c.connected:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("zroute/libzmq: connect %s: %w", endpoint, c.err)
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	case <-timeout:
		c.Close()
		return nil, fmt.Errorf("zroute/libzmq: connect %s: no CURVE connection within %v: the router is unreachable, "+
			"does not use CURVE, has another public key than %s, or refused this worker's key %s",
			endpoint, opts.CurveConnectTimeout, opts.Curve.ServerKey, opts.Curve.PublicKey)
	}
}

// conn is one DEALER socket. libzmq sockets must not be used by two threads
// at once, so one goroutine (loop) owns the socket and its monitor; Send,
// Recv and Close talk to it through channels and wake it from zmq_poll
// through an inproc PAIR socket.
type conn struct {
	log       *slog.Logger
	publicKey string

	zctx   *zmq.Context
	sock   *zmq.Socket // owned by loop
	mon    *zmq.Socket // owned by loop: the socket's monitor events
	wakeRx *zmq.Socket // owned by loop
	out    *sendReq    // owned by loop: the message being sent
	in     [][]byte    // owned by loop: a received message recvq had no room for

	wakeMu      sync.Mutex
	wakeTx      *zmq.Socket // guarded by wakeMu; nil once the loop ended
	wakePending atomic.Bool // a wake message is on its way
	inPending   atomic.Bool // loop holds a received message recvq had no room for

	sendq     chan *sendReq
	recvq     chan [][]byte
	closing   atomic.Bool
	connected chan struct{} // closed when the handshake succeeded
	done      chan struct{} // closed when loop has ended and the context is gone
	err       error         // why loop ended; read after done
}

type sendReq struct {
	parts  [][]byte
	result chan error
}

func newConn(endpoint string, log *slog.Logger, opts Options) (_ *conn, err error) {
	zctx, err := zmq.NewContext()
	if err != nil {
		return nil, err
	}
	c := &conn{
		log:       log,
		zctx:      zctx,
		sendq:     make(chan *sendReq, 1),
		recvq:     make(chan [][]byte, 1),
		connected: make(chan struct{}),
		done:      make(chan struct{}),
	}
	defer func() {
		if err != nil {
			c.closeSockets()
		}
	}()
	if c.sock, err = zctx.NewSocket(zmq.DEALER); err != nil {
		return nil, err
	}
	// §3.3; ZMQ_ROUTING_ID is left unset so the router assigns a fresh one.
	for _, set := range []func() error{
		func() error { return c.sock.SetImmediate(true) },
		func() error { return c.sock.SetLinger(opts.Linger) },
		func() error { return c.sock.SetSndhwm(opts.HighWaterMark) },
		func() error { return c.sock.SetRcvhwm(opts.HighWaterMark) },
		func() error { return c.sock.SetMaxmsgsize(opts.MaxMessageSize) },
		func() error { return c.sock.SetReconnectIvl(opts.ReconnectInterval) },
		func() error { return c.sock.SetHeartbeatIvl(opts.Heartbeat) },
		func() error { return c.sock.SetHeartbeatTimeout(3 * opts.Heartbeat) },
		func() error { return c.sock.SetHeartbeatTtl(3 * opts.Heartbeat) },
	} {
		if err = set(); err != nil {
			return nil, fmt.Errorf("socket option: %w", err)
		}
	}
	if cv := opts.Curve; cv != nil {
		if !zmq.HasCurve() {
			return nil, errors.New("this libzmq has no CURVE support (built without libsodium?)")
		}
		c.publicKey = cv.PublicKey
		if err = c.sock.SetCurveServerkey(cv.ServerKey); err == nil {
			if err = c.sock.SetCurvePublickey(cv.PublicKey); err == nil {
				err = c.sock.SetCurveSecretkey(cv.SecretKey)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("CURVE keys: %w", err)
		}
	}
	// The monitor and wake sockets live in this socket's own context, so
	// fixed inproc names cannot collide.
	if err = c.sock.Monitor("inproc://monitor", watchedEvents); err != nil {
		return nil, fmt.Errorf("socket monitor: %w", err)
	}
	if c.mon, err = pairConnect(zctx, "inproc://monitor"); err != nil {
		return nil, err
	}
	if c.wakeRx, err = zctx.NewSocket(zmq.PAIR); err != nil {
		return nil, err
	}
	if err = c.wakeRx.Bind("inproc://wake"); err != nil {
		return nil, err
	}
	if c.wakeTx, err = pairConnect(zctx, "inproc://wake"); err != nil {
		return nil, err
	}
	// The monitor is connected first: events emitted before would be lost.
	if err = c.sock.Connect(endpoint); err != nil {
		return nil, err
	}
	return c, nil
}

func pairConnect(zctx *zmq.Context, addr string) (*zmq.Socket, error) {
	s, err := zctx.NewSocket(zmq.PAIR)
	if err != nil {
		return nil, err
	}
	if err := s.Connect(addr); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Send hands the message to libzmq. It blocks while the socket is not
// writable (high-water mark reached, or no connection: ZMQ_IMMEDIATE);
// Close unblocks it.
func (c *conn) Send(parts [][]byte) error {
	req := &sendReq{parts: parts, result: make(chan error, 1)}
	select {
	case c.sendq <- req:
	case <-c.done:
		return c.err
	}
	c.wake()
	select {
	case err := <-req.result:
		return err
	case <-c.done:
		select {
		case err := <-req.result:
			return err
		default:
			return c.err
		}
	}
}

// Recv returns the next message. Messages received before the socket ended
// are returned before its error.
func (c *conn) Recv() ([][]byte, error) {
	select {
	case msg := <-c.recvq:
		if c.inPending.Load() {
			c.wake()
		}
		return msg, nil
	case <-c.done:
		select {
		case msg := <-c.recvq:
			return msg, nil
		default:
			return nil, c.err
		}
	}
}

// Close closes the socket and returns once libzmq has flushed the messages
// whose Send returned, or Linger has passed.
func (c *conn) Close() error {
	c.closing.Store(true)
	c.wake()
	<-c.done
	return nil
}

// wake interrupts loop's zmq_poll; wakes coalesce until loop has seen them.
func (c *conn) wake() {
	if !c.wakePending.CompareAndSwap(false, true) {
		return
	}
	c.wakeMu.Lock()
	defer c.wakeMu.Unlock()
	if c.wakeTx != nil {
		c.wakeTx.SendBytes([]byte{0}, zmq.DONTWAIT)
	}
}

// loop owns the sockets: it moves messages between them and the channels
// and watches the monitor, until Close or a fatal event.
func (c *conn) loop() {
	c.err = c.run()
	if c.out != nil {
		c.out.result <- c.err
	}
	c.closeSockets()
	close(c.done)
}

func (c *conn) run() error {
	poller := zmq.NewPoller()
	sockID := poller.Add(c.sock, 0)
	poller.Add(c.mon, zmq.POLLIN)
	poller.Add(c.wakeRx, zmq.POLLIN)
	blocked := false // the message in out met EAGAIN
	for {
		// Wakes are consumed before the state they announce is read, so a
		// change made after this point sends a new wake.
		for {
			if _, err := c.wakeRx.RecvBytes(zmq.DONTWAIT); err != nil {
				break
			}
		}
		c.wakePending.Store(false)
		if c.closing.Load() {
			return io.ErrClosedPipe
		}
		if err := c.readEvents(); err != nil {
			return err
		}

		progress := false
		if c.in != nil {
			select {
			case c.recvq <- c.in:
				c.in = nil
				c.inPending.Store(false)
			default:
			}
		}
		if c.out == nil {
			select {
			case c.out = <-c.sendq:
			default:
			}
		}
		if c.out != nil {
			switch err := sendMessage(c.sock, c.out.parts); {
			case err == nil:
				c.out.result <- nil
				c.out = nil
				progress = true
				blocked = false
			case !isEAGAIN(err):
				return err
			case !blocked:
				blocked = true
				c.log.Debug(msgSendBlocked)
			}
		}
		if c.in == nil {
			msg, err := c.sock.RecvMessageBytes(zmq.DONTWAIT)
			switch {
			case err == nil:
				progress = true
				select {
				case c.recvq <- msg:
				default:
					c.in = msg
					c.inPending.Store(true)
					// Recv may have emptied recvq before it saw inPending.
					select {
					case c.recvq <- msg:
						c.in = nil
						c.inPending.Store(false)
					default:
					}
				}
			case !isEAGAIN(err):
				return err
			}
		}
		if progress {
			continue
		}

		var events zmq.State
		if c.in == nil {
			events |= zmq.POLLIN
		}
		if c.out != nil {
			events |= zmq.POLLOUT
		}
		if _, err := poller.Update(sockID, events); err != nil {
			return err
		}
		if _, err := poller.Poll(-1); err != nil {
			return err
		}
	}
}

// msgSendBlocked is logged (debug) when a send must wait: the high-water
// mark is reached, or there is no connection (ZMQ_IMMEDIATE).
const msgSendBlocked = "send waits: high-water mark reached or no connection"

// readEvents handles the monitor events that are waiting.
func (c *conn) readEvents() error {
	for {
		ev, addr, value, err := c.mon.RecvEvent(zmq.DONTWAIT)
		if isEAGAIN(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("socket monitor: %w", err)
		}
		connected := isClosed(c.connected)
		switch ev {
		case zmq.EVENT_HANDSHAKE_SUCCEEDED:
			c.log.Debug("connection complete", "peer", addr)
			if !connected {
				close(c.connected)
			}
		case zmq.EVENT_HANDSHAKE_FAILED_AUTH:
			// libzmq does not reconnect a refused connection (§14.1).
			return &AuthError{Status: value, PublicKey: c.publicKey}
		case zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
			// A misconfiguration that reconnecting does not cure.
			return handshakeProtocolError(value)
		case zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
			// The connection broke during the handshake; libzmq
			// reconnects on its own.
			c.log.Debug("handshake failed; libzmq reconnects", "peer", addr, "errno", value)
		case zmq.EVENT_DISCONNECTED:
			if connected {
				return ErrConnectionLost
			}
		}
	}
}

// libzmq's ZMQ_PROTOCOL_ERROR_* values (zmq.h) that point to a
// misconfiguration.
const (
	protocolErrorCryptographic     = 0x11000001
	protocolErrorMechanismMismatch = 0x11000002
)

func handshakeProtocolError(value int) error {
	switch value {
	case protocolErrorMechanismMismatch:
		return errors.New("handshake failed: security mechanism mismatch: the router uses CURVE and this worker does not, or the reverse")
	case protocolErrorCryptographic:
		return errors.New("handshake failed: CURVE cryptographic error (is the router's public key right?)")
	}
	return fmt.Errorf("handshake failed: ZMTP protocol error 0x%x", value)
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sendMessage sends all parts without blocking. libzmq accepts or refuses
// a multi-part message as a whole: only the first part can fail with EAGAIN.
func sendMessage(s *zmq.Socket, parts [][]byte) error {
	for i, p := range parts {
		flag := zmq.DONTWAIT
		if i < len(parts)-1 {
			flag |= zmq.SNDMORE
		}
		if _, err := s.SendBytes(p, flag); err != nil {
			return err
		}
	}
	return nil
}

func isEAGAIN(err error) bool {
	return zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN)
}

// closeSockets closes every socket and terminates the context, which waits
// up to ZMQ_LINGER for the DEALER's unsent messages.
func (c *conn) closeSockets() {
	c.wakeMu.Lock()
	if c.wakeTx != nil {
		c.wakeTx.Close()
		c.wakeTx = nil
	}
	c.wakeMu.Unlock()
	if c.sock != nil {
		c.sock.Monitor("", 0) // stop the monitor before closing its socket
	}
	for _, s := range []*zmq.Socket{c.wakeRx, c.mon, c.sock} {
		if s != nil {
			s.Close()
		}
	}
	c.zctx.Term()
}
