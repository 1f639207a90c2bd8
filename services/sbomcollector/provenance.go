package sbomcollector

import (
	"encoding/json"
	"fmt"
	"strings"

	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	sbomv1 "github.com/trilens/trilens/proto/trilens/sbom/v1"
)

// SLSA provenance predicate types.
const (
	SLSAv02 = "https://slsa.dev/provenance/v0.2"
	SLSAv1  = "https://slsa.dev/provenance/v1"
)

// statement is an in-toto statement (v0.1 and v1 share these fields).
type statement struct {
	Type          string          `json:"_type"`
	Subject       []statementSubj `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

type statementSubj struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

func parseStatement(payload []byte) (*statement, error) {
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	if !strings.HasPrefix(st.Type, "https://in-toto.io/Statement/") {
		return nil, fmt.Errorf("in-toto statement: _type %q is not an in-toto statement", st.Type)
	}
	if len(st.Subject) == 0 {
		return nil, fmt.Errorf("in-toto statement: no subject")
	}
	return &st, nil
}

// hasDigest tells whether the statement is about the artifact with digest "sha256:<hex>".
func (st *statement) hasDigest(digest string) bool {
	alg, hex, _ := strings.Cut(digest, ":")
	for _, s := range st.Subject {
		if strings.EqualFold(s.Digest[alg], hex) {
			return true
		}
	}
	return false
}

// firstDigest is the first subject's sha256 (else sha512, as npm writes) as
// "<alg>:<hex>", and its name.
func (st *statement) firstDigest() (string, string) {
	for _, alg := range []string{"sha256", "sha512"} {
		for _, s := range st.Subject {
			if h := s.Digest[alg]; h != "" {
				return alg + ":" + strings.ToLower(h), s.Name
			}
		}
	}
	return "", ""
}

// fill completes a request from the statement: the artifact digest and
// name when the submission gave none.
func (st *statement) fill(req VerifyRequest) VerifyRequest {
	d, name := st.firstDigest()
	if req.Digest == "" {
		req.Digest = d
	}
	if req.Name == "" {
		req.Name = name
	}
	return req
}

type slsa02 struct {
	Builder    struct{ ID string } `json:"builder"`
	BuildType  string              `json:"buildType"`
	Invocation struct {
		ConfigSource slsaRef `json:"configSource"`
	} `json:"invocation"`
	Materials []slsaRef `json:"materials"`
}

type slsaRef struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest"`
}

type slsa1 struct {
	BuildDefinition struct {
		BuildType            string    `json:"buildType"`
		ResolvedDependencies []slsaRef `json:"resolvedDependencies"`
	} `json:"buildDefinition"`
	RunDetails struct {
		Builder struct{ ID string } `json:"builder"`
	} `json:"runDetails"`
}

// builderLevels are the SLSA build levels builders are known to meet, by
// the prefix of the verified builder identity (never the predicate's
// claim); any other verified provenance is level 1.
var builderLevels = []struct {
	prefix string
	level  uint32
}{
	{"https://github.com/slsa-framework/slsa-github-generator/", 3},
	{"https://cloudbuild.googleapis.com/GoogleHostedWorker", 3},
}

// parseProvenance reads builder, build type and source of a SLSA v0.2 or v1
// predicate; nil when the statement is not SLSA provenance.
func parseProvenance(st *statement) (*sbomv1.Provenance, error) {
	p := &sbomv1.Provenance{PredicateType: st.PredicateType}
	var src slsaRef
	switch st.PredicateType {
	case SLSAv02:
		var pr slsa02
		if err := json.Unmarshal(st.Predicate, &pr); err != nil {
			return nil, fmt.Errorf("SLSA v0.2 predicate: %w", err)
		}
		p.BuilderId, p.BuildType = pr.Builder.ID, pr.BuildType
		src = pr.Invocation.ConfigSource
		if src.URI == "" {
			for _, m := range pr.Materials {
				if commitOf(m.Digest) != "" {
					src = m
					break
				}
			}
		}
	case SLSAv1:
		var pr slsa1
		if err := json.Unmarshal(st.Predicate, &pr); err != nil {
			return nil, fmt.Errorf("SLSA v1 predicate: %w", err)
		}
		p.BuilderId, p.BuildType = pr.RunDetails.Builder.ID, pr.BuildDefinition.BuildType
		for _, d := range pr.BuildDefinition.ResolvedDependencies {
			if commitOf(d.Digest) != "" {
				src = d
				break
			}
		}
	default:
		return nil, nil
	}
	p.SourceRepository = normalizeRepo(src.URI)
	p.SourceCommit = strings.ToLower(commitOf(src.Digest))
	return p, nil
}

// commitOf is the git commit of a SLSA resource descriptor digest.
func commitOf(d map[string]string) string {
	for _, k := range []string{"gitCommit", "sha1"} {
		if v := d[k]; v != "" {
			return v
		}
	}
	return ""
}

// normalizeRepo reduces the spellings of a repository to host/owner/name:
// git+https://github.com/o/r.git@refs/heads/main, git@github.com:o/r and
// https://github.com/o/r all become github.com/o/r.
func normalizeRepo(uri string) string {
	s := strings.TrimSpace(uri)
	s = strings.TrimPrefix(s, "git+")
	for _, scheme := range []string{"https://", "http://", "ssh://", "git://"} {
		s = strings.TrimPrefix(s, scheme)
	}
	if rest, ok := strings.CutPrefix(s, "git@"); ok {
		s = strings.Replace(rest, ":", "/", 1)
	}
	if i := strings.Index(s, "@"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "/"), ".git")
	return strings.ToLower(s)
}

// matchSubject compares the provenance's source with the evidence subject.
// It returns "" when they agree, else why not. A subject without repository
// or commit cannot be compared: that is reported too, but is no mismatch.
func matchSubject(p *sbomv1.Provenance, subj *eventv1.Subject) (mismatch string, comparable bool) {
	repo, commit := normalizeRepo(subj.GetRepository()), strings.ToLower(subj.GetCommit())
	if repo == "" || commit == "" {
		return "the evidence subject names no repository and commit to compare the provenance with", false
	}
	if p.GetSourceRepository() != repo {
		return fmt.Sprintf("provenance source repository %q differs from subject repository %q", p.GetSourceRepository(), repo), true
	}
	if !sameCommit(p.GetSourceCommit(), commit) {
		return fmt.Sprintf("provenance source commit %q differs from subject commit %q", p.GetSourceCommit(), commit), true
	}
	return "", true
}

// sameCommit accepts an abbreviated commit (at least 7 hex digits) on either side.
func sameCommit(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	return a == b || (len(a) >= 7 && strings.HasPrefix(b, a))
}

// slsaLevel is the build level a verified builder identity is known to meet.
func slsaLevel(builder string) uint32 {
	for _, b := range builderLevels {
		if strings.HasPrefix(builder, b.prefix) {
			return b.level
		}
	}
	return 1
}
