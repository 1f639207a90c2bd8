package server

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certReloader serves the certificate in a pair of PEM files and loads them
// again when either changes, so a renewed certificate (cert-manager, ACME)
// takes effect without a restart. A pair that fails to load keeps the last
// good one in service.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time
	checked time.Time
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// newest is the later modification time of the two files.
func (r *certReloader) newest() (time.Time, error) {
	var t time.Time
	for _, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return time.Time{}, err
		}
		if fi.ModTime().After(t) {
			t = fi.ModTime()
		}
	}
	return t, nil
}

func (r *certReloader) load() error {
	mod, err := r.newest()
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %s, %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.modTime = &c, mod
	return nil
}

// getCertificate is tls.Config.GetCertificate: it looks at the files at
// most once a second.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= time.Second {
		r.checked = now
		if mod, err := r.newest(); err == nil && !mod.Equal(r.modTime) {
			_ = r.load() // on error the last good certificate stays
		}
	}
	return r.cert, nil
}

// TLSConfig is a server TLS configuration (TLS 1.2 or later) over the pair
// of PEM files, reloaded when they change. Other servers (OTLP) use it too.
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	r, err := newCertReloader(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate}, nil
}
