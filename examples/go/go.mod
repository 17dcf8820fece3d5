module github.com/dbtoken/dbtoken/examples/go

go 1.21
