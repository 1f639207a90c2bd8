package chain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/trilens/trilens/pkg/store"
)

// Signer signs checkpoints with an ed25519 key.
type Signer struct {
	key   ed25519.PrivateKey
	KeyID string
}

// NewSigner reads a PEM PKCS#8 ed25519 private key (openssl genpkey -algorithm ed25519).
func NewSigner(pemData []byte) (*Signer, error) {
	b, _ := pem.Decode(pemData)
	if b == nil {
		return nil, errors.New("checkpoint key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("checkpoint key: %T, want ed25519", k)
	}
	return &Signer{key: priv, KeyID: KeyID(priv.Public().(ed25519.PublicKey))}, nil
}

// KeyID names a public key: the first 16 hex digits of its sha256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// ParsePublicKey reads a PEM PKIX ed25519 public key (openssl pkey -pubout).
func ParsePublicKey(pemData []byte) (ed25519.PublicKey, error) {
	b, _ := pem.Decode(pemData)
	if b == nil {
		return nil, errors.New("public key: no PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key: %T, want ed25519", k)
	}
	return pub, nil
}

// signed is the message a checkpoint signs.
func signed(tenant string, seq uint64, digest string, at time.Time) []byte {
	return fmt.Appendf(nil, "trilens evidence checkpoint v1\ntenant %s\nseq %d\nchain %s\nsigned_at %s\n",
		tenant, seq, digest, at.UTC().Format(time.RFC3339))
}

// Sign signs the chain's head at seq.
func (s *Signer) Sign(tenant string, seq uint64, digest string, at time.Time) store.Checkpoint {
	at = at.UTC().Truncate(time.Second)
	sig := ed25519.Sign(s.key, signed(tenant, seq, digest, at))
	return store.Checkpoint{Tenant: tenant, ChainSeq: seq, ChainDigest: digest, SignedAt: at, KeyID: s.KeyID,
		Signature: base64.StdEncoding.EncodeToString(sig)}
}

// VerifySignature checks a checkpoint's signature with pub.
func VerifySignature(pub ed25519.PublicKey, c store.Checkpoint) error {
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, signed(c.Tenant, c.ChainSeq, c.ChainDigest, c.SignedAt), sig) {
		return fmt.Errorf("checkpoint %d of %s: bad signature for key %s", c.ChainSeq, c.Tenant, KeyID(pub))
	}
	return nil
}
