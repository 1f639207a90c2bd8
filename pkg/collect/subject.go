package collect

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

// Field is a kind of text a collector takes from a request or a report and
// that the scorer later groups, joins and binds into queries by: a value
// that is too long or carries control characters is refused at the door
// rather than accepted and then failing to score.
type Field struct {
	// MaxBytes bounds the value's length in bytes.
	MaxBytes int
	// Spaces allows spaces (never other white space or control characters).
	Spaces bool
	// ASCII limits the value to letters, digits, '.', '_' and '-'.
	ASCII bool
	// URL requires an absolute URL.
	URL bool
}

// Kinds of subject text.
var (
	// Identifier: repositories, branches, pipeline runs, releases: no white space.
	Identifier = Field{MaxBytes: 256}
	// Label: services, journeys, test and scenario names, document names.
	Label = Field{MaxBytes: 256, Spaces: true}
	// Revision: commits (hex hashes, or a VCS's revision names).
	Revision = Field{MaxBytes: 64, ASCII: true}
	// URL: pages measured.
	URL = Field{MaxBytes: 2048, URL: true}
)

// Check returns a 400 *Error naming field when v does not fit f. The empty
// value always fits: fields are optional.
func (f Field) Check(field, v string) error {
	if v == "" {
		return nil
	}
	if len(v) > f.MaxBytes {
		return Errorf(http.StatusBadRequest, field, "%d bytes, want at most %d", len(v), f.MaxBytes)
	}
	if !utf8.ValidString(v) {
		return Errorf(http.StatusBadRequest, field, "not valid UTF-8")
	}
	for i, r := range v {
		switch {
		case f.ASCII && !(r < utf8.RuneSelf && (r == '.' || r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r))):
			return Errorf(http.StatusBadRequest, field, "character %q at byte %d: want letters, digits, '.', '_' or '-'", r, i)
		case r == ' ' && f.Spaces:
		case unicode.IsSpace(r) || !unicode.IsPrint(r):
			return Errorf(http.StatusBadRequest, field, "character %q at byte %d: want no white space or control characters", r, i)
		}
	}
	if f.Spaces && strings.TrimSpace(v) != v {
		return Errorf(http.StatusBadRequest, field, "leading or trailing space")
	}
	if f.URL {
		u, err := url.Parse(v)
		if err != nil || !u.IsAbs() {
			return Errorf(http.StatusBadRequest, field, "want an absolute URL, got %.80q", v)
		}
	}
	return nil
}

// subjectFields are the subject's parameters (query parameter or
// X-Trilens-<Name> header) with their field and kind.
var subjectFields = []struct {
	name string
	kind Field
	ref  func(*eventv1.Subject) *string
}{
	{"repo", Identifier, func(s *eventv1.Subject) *string { return &s.Repository }},
	{"commit", Revision, func(s *eventv1.Subject) *string { return &s.Commit }},
	{"branch", Identifier, func(s *eventv1.Subject) *string { return &s.Branch }},
	{"base_branch", Identifier, func(s *eventv1.Subject) *string { return &s.BaseBranch }},
	{"pipeline_run", Identifier, func(s *eventv1.Subject) *string { return &s.PipelineRun }},
	{"service", Label, func(s *eventv1.Subject) *string { return &s.Service }},
	{"journey", Label, func(s *eventv1.Subject) *string { return &s.Journey }},
	{"release", Identifier, func(s *eventv1.Subject) *string { return &s.Release }},
}

// ValidateSubject checks every text field of s; the error is a 400 *Error
// naming the request parameter of the first field that does not fit.
func ValidateSubject(s *eventv1.Subject) error {
	for _, f := range subjectFields {
		if err := f.kind.Check(f.name, *f.ref(s)); err != nil {
			return err
		}
	}
	return nil
}

// ReportID identifies one submission: the document's digest together with
// the tenant, every subject field and any extra parts that name what the
// document was submitted as (a test name). The same file submitted for
// another commit, branch or environment is another report, with other
// event ids; submitted again for the same subject it is the same report,
// and JetStream and ClickHouse drop the copy.
func ReportID(tenant string, s *eventv1.Subject, docSHA256 string, extra ...string) string {
	if s == nil {
		s = &eventv1.Subject{}
	}
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	put := func(v string) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(v)))])
		h.Write([]byte(v))
	}
	put("trilens.report.v1")
	put(tenant)
	for _, f := range subjectFields {
		put(*f.ref(s))
	}
	put(s.GetEnvironment().String())
	put(docSHA256)
	for _, e := range extra {
		put(e)
	}
	return hex.EncodeToString(h.Sum(nil))
}
