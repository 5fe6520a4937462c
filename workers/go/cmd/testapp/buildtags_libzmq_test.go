//go:build libzmq

package main

var testappBuildFlags = []string{"-tags", "libzmq"}
