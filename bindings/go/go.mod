module github.com/dbtoken/dbtoken/bindings/go

go 1.21
