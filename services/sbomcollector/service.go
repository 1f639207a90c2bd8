package sbomcollector

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/server"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	sbomv1 "github.com/trilens/trilens/proto/trilens/sbom/v1"
)

// Collector serves POST /v1/sboms and POST /v1/attestations.
type Collector struct {
	cfg      Config
	set      collect.Settings
	verifier *Verifier

	requests *prometheus.CounterVec
	rows     prometheus.Counter
	bytes    prometheus.Counter
	errors   *prometheus.CounterVec
	verified *prometheus.CounterVec
}

// New builds the collector; it loads trusted keys and, when keyless
// verification is on, the trusted root.
func New(cfg Config, set collect.Settings) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ver, err := NewVerifier(cfg.Verify, cfg.Sigstore)
	if err != nil {
		return nil, err
	}
	c := &Collector{
		cfg: cfg, set: set, verifier: ver,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_sbomcollector_requests_total", Help: "Ingest requests by endpoint and status code."}, []string{"endpoint", "code"}),
		rows:     prometheus.NewCounter(prometheus.CounterOpts{Name: "trilens_sbomcollector_components_total", Help: "SBOM components published."}),
		bytes:    prometheus.NewCounter(prometheus.CounterOpts{Name: "trilens_sbomcollector_bytes_total", Help: "Decoded bytes of SBOM and attestation documents read."}),
		errors:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_sbomcollector_errors_total", Help: "Failed requests by reason."}, []string{"reason"}),
		verified: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trilens_sbomcollector_artifacts_total", Help: "Artifacts checked, by signature format and outcome."}, []string{"format", "verified"}),
	}
	if set.Registerer != nil {
		for _, m := range []prometheus.Collector{c.requests, c.rows, c.bytes, c.errors, c.verified} {
			if err := set.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("sbomcollector metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Register mounts the collector's endpoints.
func (c *Collector) Register(mux server.Router) {
	mux.Handle("POST /v1/sboms", c.handler("sboms", c.ingestSBOM))
	mux.Handle("POST /v1/attestations", c.handler("attestations", c.ingestAttestation))
}

func (c *Collector) handler(endpoint string, fn func(*http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := fn(r)
		if err != nil {
			status := http.StatusInternalServerError
			var ie *collect.Error
			switch {
			case errors.As(err, &ie):
				status = ie.Status
				c.errors.WithLabelValues("invalid").Inc()
			case errors.Is(err, collect.ErrTooLarge):
				status = http.StatusRequestEntityTooLarge
				c.errors.WithLabelValues("too_large").Inc()
			default:
				c.errors.WithLabelValues("internal").Inc()
			}
			c.requests.WithLabelValues(endpoint, fmt.Sprint(status)).Inc()
			collect.WriteError(w, c.set.Logger, err)
			return
		}
		c.requests.WithLabelValues(endpoint, "202").Inc()
		collect.WriteJSON(w, http.StatusAccepted, resp)
	})
}

// SBOMResponse answers an accepted SBOM.
type SBOMResponse struct {
	ReportID string `json:"report_id"`
	Events   int    `json:"events"`
	Rows     int    `json:"rows"`
	SHA256   string `json:"document_sha256"`
	Format   string `json:"format"`
	Artifact string `json:"artifact"`
	Digest   string `json:"artifact_digest,omitempty"`
}

// ingestSBOM decodes the whole document while copying it to a temp file,
// stores the file, then publishes: nothing is published for a bad document.
func (c *Collector) ingestSBOM(r *http.Request) (any, error) {
	req, err := c.set.Open(r)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(c.cfg.TempDir, "sbom-*.json")
	if err != nil {
		return nil, err
	}
	defer func() { tmp.Close(); os.Remove(tmp.Name()) }()
	h := sha256.New()
	counted := &countingWriter{}
	doc, err := Decode(io.TeeReader(req.Body, io.MultiWriter(tmp, h, counted)))
	c.bytes.Add(float64(counted.n))
	if err != nil {
		return nil, asBadRequest(err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	// The artifact is named by the request's artifact parameter, else by the
	// document itself, else by the file name the client sent.
	name := param(r, "artifact")
	if name == "" {
		name = doc.ArtifactName
	}
	if name == "" {
		name = req.Name
	}
	digest := param(r, "digest")
	if digest == "" {
		digest = doc.ArtifactDigest
	} else if _, _, err := parseDigest(digest); err != nil {
		return nil, asBadRequest(err)
	}
	if name == "" {
		return nil, collect.Errorf(http.StatusBadRequest, "artifact", "the document names no artifact: pass artifact=<artifact name>")
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	ctx := r.Context()
	ref, err := c.set.Publisher.PutDocument(bus.WithTenant(ctx, req.Tenant), "sbom/"+sum, doc.MediaType, tmp)
	if err != nil {
		return nil, fmt.Errorf("store document: %w", err)
	}
	reportID := SBOMReportID(req.Tenant, req.Subject, name, sum)
	producer := &eventv1.Producer{Collector: Producer, Tool: doc.Tool, ToolVersion: doc.ToolVersion}
	env := func(id string) *eventv1.Envelope {
		return c.set.Envelope(req, id, eventv1.Kind_KIND_SBOM, producer, doc.Created)
	}
	evs := SBOMEvents(env, req.Tenant, reportID, ref, SBOMBatches(doc, name, digest, c.cfg.MaxComponentsPerEvent))
	if err := c.set.Publisher.Publish(ctx, evs...); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	c.rows.Add(float64(len(doc.Components)))
	return &SBOMResponse{ReportID: reportID, Events: len(evs), Rows: len(doc.Components), SHA256: sum,
		Format: doc.Format, Artifact: name, Digest: digest}, nil
}

// AttestationResponse answers a checked signature or attestation; a list
// of attestations (npm's format) has one result per attestation, and the
// top-level fields tell whether all verified.
type AttestationResponse struct {
	ReportID          string              `json:"report_id"`
	Events            int                 `json:"events"`
	Rows              int                 `json:"rows"`
	SHA256            string              `json:"document_sha256"`
	Artifact          string              `json:"artifact"`
	Digest            string              `json:"artifact_digest"`
	Verified          bool                `json:"verified"`
	VerificationError string              `json:"verification_error,omitempty"`
	Results           []AttestationResult `json:"results,omitempty"`
}

// AttestationResult is the outcome of one attestation of a list.
type AttestationResult struct {
	PredicateType     string `json:"predicate_type,omitempty"`
	Verified          bool   `json:"verified"`
	Signer            string `json:"signer,omitempty"`
	VerificationError string `json:"verification_error,omitempty"`
}

// attestationList is npm's attestations document
// (GET registry.npmjs.org/-/npm/v1/attestations/<name>@<version>).
type attestationList struct {
	Attestations []struct {
		PredicateType string          `json:"predicateType"`
		Bundle        json.RawMessage `json:"bundle"`
	} `json:"attestations"`
}

// splitAttestations returns the bundles of an npm attestation list, or the
// document itself.
func splitAttestations(doc []byte) ([][]byte, error) {
	var probe struct {
		Attestations json.RawMessage `json:"attestations"`
	}
	if t := bytes.TrimSpace(doc); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &probe) != nil || probe.Attestations == nil {
		return [][]byte{doc}, nil
	}
	var l attestationList
	if err := json.Unmarshal(doc, &l); err != nil {
		return nil, decodeErrorf("attestation list: %v", err)
	}
	if len(l.Attestations) == 0 {
		return nil, decodeErrorf("attestation list: no attestations")
	}
	out := make([][]byte, len(l.Attestations))
	for i, a := range l.Attestations {
		if len(a.Bundle) == 0 {
			return nil, decodeErrorf("attestations[%d]: no bundle", i)
		}
		out[i] = a.Bundle
	}
	return out, nil
}

// ingestAttestation verifies a signature, bundle, attestation or list of
// attestations and publishes one artifact event each; a failed
// verification is evidence, not an error.
func (c *Collector) ingestAttestation(r *http.Request) (any, error) {
	req, err := c.set.Open(r)
	if err != nil {
		return nil, err
	}
	doc, err := io.ReadAll(io.LimitReader(req.Body, c.cfg.Verify.MaxAttestationBytes+1))
	if err != nil {
		return nil, err
	}
	c.bytes.Add(float64(len(doc)))
	if int64(len(doc)) > c.cfg.Verify.MaxAttestationBytes {
		return nil, collect.ErrTooLarge
	}
	vreq := VerifyRequest{Name: param(r, "artifact"), Digest: param(r, "digest"), Subject: req.Subject}
	if k := param(r, "key"); k != "" {
		pem, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			return nil, collect.Errorf(http.StatusBadRequest, "key", "want the PEM public key in standard base64: %v", err)
		}
		vreq.Key = pem
	}
	parts, err := splitAttestations(doc)
	if err != nil {
		return nil, asBadRequest(err)
	}
	arts := make([]*sbomv1.Artifact, len(parts))
	for i, part := range parts {
		art, err := c.verifier.Verify(part, vreq)
		if err != nil {
			if len(parts) > 1 {
				err = prefixDecodeError(fmt.Sprintf("attestations[%d]: ", i), err)
			}
			return nil, asBadRequest(err)
		}
		if art.GetDigest() == "" {
			return nil, collect.Errorf(http.StatusBadRequest, "digest", "the artifact digest is unknown: pass digest=sha256:<hex>")
		}
		if art.Name == "" {
			art.Name = art.Digest
		}
		arts[i] = art
	}
	sum := sha256.Sum256(doc)
	docSum := hex.EncodeToString(sum[:])
	ctx := r.Context()
	ref, err := c.set.Publisher.PutDocument(bus.WithTenant(ctx, req.Tenant), "attestation/"+docSum, "application/json", bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("store document: %w", err)
	}
	first := arts[0]
	reportID := events.ID(req.Tenant, "artifact", first.Digest, req.Subject.GetRepository(), req.Subject.GetCommit(), docSum)
	resp := &AttestationResponse{ReportID: reportID, Events: len(arts), Rows: len(arts), SHA256: docSum, Artifact: first.Name,
		Digest: first.Digest, Verified: true}
	evs := make([]*eventv1.Event, len(arts))
	var failures []string
	for i, art := range arts {
		e := c.set.Envelope(req, events.ID(req.Tenant, "artifact", reportID, strconv.Itoa(i)), eventv1.Kind_KIND_ARTIFACT,
			&eventv1.Producer{Collector: Producer, Tool: "sigstore-go"}, time.Time{})
		e.Document = ref
		e.Part = &eventv1.Part{ReportId: reportID, Index: uint32(i), Count: uint32(len(arts))}
		evs[i] = &eventv1.Event{Envelope: e, Payload: &eventv1.Event_Artifact{Artifact: art}}
		if !art.Verified {
			resp.Verified = false
			failures = append(failures, art.VerificationError)
		}
		if len(arts) > 1 {
			resp.Results = append(resp.Results, AttestationResult{PredicateType: art.GetProvenance().GetPredicateType(),
				Verified: art.Verified, Signer: art.SignerIdentity, VerificationError: art.VerificationError})
		}
	}
	resp.VerificationError = strings.Join(failures, "; ")
	if err := c.set.Publisher.Publish(ctx, evs...); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	for _, art := range arts {
		c.verified.WithLabelValues(art.SignatureFormat, fmt.Sprint(art.Verified)).Inc()
	}
	return resp, nil
}

// prefixDecodeError names the part of a document a decode error is about.
func prefixDecodeError(prefix string, err error) error {
	var de *DecodeError
	if errors.As(err, &de) {
		return &DecodeError{Msg: prefix + de.Msg}
	}
	return err
}

// param reads a parameter of this collector (artifact, digest, key) from
// the query or an X-Trilens-<Name> header.
func param(r *http.Request, name string) string {
	if v := r.URL.Query().Get(name); v != "" {
		return v
	}
	return r.Header.Get("X-Trilens-" + name)
}

// asBadRequest turns a document the collector cannot take into a 400 that
// names the problem; reader failures (too large, broken connection) pass.
func asBadRequest(err error) error {
	var de *DecodeError
	if errors.As(err, &de) {
		return collect.Errorf(http.StatusBadRequest, "body", "%s", de.Msg)
	}
	return err
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
