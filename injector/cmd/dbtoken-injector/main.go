// dbtoken-injector is a mutating admission webhook: a pod labelled dbtoken.dev/inject=true
// gets a projected service-account token, the dbtoken sidecar and the DATABRICKS_* variables
// that make every unmodified Databricks SDK in it authenticate. See
// docs/src/guides/kubernetes-injector.md.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dbtoken/dbtoken/injector/inject"
	"github.com/dbtoken/dbtoken/injector/server"
)

var version = "dev" // -ldflags "-X main.version=..."

const usage = `usage: dbtoken-injector --listen ADDR --tls-cert FILE --tls-key FILE [--config FILE] [--quiet]

Serves POST /mutate (AdmissionReview admission.k8s.io/v1 -> JSON Patch), /healthz, /readyz
and /metrics over HTTPS. The certificate files are re-read when they change (cert-manager
rotation) without a restart. --config is YAML: defaults (host, clientId, audience, mode,
image), namespaces (per-namespace defaults), sidecar (ports, logLevel, resources, ...).

example:
  dbtoken-injector --listen :8443 --tls-cert /tls/tls.crt --tls-key /tls/tls.key --config /config/config.yaml
`

func main() {
	fs := flag.NewFlagSet("dbtoken-injector", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	listen := fs.String("listen", ":8443", "")
	certFile := fs.String("tls-cert", "", "")
	keyFile := fs.String("tls-key", "", "")
	configFile := fs.String("config", "", "")
	quiet := fs.Bool("quiet", false, "")
	showVersion := fs.Bool("version", false, "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println("dbtoken-injector", version)
		return
	}
	if fs.NArg() > 0 {
		die(2, "unexpected argument %q", fs.Arg(0))
	}
	if *certFile == "" || *keyFile == "" {
		die(2, "--tls-cert and --tls-key are required (the API server calls webhooks over HTTPS only)")
	}
	cfg := inject.DefaultConfig()
	if *configFile != "" {
		c, err := inject.LoadConfig(*configFile)
		if err != nil {
			die(3, "%v", err)
		}
		cfg = c
	}
	certs, err := server.LoadCerts(*certFile, *keyFile)
	if err != nil {
		die(3, "%v", err)
	}
	srv := server.New(&cfg, certs, version)
	srv.Quiet = *quiet
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		die(6, "--listen %s: %v", *listen, err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	done := make(chan struct{})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		// The API server retries elsewhere; give answers in flight a moment.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		close(done)
	}()
	fmt.Fprintf(os.Stderr, "dbtoken-injector %s: listening on https://%s\n", version, ln.Addr())
	if err := hs.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		die(6, "%v", err)
	}
	<-done
}

func die(code int, format string, a ...any) {
	fmt.Fprintf(os.Stderr, "dbtoken-injector: "+format+"\n", a...)
	os.Exit(code)
}
