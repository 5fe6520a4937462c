package zroute

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// ErrWorkerClosed is returned by Worker.Serve after Shutdown or Close.
var ErrWorkerClosed = errors.New("zroute: worker closed")

// Defaults (§15).
const (
	DefaultCapacity         = 16
	DefaultHandshakeTimeout = 3 * time.Second
	DefaultMaxPairs         = 128
	DefaultMaxFrameSize     = 16384
	maxBackoff              = 32 * time.Second
)

// Worker serves an http.Handler to one or more zroute routers. Its fields
// configure it and must not change once Serve has been called.
type Worker struct {
	// ID is the worker id announced in HELLO (1 to 128 visible ASCII bytes).
	ID string
	// Routes are the routes announced in HELLO (§12.1); none joins the
	// default pool.
	Routes []string
	// Features are the optional features announced in HELLO (for example
	// "trailers").
	Features []string
	// Labels are informational HELLO attributes (names must follow §7.2 and
	// not start with ':').
	Labels map[string]string
	// Capacity is the number of streams served at once per session
	// (HELLO Max-Concurrent-Streams); default 16.
	Capacity uint32
	// InitialWindow is the per-stream receive window for request bodies
	// (HELLO Initial-Window-Size); default 65,536.
	InitialWindow uint32
	// SessionWindow is the size at which the session receive window is
	// kept; above 65,536 it is raised with a WINDOW_UPDATE on stream 0 as
	// soon as the session is established (§11.3). Default 65,536.
	SessionWindow uint32
	// MaxPairs limits the pairs per received name/value block (§7.4);
	// default 128.
	MaxPairs int
	// MaxFrameSize is the largest DATA payload the worker sends; default
	// 16,384, at most 65,536.
	MaxFrameSize int
	// HandshakeTimeout is how long to wait for WELCOME; default 3 s.
	HandshakeTimeout time.Duration
	// Handler serves the requests; nil answers 404 to everything.
	Handler http.Handler
	// Logger receives the worker's logs; default slog.Default().
	Logger *slog.Logger
	// Dialer opens sockets; default ZMQDialer.
	Dialer Dialer
	// BaseContext, if set, returns the parent of every request context.
	BaseContext func() context.Context
	// ResolveInterval is how often a named endpoint (§3.5) is looked up
	// again; 0 takes $ZROUTE_RESOLVE_INTERVAL_MS (milliseconds), else 5 s.
	// Go's resolver gives no TTL, so this interval alone applies.
	ResolveInterval time.Duration
	// Nameserver ("IP:PORT"), if set, receives every DNS query of the named
	// endpoints, over UDP; "" takes $ZROUTE_NAMESERVER, else the system's
	// resolver.
	Nameserver string

	// backoffUnit scales the re-registration backoff (tests shorten it).
	backoffUnit time.Duration

	initOnce   sync.Once
	mu         sync.Mutex
	sessions   map[*session]struct{}
	capacity   uint32
	inShutdown bool
	serveCtx   context.Context
	stopServe  context.CancelFunc
	loops      sync.WaitGroup
	handlers   sync.WaitGroup
}

func (w *Worker) init() {
	w.initOnce.Do(func() {
		if w.Capacity == 0 {
			w.Capacity = DefaultCapacity
		}
		if w.InitialWindow == 0 {
			w.InitialWindow = DefaultWindow
		}
		if w.InitialWindow > MaxWindow {
			w.InitialWindow = MaxWindow
		}
		if w.SessionWindow < DefaultWindow {
			w.SessionWindow = DefaultWindow
		}
		if w.SessionWindow > MaxWindow {
			w.SessionWindow = MaxWindow
		}
		if w.MaxPairs == 0 {
			w.MaxPairs = DefaultMaxPairs
		}
		if w.MaxFrameSize <= 0 || w.MaxFrameSize > MaxPayload {
			w.MaxFrameSize = DefaultMaxFrameSize
		}
		if w.HandshakeTimeout <= 0 {
			w.HandshakeTimeout = DefaultHandshakeTimeout
		}
		if w.Logger == nil {
			w.Logger = slog.Default()
		}
		if w.Dialer == nil {
			w.Dialer = ZMQDialer(w.Logger, 0)
		}
		if w.backoffUnit == 0 {
			w.backoffUnit = time.Second
		}
		w.capacity = w.Capacity
		w.sessions = make(map[*session]struct{})
		w.serveCtx, w.stopServe = context.WithCancel(context.Background())
	})
}

// Serve connects one DEALER socket to each endpoint (§3.1), registers and
// serves requests until Shutdown or Close is called, re-registering as §9.4
// requires. A named endpoint (`tcp://name:port`, `dns+srv://_service._tcp.name`)
// gets one socket per address its name resolves to, and follows the name as
// its answers change (§3.5, CheckEndpoint). It always returns a non-nil
// error: ErrWorkerClosed after Shutdown or Close, or at once the error of a
// malformed endpoint or discovery setting.
func (w *Worker) Serve(endpoints ...string) error {
	w.init()
	if len(endpoints) == 0 {
		return errors.New("zroute: no endpoint")
	}
	if err := w.validate(); err != nil {
		return err
	}
	eps := make([]endpoint, len(endpoints))
	var d *discovery
	for i, text := range endpoints {
		ep, err := parseEndpoint(text)
		if err != nil {
			return err
		}
		if ep.named && d == nil {
			if d, err = w.newDiscovery(); err != nil {
				return err
			}
		}
		eps[i] = ep
	}
	w.mu.Lock()
	if w.inShutdown {
		w.mu.Unlock()
		return ErrWorkerClosed
	}
	for _, ep := range eps {
		w.loops.Add(1)
		if ep.named {
			go w.followName(d, ep)
		} else {
			go w.endpointLoop(w.serveCtx, ep.text)
		}
	}
	w.mu.Unlock()
	<-w.serveCtx.Done()
	w.loops.Wait()
	return ErrWorkerClosed
}

// SetCapacity changes the worker's capacity on every session with SETTINGS
// MAX_CONCURRENT_STREAMS (§11.6); 0 means "no new streams for now".
func (w *Worker) SetCapacity(n uint32) {
	w.init()
	w.mu.Lock()
	w.capacity = n
	sessions := w.sessionList()
	w.mu.Unlock()
	for _, s := range sessions {
		s.setCapacity(n)
	}
}

// Shutdown stops the lookups of named endpoints (§3.5) and drains every
// session gracefully (§9.7): it sends
// GOAWAY(last-good, OK), refuses new streams, lets active streams complete,
// then closes the sockets. If ctx expires first, the remaining sessions are
// ended with GOAWAY(last-good, INTERNAL_ERROR) and ctx's error is returned.
func (w *Worker) Shutdown(ctx context.Context) error {
	sessions := w.stopRegistering()
	for _, s := range sessions {
		s.drain()
	}
	var err error
	for _, s := range sessions {
		select {
		case <-s.closed:
		case <-ctx.Done():
			err = ctx.Err()
			s.abort()
		}
	}
	for _, s := range sessions {
		<-s.closed
	}
	done := make(chan struct{})
	go func() { w.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// Close ends every session at once with GOAWAY(last-good, INTERNAL_ERROR)
// and cancels all requests.
func (w *Worker) Close() error {
	for _, s := range w.stopRegistering() {
		s.abort()
		<-s.closed
	}
	return nil
}

// stopRegistering marks the worker as shutting down, waits for the endpoint
// loops to return (no new session starts after that) and returns the
// sessions still open.
func (w *Worker) stopRegistering() []*session {
	w.init()
	w.mu.Lock()
	w.inShutdown = true
	w.stopServe()
	w.mu.Unlock()
	w.loops.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sessionList()
}

func (w *Worker) sessionList() []*session {
	list := make([]*session, 0, len(w.sessions))
	for s := range w.sessions {
		list = append(list, s)
	}
	return list
}

func (w *Worker) addSession(s *session) {
	w.mu.Lock()
	w.sessions[s] = struct{}{}
	w.mu.Unlock()
	go func() {
		<-s.closed
		w.mu.Lock()
		delete(w.sessions, s)
		w.mu.Unlock()
	}()
}

// nextDelay implements rule 2 of §9.4: 1 unit after the first consecutive
// failure, then doubling, at most 32 units.
func nextDelay(d, unit time.Duration) time.Duration {
	if d == 0 {
		return unit
	}
	// 32 units, computed without multiplying two durations (32 s times a
	// 1 s unit overflows int64 nanoseconds).
	return min(2*d, maxBackoff/time.Second*unit)
}

// backoff is the per-endpoint registration schedule of §9.4 (before jitter).
type backoff struct {
	unit time.Duration // the first delay of rule 2 (1 s; tests shorten it)
	// delay is rule 2's delay after the consecutive failures so far.
	delay time.Duration
	// shutdownWait, when positive, replaces delay for the next attempt only:
	// the last attempt met a router shutting down (rule 4).
	shutdownWait time.Duration
}

// next is the wait before the next attempt.
func (b *backoff) next() time.Duration {
	if b.shutdownWait > 0 {
		return b.shutdownWait
	}
	return b.delay
}

// failed records a failed attempt (rule 2).
func (b *backoff) failed() {
	b.delay = nextDelay(b.delay, b.unit)
	b.shutdownWait = 0
}

// succeeded records a valid WELCOME (rule 3).
func (b *backoff) succeeded() {
	b.delay = 0
	b.shutdownWait = 0
}

// routerShuttingDown records a HELLO answered with GOAWAY(0, OK) (rule 4):
// the next attempt waits lastInterval (the heartbeat interval of the
// endpoint's last WELCOME, 0 if none) capped at one unit, and the count of
// failures neither grows nor resets, so that a replacement router is found
// within about one interval of starting however long the old one drains.
func (b *backoff) routerShuttingDown(lastInterval time.Duration) {
	if lastInterval <= 0 {
		b.shutdownWait = b.unit
		return
	}
	b.shutdownWait = min(lastInterval, b.unit)
}

// jitter adds up to 25% of d (§9.4).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + rand.N(d/4+1)
}

// endpointLoop registers with one router endpoint and re-registers whenever
// the session is lost, with the backoff of §9.4, until ctx is done. If ctx
// ends with errLeftAnswer (the router endpoint left its name's answer,
// §3.5), the current session drains and a socket still waiting to register
// is closed at once; otherwise (the worker shuts down) Shutdown or Close
// ends the sessions.
func (w *Worker) endpointLoop(ctx context.Context, endpoint string) {
	defer w.loops.Done()
	log := w.Logger.With("worker", w.ID, "endpoint", endpoint)
	b := backoff{unit: w.backoffUnit}
	// The heartbeat interval of this endpoint's last WELCOME (rule 4).
	var lastInterval time.Duration
	for {
		if delay := b.next(); delay > 0 {
			d := jitter(delay)
			log.Info("re-registering after backoff", "delay", d)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		// State connecting: wait until the socket is writable (§9.2).
		conn, err := w.Dialer(ctx, endpoint)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error("cannot connect", "err", err)
			b.failed()
			continue
		}
		w.mu.Lock()
		capacity := w.capacity
		w.mu.Unlock()
		s := newSession(w, conn, endpoint, capacity)
		w.addSession(s)
		if err := s.handshake(ctx); err != nil {
			if ctx.Err() != nil {
				return // the socket is closed: no new attempt
			}
			if errors.Is(err, errRouterShuttingDown) {
				b.routerShuttingDown(lastInterval)
			} else {
				// A failed attempt (§9.2): already logged by the session.
				b.failed()
			}
			continue
		}
		b.succeeded()
		lastInterval = s.interval
		go s.serve()
		select {
		case <-s.replace:
			// The session is lost or drained by the router: re-register at
			// once (§9.4 rule 1).
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errLeftAnswer) {
				s.drain() // and never re-register here
			}
			return
		}
	}
}

func (w *Worker) handler() http.Handler {
	if w.Handler == nil {
		return http.NotFoundHandler()
	}
	return w.Handler
}
