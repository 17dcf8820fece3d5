//go:build !cgo || !linux || !(amd64 || arm64)

package dbtoken

// This package links a C library: it needs cgo (CGO_ENABLED=1, a C compiler) and one of the
// platforms it ships archives for. This undefined name makes the build say so.
var _ = dbtoken_needs_cgo_on_linux_amd64_or_arm64
