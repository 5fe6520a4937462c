//go:build libzmq

package main

import (
	"log/slog"

	"zroute.example/worker/libzmq"
	"zroute.example/worker/zroute"
)

// transportName names the ZeroMQ library this build uses.
const transportName = "libzmq"

// newDialer returns the libzmq transport, with CURVE when curve is set.
func newDialer(logger *slog.Logger, curve *libzmq.Curve) (zroute.Dialer, error) {
	return libzmq.Dialer(logger, libzmq.Options{Curve: curve}), nil
}
