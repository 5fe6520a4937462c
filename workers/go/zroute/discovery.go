package zroute

// Named endpoints (§3.5): `tcp://name:port` and `dns+srv://_service._tcp.name`
// stand for every router the name resolves to. The name is looked up every
// resolve interval; each router endpoint of the answer gets an endpoint loop
// of its own, exactly as a configured `tcp://address:port` would, and a
// router endpoint that leaves the answer has its session drained.
//
// Lookups use Go's own resolver (net.Resolver with PreferGo). It gives no
// TTL, so a name is looked up every resolve interval and never earlier on
// account of a short TTL (§3.5 item 2 says SHOULD there; the interval is the
// MUST).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Discovery defaults and environment variables (§3.5, Appendix A.1).
const (
	// DefaultResolveInterval is the resolve interval R of §3.5.
	DefaultResolveInterval = 5 * time.Second
	// ResolveIntervalEnv, in milliseconds, sets R when
	// Worker.ResolveInterval is 0.
	ResolveIntervalEnv = "ZROUTE_RESOLVE_INTERVAL_MS"
	// NameserverEnv ("IP:PORT") sets the nameserver when Worker.Nameserver
	// is empty.
	NameserverEnv = "ZROUTE_NAMESERVER"
)

// errLeftAnswer is the cancellation cause of the endpoint loop of a router
// endpoint that left its name's answer: its session drains and the loop
// never registers again (§3.5).
var errLeftAnswer = errors.New("zroute: the router endpoint left the DNS answer")

// errNoAddress is a lookup whose answer has no usable address (§3.5 item 4).
var errNoAddress = errors.New("the answer has no usable address")

const srvScheme = "dns+srv://"

// endpoint is a configured endpoint, sorted as §3.5 says.
type endpoint struct {
	text  string // as configured; the log lines name it
	named bool
	srv   bool   // dns+srv://: host is the SRV name
	host  string // the name to look up
	port  uint16 // tcp://name:port
}

// CheckEndpoint reports whether Serve accepts endpoint: a dns+srv://
// endpoint must be dns+srv://_service._tcp.name, with no port and no path,
// and a tcp:// endpoint must have a port (§3.5). The error names the
// endpoint.
func CheckEndpoint(endpoint string) error {
	_, err := parseEndpoint(endpoint)
	return err
}

func parseEndpoint(text string) (endpoint, error) {
	ep := endpoint{text: text}
	bad := func(why string) error { return fmt.Errorf("zroute: endpoint %q: %s", text, why) }
	if name, ok := strings.CutPrefix(text, srvScheme); ok {
		if strings.ContainsAny(name, ":/") {
			return ep, bad("a dns+srv endpoint has no port (its SRV records give it) and no path")
		}
		labels := strings.Split(strings.TrimSuffix(name, "."), ".")
		if len(labels) < 3 || !strings.HasPrefix(labels[0], "_") || !hostLabel(labels[0][1:]) ||
			labels[1] != "_tcp" || !hostName(strings.Join(labels[2:], ".")) {
			return ep, bad("a dns+srv endpoint is dns+srv://_service._tcp.name")
		}
		ep.named, ep.srv, ep.host = true, true, name
		return ep, nil
	}
	authority, ok := strings.CutPrefix(text, "tcp://")
	if !ok {
		return ep, nil // ipc:// and the like: static, for the transport to judge
	}
	host, port, err := net.SplitHostPort(authority)
	if err != nil || port == "" {
		return ep, bad("a tcp endpoint needs a port: tcp://host:port (an IPv6 address in brackets)")
	}
	if _, err := netip.ParseAddr(host); err == nil || !hostName(host) {
		// An IP address literal is static; so is what is not a DNS name
		// at all (ZeroMQ's "*" or interface forms), as before.
		return ep, nil
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return ep, bad("the port of a tcp endpoint is a number from 1 to 65535")
	}
	ep.named, ep.host, ep.port = true, host, uint16(p)
	return ep, nil
}

// hostName reports whether s is a DNS name with at least one letter (so
// that it is not an address), with an optional final dot.
func hostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if len(s) == 0 || len(s) > 253 || !strings.ContainsFunc(s, func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	}) {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if !hostLabel(label) {
			return false
		}
	}
	return true
}

func hostLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// discovery is how named endpoints are looked up; one for all of them.
type discovery struct {
	interval   time.Duration
	resolver   *net.Resolver
	nameserver string // "" for the system's resolver
}

// newDiscovery reads the resolve interval and the nameserver from the
// Worker, else from the environment.
func (w *Worker) newDiscovery() (*discovery, error) {
	interval := w.ResolveInterval
	if interval <= 0 {
		interval = DefaultResolveInterval
		if v := os.Getenv(ResolveIntervalEnv); v != "" {
			ms, err := strconv.ParseUint(v, 10, 31)
			if err != nil || ms == 0 {
				return nil, fmt.Errorf("zroute: %s=%q: want the resolve interval in milliseconds, at least 1", ResolveIntervalEnv, v)
			}
			interval = time.Duration(ms) * time.Millisecond
		}
	}
	ns, from := w.Nameserver, "Nameserver"
	if ns == "" {
		ns, from = os.Getenv(NameserverEnv), NameserverEnv
	}
	d := &discovery{interval: interval, resolver: &net.Resolver{PreferGo: true}}
	if ns != "" {
		server, err := netip.ParseAddrPort(ns)
		if err != nil {
			return nil, fmt.Errorf("zroute: nameserver %q (%s): want IP:PORT", ns, from)
		}
		d.nameserver = server.String()
		// Every query goes to this nameserver over UDP, whatever server
		// and network the resolver picked from the system's configuration.
		d.resolver.Dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "udp", d.nameserver)
		}
	}
	return d, nil
}

// lookup returns the router endpoints a named endpoint stands for now.
// Any error, or an answer without a usable address, fails the lookup.
func (d *discovery) lookup(ctx context.Context, ep endpoint) (map[string]bool, error) {
	found, err := d.lookupOnce(ctx, ep)
	var de *net.DNSError
	if d.nameserver != "" && errors.As(err, &de) {
		// Go names the server of the system's configuration, which the
		// Dial above replaced.
		de.Server = d.nameserver
	}
	return found, err
}

func (d *discovery) lookupOnce(ctx context.Context, ep endpoint) (map[string]bool, error) {
	// A lookup ends in time for the next one (the system's configuration
	// may allow several 5 s attempts).
	ctx, cancel := context.WithTimeout(ctx, min(max(d.interval, time.Second), 5*time.Second))
	defer cancel()
	found := make(map[string]bool)
	if !ep.srv {
		addrs, err := d.addresses(ctx, ep.host)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			found[routerEndpoint(a, ep.port)] = true
		}
		return found, nil
	}
	_, records, err := d.resolver.LookupSRV(ctx, "", "", ep.host)
	if err != nil {
		return nil, err
	}
	for _, rec := range records {
		if rec.Target == "." || rec.Port == 0 {
			continue // "no such service here" (RFC 2782)
		}
		addrs, err := d.addresses(ctx, rec.Target)
		if err != nil {
			return nil, fmt.Errorf("SRV target %s: %w", rec.Target, err)
		}
		for _, a := range addrs {
			found[routerEndpoint(a, rec.Port)] = true
		}
	}
	if len(found) == 0 {
		return nil, errNoAddress
	}
	return found, nil
}

// addresses looks host up: its A addresses, else its AAAA addresses.
func (d *discovery) addresses(ctx context.Context, host string) ([]netip.Addr, error) {
	all, err := d.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	var v4, v6 []netip.Addr
	for _, a := range all {
		if a = a.Unmap(); a.Is4() {
			v4 = append(v4, a)
		} else if a.Is6() {
			v6 = append(v6, a)
		}
	}
	switch {
	case len(v4) > 0:
		return v4, nil
	case len(v6) > 0:
		return v6, nil
	}
	return nil, errNoAddress
}

func routerEndpoint(a netip.Addr, port uint16) string {
	return "tcp://" + netip.AddrPortFrom(a, port).String()
}

// followName looks a named endpoint up every resolve interval and keeps one
// endpoint loop per router endpoint of its resolved set (§3.5). It returns
// when the worker shuts down; Shutdown and Close then end the sessions.
func (w *Worker) followName(d *discovery, ep endpoint) {
	defer w.loops.Done()
	ctx := w.serveCtx
	log := w.Logger.With("worker", w.ID, "endpoint", ep.text)
	// The resolved set: each router endpoint and what stops its loop.
	resolved := make(map[string]context.CancelCauseFunc)
	defer func() {
		for _, stop := range resolved {
			stop(nil) // ctx is done: the cause stays the worker's
		}
	}()
	failing := false
	for {
		start := time.Now()
		found, err := d.lookup(ctx, ep)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// Keep every session; one line per run of failures.
			if !failing {
				failing = true
				log.Warn("lookup failed: keeping every session", "err", err,
					"routers", len(resolved), "retry_every", d.interval)
			}
		} else {
			if failing {
				failing = false
				log.Info("lookup succeeded again", "routers", len(found))
			}
			w.applyAnswer(ctx, log, resolved, found)
		}
		// Up to 10% early, so that workers started together spread out.
		wait := d.interval - rand.N(d.interval/10+1)
		t := time.NewTimer(time.Until(start.Add(wait)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// applyAnswer applies the events of §3.5's table to the resolved set.
func (w *Worker) applyAnswer(ctx context.Context, log *slog.Logger, resolved map[string]context.CancelCauseFunc, found map[string]bool) {
	for router, stop := range resolved {
		if !found[router] {
			log.Info("router left the answer: draining its session", "router", router)
			stop(errLeftAnswer)
			delete(resolved, router)
		}
	}
	for _, router := range slices.Sorted(maps.Keys(found)) {
		if _, ok := resolved[router]; ok {
			continue
		}
		// A new socket beside any session of an earlier loop to the same
		// router endpoint that still drains.
		log.Info("router joined the answer: registering", "router", router)
		rctx, stop := context.WithCancelCause(ctx)
		resolved[router] = stop
		w.loops.Add(1)
		go w.endpointLoop(rctx, router)
	}
}
