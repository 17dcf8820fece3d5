//go:build !dbtoken_dev

package dbtoken

// The archives shipped inside this module (scripts/dist.sh go builds them from the same
// commit; they are never committed to the repository), one directory per platform:
//   lib/linux_amd64/       glibc (the default)
//   lib/linux_amd64_musl/  musl, with LLVM's libunwind.a, for static binaries:
//     CC=musl-gcc go build -tags dbtoken_musl -ldflags '-linkmode external -extldflags -static'
// and the same for linux_arm64 once an aarch64 build exists.

// #cgo linux,amd64,!dbtoken_musl LDFLAGS: ${SRCDIR}/lib/linux_amd64/libdbtoken.a -lpthread -ldl -lm -lrt -lutil -lc
// #cgo linux,amd64,dbtoken_musl LDFLAGS: ${SRCDIR}/lib/linux_amd64_musl/libdbtoken.a ${SRCDIR}/lib/linux_amd64_musl/libunwind.a
// #cgo linux,arm64,!dbtoken_musl LDFLAGS: ${SRCDIR}/lib/linux_arm64/libdbtoken.a -lpthread -ldl -lm -lrt -lutil -lc
// #cgo linux,arm64,dbtoken_musl LDFLAGS: ${SRCDIR}/lib/linux_arm64_musl/libdbtoken.a ${SRCDIR}/lib/linux_arm64_musl/libunwind.a
import "C"
