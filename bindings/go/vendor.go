//go:build dbtoken_vendor_archives

package dbtoken

// `go mod vendor` copies only the directories of imported packages. These imports are never
// built (nothing sets the tag), but vendor ignores build tags, so the archive directories,
// each holding a stub package, are copied into vendor/ with the archives in them.
import (
	_ "github.com/dbtoken/dbtoken/bindings/go/lib/linux_amd64"
	_ "github.com/dbtoken/dbtoken/bindings/go/lib/linux_amd64_musl"
	_ "github.com/dbtoken/dbtoken/bindings/go/lib/linux_arm64"
	_ "github.com/dbtoken/dbtoken/bindings/go/lib/linux_arm64_musl"
)
