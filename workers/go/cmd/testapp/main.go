// Command testapp is the zroute conformance test app (spec/PROTOCOL.md,
// Appendix A) served by the Go worker library.
//
// Usage:
//
//	testapp ID [--connect ENDPOINT]... [--route ROUTE]... [flags]
//
// ENDPOINT defaults to $ZROUTE_CONNECT, else tcp://127.0.0.1:8000. Logs go
// to stderr. --curve-server-key and --curve-key (or $ZROUTE_CURVE_SERVER_KEY
// and $ZROUTE_CURVE_KEY) enable CURVE (spec §14.1), which needs a build with
// -tags libzmq; that build uses the libzmq transport with or without CURVE.
// An ENDPOINT may name its routers (tcp://name:port or
// dns+srv://_service._tcp.name, spec §3.5): --nameserver IP:PORT (else
// $ZROUTE_NAMESERVER, else the system's resolver) and --resolve-interval MS
// (else $ZROUTE_RESOLVE_INTERVAL_MS, else 5000) set how it is looked up.
// SIGTERM or SIGINT drains the sessions (§9.7); a second signal ends them
// at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"zroute.example/worker/internal/testapp"
	"zroute.example/worker/libzmq"
	"zroute.example/worker/zroute"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("testapp", flag.ContinueOnError)
	var connect, routes listFlag
	fs.Var(&connect, "connect", "router endpoint (repeatable; default $ZROUTE_CONNECT or tcp://127.0.0.1:8000)")
	fs.Var(&routes, "route", "route to announce (repeatable; none joins the default pool)")
	capacity := fs.Uint("capacity", zroute.DefaultCapacity, "streams served at once per session")
	window := fs.Uint("window", zroute.DefaultWindow, "per-stream receive window for request bodies")
	sessionWindow := fs.Uint("session-window", zroute.DefaultWindow, "session receive window")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "graceful drain timeout on SIGTERM")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	curveServerKey := fs.String("curve-server-key", "", "router's CURVE public key: a .pub or .key file, or 40 Z85 characters (default $"+libzmq.ServerKeyEnv+"; needs -tags libzmq)")
	curveKey := fs.String("curve-key", "", "this worker's CURVE key pair file, as `zroute-router keygen` writes (default $"+libzmq.KeyEnv+"; needs -tags libzmq)")
	nameserver := fs.String("nameserver", "", "send every DNS query of a named endpoint to this `IP:PORT`, over UDP (default $"+zroute.NameserverEnv+", else the system's resolver)")
	resolveInterval := fs.Uint("resolve-interval", 0, "how often a named endpoint is looked up again, in `ms` (default $"+zroute.ResolveIntervalEnv+", else 5000)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: testapp ID [--connect ENDPOINT]... [--route ROUTE]... [flags]\n")
		fs.PrintDefaults()
	}

	// The worker id is the first argument; flags may follow it.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	if id == "" {
		fs.Usage()
		return 2
	}
	if len(connect) == 0 {
		if env := os.Getenv("ZROUTE_CONNECT"); env != "" {
			connect = listFlag{env}
		} else {
			connect = listFlag{"tcp://127.0.0.1:8000"}
		}
	}

	for _, ep := range connect {
		if err := zroute.CheckEndpoint(ep); err != nil {
			fmt.Fprintln(os.Stderr, "testapp:", err)
			return 2
		}
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "testapp: bad --log-level:", err)
		return 2
	}
	opts := &slog.HandlerOptions{Level: level}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if *logFormat == "json" {
		handler = slog.NewJSONHandler(os.Stderr, opts)
	}
	logger := slog.New(handler)

	curveRequested := *curveServerKey != "" || *curveKey != "" ||
		os.Getenv(libzmq.ServerKeyEnv) != "" || os.Getenv(libzmq.KeyEnv) != ""
	if curveRequested && transportName != "libzmq" {
		fmt.Fprintln(os.Stderr, "testapp: CURVE needs the libzmq transport: rebuild with `go build -tags libzmq ./cmd/testapp` "+
			"(needs libzmq's headers and pkg-config: apt-get install libzmq3-dev pkg-config)")
		return 2
	}
	curve, err := loadCurve(*curveServerKey, *curveKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		return 2
	}
	dialer, err := newDialer(logger, curve)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		return 2
	}

	w := &zroute.Worker{
		ID:            id,
		Routes:        routes,
		Features:      testapp.Features,
		Labels:        map[string]string{"impl": "go", "pid": fmt.Sprint(os.Getpid())},
		Capacity:      uint32(*capacity),
		InitialWindow: uint32(*window),
		SessionWindow: uint32(*sessionWindow),
		Handler:       testapp.Handler(id),
		Logger:        logger,
		Dialer:        dialer,
		// Empty or 0: the worker reads $ZROUTE_NAMESERVER and
		// $ZROUTE_RESOLVE_INTERVAL_MS itself.
		Nameserver:      *nameserver,
		ResolveInterval: time.Duration(*resolveInterval) * time.Millisecond,
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- w.Serve(connect...) }()
	logger.Info("test app started", "worker", id, "endpoints", []string(connect), "routes", []string(routes),
		"transport", transportName, "curve", curve != nil)

	select {
	case err := <-done:
		logger.Error("worker stopped", "err", err)
		return 1
	case sig := <-sigs:
		logger.Info("draining", "signal", sig.String(), "timeout", *shutdownTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	go func() {
		<-sigs
		logger.Warn("second signal: closing now")
		cancel()
	}()
	err = w.Shutdown(ctx)
	<-done
	if err != nil && !errors.Is(err, context.Canceled) {
		logger.Warn("drain incomplete", "err", err)
	}
	logger.Info("stopped")
	return 0
}

// loadCurve reads the CURVE keys from the flags, else from the environment;
// nil means no CURVE.
func loadCurve(serverKey, keyFile string) (*libzmq.Curve, error) {
	switch {
	case serverKey == "" && keyFile == "":
		return libzmq.CurveFromEnv()
	case serverKey == "" || keyFile == "":
		return nil, errors.New("--curve-server-key and --curve-key go together")
	}
	return libzmq.LoadCurve(serverKey, keyFile)
}
