// Package collecttest serves collectors over HTTP in tests.
package collecttest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/server"
)

// Routes is anything that mounts HTTP routes: a collector, the scorer.
type Routes interface{ Register(server.Router) }

// Serve serves the routes of every part on a test server, closed when the
// test ends (before the parts it was given are stopped by earlier cleanups).
func Serve(t testing.TB, parts ...Routes) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	for _, p := range parts {
		p.Register(mux)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// Post sends body to url as JSON and returns the status and the answer.
func Post(t testing.TB, url string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// IngestTokens makes ingest-role tokens from token value -> tenant, as CI
// tokens are configured (digests, an id per token).
func IngestTokens(tokens map[string]string) []collect.Token {
	var out []collect.Token
	for value, tenant := range tokens {
		out = append(out, collect.Token{ID: fmt.Sprintf("ci-%s-%d", tenant, len(out)), Tenant: tenant, Role: collect.RoleIngest, SHA256: collect.HashToken(value)})
	}
	return out
}
