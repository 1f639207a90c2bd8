package sbomcollector

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds the SBOM decoder arbitrary bytes, seeded with the real
// syft fixtures and the small files of the real corpus (JSON and SPDX
// tag-value): it must return a document or a *DecodeError, never panic.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "sboms", "*.json"))
	real, _ := filepath.Glob(filepath.Join("testdata", "real", "sboms", "*"))
	for _, p := range real {
		if st, err := os.Stat(p); err == nil && st.Size() < 32<<10 {
			files = append(files, p)
		}
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"a","components":[{"type":"library","name":"b"}]}]}`,
		`{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-x"],"packages":[{"SPDXID":"SPDXRef-x","name":"x"}]}`,
		`{"artifacts":[{"name":"a","version":"^1","type":"npm","metadataType":"unknown","metadata":{}}],"schema":{"version":"16.0.0"}}`,
		`{"components":null,"bomFormat":"CycloneDX","specVersion":"1.4"}`,
		`[`, `{"a":[[[[{}]]]]}`,
		"SPDXVersion: SPDX-2.2\nDataLicense: CC0-1.0\nSPDXID: SPDXRef-DOCUMENT\nDocumentName: x\nPackageName: a\nSPDXID: SPDXRef-a\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := Decode(bytes.NewReader(b))
		var de *DecodeError
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("error is not a DecodeError: %T %v", err, err)
		}
		if err == nil && doc.Format == "" {
			t.Fatal("document without a format")
		}
	})
}

// FuzzVerify feeds the verifier arbitrary signature documents: it must
// answer with an artifact or a *DecodeError, never panic.
func FuzzVerify(f *testing.F) {
	for _, s := range []string{
		`MEUCIQ==`,
		`{"base64Signature":"MEUCIQ=="}`,
		`{"base64Signature":"MEUCIQ==","cert":"x"}`,
		`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"AA=="}]}`,
		`{"payloadType":"application/vnd.in-toto+json","payload":"eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEiLCJzdWJqZWN0IjpbeyJkaWdlc3QiOnsic2hhMjU2IjoiYWEifX1dLCJwcmVkaWNhdGVUeXBlIjoiaHR0cHM6Ly9zbHNhLmRldi9wcm92ZW5hbmNlL3YxIiwicHJlZGljYXRlIjp7fX0=","signatures":[{"sig":"AA=="}]}`,
		`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"x"}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AA=="},"signature":"AA=="}}`,
		`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"x"}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	key := []byte("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7mt0tE1ahAd0WUmcTHDB3ZE3ToS7\nQ9vC1t0IgU8wzjzQ5vCgbd8o+R8XRBzL6Z2s8QqWZP8ld6u1N7R0Ch8+Tg==\n-----END PUBLIC KEY-----\n")
	v, err := NewVerifier(VerifyConfig{AllowSubmittedKeys: true}, SigstoreConfig{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc []byte, withDigest bool) {
		req := VerifyRequest{Key: key, Subject: subject()}
		if withDigest {
			req.Digest = digestOf([]byte("artifact"))
		}
		a, err := v.Verify(doc, req)
		var de *DecodeError
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("error is not a DecodeError: %T %v", err, err)
		}
		if err == nil && a.Verified {
			t.Fatalf("random input verified: %v", a)
		}
	})
}

// FuzzSplitAttestations feeds npm attestation lists (and anything else) to
// the splitter: bundles or a *DecodeError, never a panic.
func FuzzSplitAttestations(f *testing.F) {
	for _, s := range []string{
		`{"attestations":[{"predicateType":"https://slsa.dev/provenance/v1","bundle":{"mediaType":"x"}}]}`,
		`{"attestations":[]}`, `{"attestations":null}`, `{"attestations":[{}]}`, `{"mediaType":"x"}`, `MEUCIQ==`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		parts, err := splitAttestations(doc)
		var de *DecodeError
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("error is not a DecodeError: %T %v", err, err)
		}
		if err == nil && len(parts) == 0 {
			t.Fatal("no error and nothing to verify")
		}
	})
}
