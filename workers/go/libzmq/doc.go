// Package libzmq is a zroute transport backed by libzmq through cgo
// (github.com/pebbe/zmq4). Unlike the default pure-Go transport of package
// zroute, it has every socket option of spec §3.3 and CURVE authentication
// and encryption (§14.1).
//
// The transport is compiled only with the build tag libzmq, and then needs
// libzmq's headers and pkg-config (Debian: libzmq3-dev pkg-config):
//
//	go build -tags libzmq ./...
//
// Without the tag the package holds only the key-file readers (pure Go), so
// the default build of the module needs no C library.
package libzmq
