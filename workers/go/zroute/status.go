package zroute

import (
	"log/slog"
	"strconv"
)

// RstStatus is an RST_STREAM status code (§6.1). Every 32-bit value decodes
// and re-encodes unchanged; unknown values are treated as INTERNAL_ERROR.
type RstStatus uint32

// RST_STREAM status codes (§6.1).
const (
	RstProtocolError       RstStatus = 1
	RstInvalidStream       RstStatus = 2
	RstRefusedStream       RstStatus = 3
	RstUnsupportedVersion  RstStatus = 4
	RstCancel              RstStatus = 5
	RstInternalError       RstStatus = 6
	RstFlowControlError    RstStatus = 7
	RstStreamInUse         RstStatus = 8
	RstStreamAlreadyClosed RstStatus = 9
	RstFrameTooLarge       RstStatus = 11
)

var rstNames = map[RstStatus]string{
	RstProtocolError: "PROTOCOL_ERROR", RstInvalidStream: "INVALID_STREAM",
	RstRefusedStream: "REFUSED_STREAM", RstUnsupportedVersion: "UNSUPPORTED_VERSION",
	RstCancel: "CANCEL", RstInternalError: "INTERNAL_ERROR",
	RstFlowControlError: "FLOW_CONTROL_ERROR", RstStreamInUse: "STREAM_IN_USE",
	RstStreamAlreadyClosed: "STREAM_ALREADY_CLOSED", RstFrameTooLarge: "FRAME_TOO_LARGE",
}

// Known reports whether §6.1 defines the code.
func (s RstStatus) Known() bool { _, ok := rstNames[s]; return ok }

// Effective returns the code a receiver acts on: unknown codes (0, 10 and
// every undefined value) count as INTERNAL_ERROR (§6.1).
func (s RstStatus) Effective() RstStatus {
	if s.Known() {
		return s
	}
	return RstInternalError
}

func (s RstStatus) String() string {
	if n, ok := rstNames[s]; ok {
		return n
	}
	return strconv.FormatUint(uint64(s), 10)
}

// GoAwayStatus is a GOAWAY status code (§6.2).
type GoAwayStatus uint32

// GOAWAY status codes (§6.2).
const (
	GoAwayOK                 GoAwayStatus = 0
	GoAwayProtocolError      GoAwayStatus = 1
	GoAwayInternalError      GoAwayStatus = 2
	GoAwayFlowControlError   GoAwayStatus = 3
	GoAwayUnknownSession     GoAwayStatus = 4
	GoAwayUnsupportedVersion GoAwayStatus = 5
	GoAwayRefused            GoAwayStatus = 6
)

var goAwayNames = map[GoAwayStatus]string{
	GoAwayOK: "OK", GoAwayProtocolError: "PROTOCOL_ERROR", GoAwayInternalError: "INTERNAL_ERROR",
	GoAwayFlowControlError: "FLOW_CONTROL_ERROR", GoAwayUnknownSession: "UNKNOWN_SESSION",
	GoAwayUnsupportedVersion: "UNSUPPORTED_VERSION", GoAwayRefused: "REFUSED",
}

// Known reports whether §6.2 defines the code.
func (s GoAwayStatus) Known() bool { _, ok := goAwayNames[s]; return ok }

// Effective returns the code a receiver acts on: unknown codes count as
// INTERNAL_ERROR (§6.2).
func (s GoAwayStatus) Effective() GoAwayStatus {
	if s.Known() {
		return s
	}
	return GoAwayInternalError
}

func (s GoAwayStatus) String() string {
	if n, ok := goAwayNames[s]; ok {
		return n
	}
	return strconv.FormatUint(uint64(s), 10)
}

// ParseRstStatus maps a §6.1 name to its code.
func ParseRstStatus(name string) (RstStatus, bool) {
	for c, n := range rstNames {
		if n == name {
			return c, true
		}
	}
	return 0, false
}

// ParseGoAwayStatus maps a §6.2 name to its code.
func ParseGoAwayStatus(name string) (GoAwayStatus, bool) {
	for c, n := range goAwayNames {
		if n == name {
			return c, true
		}
	}
	return 0, false
}

// LogValue logs the code by name.
func (s RstStatus) LogValue() slog.Value { return slog.StringValue(s.String()) }

// LogValue logs the code by name.
func (s GoAwayStatus) LogValue() slog.Value { return slog.StringValue(s.String()) }
