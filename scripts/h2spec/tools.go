//go:build tools

// Package tools pins h2spec, the HTTP/2 conformance tool that
// router/tests/h2spec.rs runs against the router. scripts/test builds it
// from this module, so h2spec and its dependencies are the versions in
// go.mod and go.sum, not whatever is newest.
package tools

import _ "github.com/summerwind/h2spec/cmd/h2spec"
