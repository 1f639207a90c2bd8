package collect

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
)

func TestFieldCheck(t *testing.T) {
	for _, tc := range []struct {
		kind  Field
		value string
		ok    bool
	}{
		{Identifier, "github.com/acme/shop", true},
		{Identifier, "feature/ünïcode-branch", true},
		{Identifier, "has space", false},
		{Identifier, "tab\there", false},
		{Identifier, strings.Repeat("r", 257), false},
		{Label, "checkout journey", true},
		{Label, " leading", false},
		{Label, "bell\a", false},
		{Label, "bad utf8 \xff", false},
		{Label, strings.Repeat("x", 600<<10), false},
		{Revision, "4f2c9e1d0a", true},
		{Revision, "r1234", true},
		{Revision, "abc;drop", false},
		{Revision, strings.Repeat("a", 65), false},
		{URL, "https://example.com/a?b=c", true},
		{URL, "/relative", false},
		{URL, "https://example.com/" + strings.Repeat("p", 2048), false},
		{Label, "", true},
	} {
		err := tc.kind.Check("f", tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("%+v %.40q: %v, want ok=%v", tc.kind, tc.value, err, tc.ok)
		}
		var ce *Error
		if err != nil && (!errors.As(err, &ce) || ce.Status != 400 || ce.Field != "f") {
			t.Errorf("%.40q: %v is not a 400 naming the field", tc.value, err)
		}
	}
}

// TestOpenRefusesUnscorableSubjects: every subject parameter is bounded at
// the door with a 400 naming it, not accepted and then failing to score.
func TestOpenRefusesUnscorableSubjects(t *testing.T) {
	huge := strings.Repeat("x", 600<<10)
	for _, p := range []string{"repo", "commit", "branch", "base_branch", "pipeline_run", "service", "journey", "release", "name"} {
		r := httptest.NewRequest(http.MethodPost, "/v1/x?"+url.Values{p: {huge}}.Encode(), strings.NewReader("{}"))
		_, err := Settings{}.Open(r)
		var ce *Error
		if !errors.As(err, &ce) || ce.Status != 400 || ce.Field != p {
			t.Errorf("%s of 600 KB: %v, want a 400 naming %s", p, err, p)
		}
		// The header form is checked the same way.
		r = httptest.NewRequest(http.MethodPost, "/v1/x", strings.NewReader("{}"))
		r.Header.Set("X-Trilens-"+strings.ReplaceAll(p, "_", "-"), "a\x00b")
		if _, err := (Settings{}).Open(r); !errors.As(err, &ce) || ce.Field != p {
			t.Errorf("%s with a NUL in a header: %v", p, err)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/x?repo=acme/shop&commit=4f2c9e1&branch=main&journey=checkout+flow", strings.NewReader("{}"))
	req, err := Settings{}.Open(r)
	if err != nil || req.Subject.GetJourney() != "checkout flow" || req.Subject.GetCommit() != "4f2c9e1" {
		t.Fatalf("a good subject: %v %v", err, req)
	}
}

func TestReportIDIncludesTheSubject(t *testing.T) {
	const doc = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	base := &eventv1.Subject{Repository: "acme/shop", Commit: "c1", Branch: "main"}
	seen := map[string]string{}
	add := func(name, id string) {
		if prev, ok := seen[id]; ok {
			t.Errorf("%s and %s share report id %s", name, prev, id)
		}
		seen[id] = name
	}
	add("base", ReportID("t", base, doc))
	add("other commit", ReportID("t", &eventv1.Subject{Repository: "acme/shop", Commit: "c2", Branch: "main"}, doc))
	add("other environment", ReportID("t", &eventv1.Subject{Repository: "acme/shop", Commit: "c1", Branch: "main", Environment: eventv1.Environment_ENVIRONMENT_STAGING}, doc))
	add("other tenant", ReportID("u", base, doc))
	add("other test", ReportID("t", base, doc, "login"))
	// Fields cannot run into each other: ("ab", "") differs from ("a", "b").
	add("shifted", ReportID("t", &eventv1.Subject{Repository: "acme/shopc", Commit: "1", Branch: "main"}, doc))
	if ReportID("t", base, doc) != ReportID("t", &eventv1.Subject{Repository: "acme/shop", Commit: "c1", Branch: "main"}, doc) {
		t.Error("the same submission got two report ids")
	}
	if id := ReportID("t", nil, doc); len(id) != 64 {
		t.Errorf("report id %q", id)
	}
}
