//go:build tools

// Package tools pins the Temporal CLI (dev server + Web UI) that the local stack runs.
// go.sum holds the hash of every module it builds from.
package tools

import _ "github.com/temporalio/cli/cmd/temporal"
