package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/server"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with serial.
func writeCert(t *testing.T, dir string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "trilens-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written beside and renamed, as cert-manager does, so a reader never
	// sees half a file.
	for name, block := range map[string]*pem.Block{"tls.crt": {Type: "CERTIFICATE", Bytes: der}, "tls.key": {Type: "EC PRIVATE KEY", Bytes: kder}} {
		tmp := filepath.Join(dir, name+".new")
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// servedSerial connects with TLS and returns the serial of the certificate served.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test reads the served certificate
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

func TestTLSCertificateIsReloadedWhenItChanges(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, 1)
	cfg := server.Config{HTTPAddress: "127.0.0.1:0", TLSCertFile: filepath.Join(dir, "tls.crt"), TLSKeyFile: filepath.Join(dir, "tls.key")}
	s := server.New(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), func(context.Context) error { return nil })
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	if got := servedSerial(t, s.Addr()); got != 1 {
		t.Fatalf("served serial %d, want 1", got)
	}
	time.Sleep(1100 * time.Millisecond) // a later modification time
	writeCert(t, dir, 2)
	deadline := time.Now().Add(5 * time.Second)
	for servedSerial(t, s.Addr()) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not served within 5 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := os.WriteFile(cfg.TLSKeyFile, []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if got := servedSerial(t, s.Addr()); got != 2 {
		t.Fatalf("a broken renewal must keep the last good certificate; served %d", got)
	}
}

func TestTLSNeedsBothFiles(t *testing.T) {
	cfg := server.Config{HTTPAddress: "127.0.0.1:0", ReadHeaderTimeout: time.Second, StallTimeout: time.Second, IdleTimeout: time.Second, TLSCertFile: "a.pem"}
	if err := cfg.Validate(); err == nil {
		t.Fatal("a certificate without its key must not validate")
	}
}
