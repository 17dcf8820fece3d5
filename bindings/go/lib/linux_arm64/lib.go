// Package linux_arm64 holds the dbtoken archive(s) for this platform (put here by scripts/dist.sh go).
// It has no code: this file exists so that go mod vendor keeps the directory.
package linux_arm64
