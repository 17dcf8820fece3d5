//go:build dbtoken_dev

package dbtoken

// Development inside the repository (go test -tags dbtoken_dev): link the library cargo just
// built (cargo build --release --lib) instead of the shipped archives.

// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libdbtoken.a -lpthread -ldl -lm -lrt -lutil -lc
import "C"
