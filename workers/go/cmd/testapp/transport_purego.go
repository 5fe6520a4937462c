//go:build !libzmq

package main

import (
	"errors"
	"log/slog"

	"zroute.example/worker/libzmq"
	"zroute.example/worker/zroute"
)

// transportName names the ZeroMQ library this build uses.
const transportName = "go-zeromq/zmq4"

// newDialer returns nil: the worker's default pure-Go transport, which has
// no CURVE (run refuses CURVE options in this build).
func newDialer(_ *slog.Logger, curve *libzmq.Curve) (zroute.Dialer, error) {
	if curve != nil {
		return nil, errors.New("CURVE needs the libzmq transport (-tags libzmq)")
	}
	return nil, nil
}
