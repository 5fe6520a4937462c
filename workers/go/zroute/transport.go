package zroute

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"time"

	"github.com/go-zeromq/zmq4"
)

// Conn is one worker socket connected to one router endpoint (§3.1): a
// ZeroMQ DEALER socket, or anything that behaves like one. A session lives on
// exactly one Conn and a Conn carries at most one session (§9).
type Conn interface {
	// Send sends one message of one or more parts. Send may block while
	// the transport applies back-pressure; Close unblocks it.
	Send(parts [][]byte) error
	// Recv returns the parts of the next message. It returns an error once
	// the connection is lost or closed.
	Recv() ([][]byte, error)
	// Close closes the socket. Messages whose Send has returned are
	// flushed by the operating system.
	Close() error
}

// Dialer opens a new Conn to endpoint and returns once the connection is
// complete, which is when the socket is writable (§9.2 step 2). It keeps
// retrying while the router is unreachable, until ctx is done.
type Dialer func(ctx context.Context, endpoint string) (Conn, error)

// ZMQDialer returns a Dialer that uses a pure-Go ZeroMQ DEALER socket
// (github.com/go-zeromq/zmq4). reconnect is the interval between connection
// attempts while the router is unreachable (like ZMQ_RECONNECT_IVL).
//
// zmq4 has none of the socket options of §3.3; see README.md for how each is
// covered: the dial is synchronous (ZMQ_IMMEDIATE and "wait until
// writable"), sends are synchronous writes (no queue for ZMQ_LINGER or
// ZMQ_SNDHWM to bound; a blocked send is detected by the session's send
// watchdog, §3.4), ZMTP command frames (ZMTP PING) are filtered out here,
// and every socket gets a fresh random routing id.
func ZMQDialer(logger *slog.Logger, reconnect time.Duration) Dialer {
	if reconnect <= 0 {
		reconnect = 100 * time.Millisecond
	}
	return func(ctx context.Context, endpoint string) (Conn, error) {
		for {
			c, err := dialZMQ(ctx, endpoint, logger, reconnect)
			if err == nil {
				return c, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.As(err, new(zmq4.UnknownTransportError)) || strings.Contains(err.Error(), "invalid address") {
				return nil, err
			}
			logger.Debug("connect failed; retrying", "endpoint", endpoint, "err", err)
			t := time.NewTimer(reconnect)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
	}
}

func dialZMQ(ctx context.Context, endpoint string, logger *slog.Logger, reconnect time.Duration) (*zmqConn, error) {
	// The socket outlives ctx, which bounds only the connecting phase.
	sctx, cancel := context.WithCancel(context.Background())
	sock := zmq4.NewDealer(sctx,
		zmq4.WithDialerRetry(reconnect),
		zmq4.WithDialerMaxRetries(-1),
		zmq4.WithDialerTimeout(5*time.Second),
		zmq4.WithLogger(log.New(slogWriter{logger}, "", 0)),
	)
	stop := context.AfterFunc(ctx, cancel)
	// Dial blocks until the TCP (or IPC) connection and the ZMTP handshake
	// are complete, retrying while the router is unreachable.
	err := sock.Dial(endpoint)
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		sock.Close()
		cancel()
		return nil, fmt.Errorf("zroute: connect %s: %w", endpoint, err)
	}
	return &zmqConn{sock: sock, cancel: cancel}, nil
}

type zmqConn struct {
	sock   zmq4.Socket
	cancel context.CancelFunc
}

func (c *zmqConn) Send(parts [][]byte) error {
	return c.sock.Send(zmq4.NewMsgFrom(parts...))
}

func (c *zmqConn) Recv() ([][]byte, error) {
	for {
		msg, err := c.sock.Recv()
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil, io.ErrClosedPipe
			}
			return nil, err
		}
		// zmq4 hands ZMTP commands (for example the PING of ZMTP 3.1
		// heartbeats) to the application as messages: they are transport
		// traffic, not zroute frames.
		if msg.Type == zmq4.CmdMsg {
			continue
		}
		return msg.Frames, nil
	}
}

func (c *zmqConn) Close() error {
	err := c.sock.Close()
	c.cancel()
	return err
}

// slogWriter forwards zmq4's log.Logger output to slog at debug level.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimSpace(string(p)), "component", "zmq4")
	return len(p), nil
}
