package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"
)

// Certs serves the TLS certificate from files and reloads it when they change (cert-manager
// and kubelet replace a Secret volume's files by swapping a ..data symlink): every handshake
// asks GetCertificate, which looks at the files at most once a second. A pair that does not
// load (a rotation caught half-way, a key that does not match) keeps the last good one; the
// next look retries.
type Certs struct {
	certFile, keyFile string
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	notAfter  time.Time
	stamp     string // what the files looked like at the last load
	checked   time.Time
	lastError error
	reloads   uint64
	failures  uint64
}

// LoadCerts loads the pair once; an error names the file.
func LoadCerts(certFile, keyFile string) (*Certs, error) {
	c := &Certs{certFile: certFile, keyFile: keyFile, now: time.Now}
	if err := c.load(); err != nil {
		return nil, err
	}
	c.reloads = 0
	return c, nil
}

func (c *Certs) fileStamp() (string, error) {
	var s string
	for _, f := range []string{c.certFile, c.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%s:%d:%d;", f, st.Size(), st.ModTime().UnixNano())
	}
	return s, nil
}

// load reads the pair; c.mu held (or c not yet shared).
func (c *Certs) load() error {
	stamp, err := c.fileStamp()
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: --tls-cert %s / --tls-key %s: %w", c.certFile, c.keyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("tls: --tls-cert %s: %w", c.certFile, err)
	}
	pair.Leaf = leaf
	c.cert, c.notAfter, c.stamp = &pair, leaf.NotAfter, stamp
	c.reloads++
	return nil
}

// maybeReload looks at the files if a second has passed since the last look.
func (c *Certs) maybeReload() {
	now := c.now()
	if now.Sub(c.checked) < time.Second {
		return
	}
	c.checked = now
	stamp, err := c.fileStamp()
	if err == nil && stamp == c.stamp {
		return
	}
	if err == nil {
		err = c.load()
	}
	if err != nil {
		if c.lastError == nil || c.lastError.Error() != err.Error() {
			logf("keeping the current certificate: %v", err)
		}
		c.failures++
		c.lastError = err
		return
	}
	if c.lastError != nil || c.reloads > 0 {
		logf("loaded the rotated certificate from %s (valid until %s)", c.certFile, c.notAfter.UTC().Format(time.RFC3339))
	}
	c.lastError = nil
}

// GetCertificate is tls.Config's hook.
func (c *Certs) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maybeReload()
	return c.cert, nil
}

// State for /readyz and /metrics.
type CertState struct {
	NotAfter          time.Time
	Reloads, Failures uint64
	LastError         error
}

func (c *Certs) State() CertState {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maybeReload()
	return CertState{NotAfter: c.notAfter, Reloads: c.reloads, Failures: c.failures, LastError: c.lastError}
}
