package trilens_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/services/trilens"
)

func defaults(t *testing.T) trilens.Config {
	t.Helper()
	var c trilens.Config
	c.RegisterFlags(flag.NewFlagSet("test", flag.ContinueOnError))
	return c
}

func TestDefaultsAreValid(t *testing.T) {
	c := defaults(t)
	if err := c.Validate(); err != nil {
		t.Fatalf("the defaults must validate: %v", err)
	}
	if c.Target != "all" || c.Server.HTTPAddress != "127.0.0.1:7070" || c.Bus.URL != "" {
		t.Fatalf("unexpected defaults: target %q, http %q, bus %q", c.Target, c.Server.HTTPAddress, c.Bus.URL)
	}
}

func TestValidFileOverridesDefaults(t *testing.T) {
	c := defaults(t)
	if err := c.LoadYAML("testdata/config/split-scorer.yaml", false); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Target != "scorer" || c.Bus.URL != "nats://nats:4222" || c.Bus.Replicas != 3 ||
		c.Scorer.BatchRows != 20000 || c.Scorer.BatchWait != 2*time.Second {
		t.Fatalf("file values not applied: %+v", c)
	}
	// Keys the file does not name keep their defaults.
	if c.Server.HTTPAddress != "127.0.0.1:7070" || c.Scorer.Durable != "scorer" {
		t.Fatalf("defaults lost: http %q durable %q", c.Server.HTTPAddress, c.Scorer.Durable)
	}
}

func TestInvalidFilesFailAtTheirKeys(t *testing.T) {
	for _, name := range []string{"unknown-key.yaml", "bad-values.yaml"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata/config", name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c := defaults(t)
			err = c.LoadYAML(path, false)
			if err == nil {
				err = c.Validate()
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, line := range strings.Split(string(data), "\n") {
				if want, ok := strings.CutPrefix(line, "# want: "); ok && !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestEnvIsExpandedOnlyWhenAsked(t *testing.T) {
	t.Setenv("TRILENS_TEST_DSN", "clickhouse://db.internal:9000")
	c := defaults(t)
	if err := c.LoadYAML("testdata/config/env.yaml", false); err != nil {
		t.Fatal(err)
	}
	if c.Store.DSN != "${TRILENS_TEST_DSN}" {
		t.Fatalf("expanded without -config.expand-env: %q", c.Store.DSN)
	}
	if err := c.LoadYAML("testdata/config/env.yaml", true); err != nil {
		t.Fatal(err)
	}
	if c.Store.DSN != "clickhouse://db.internal:9000" {
		t.Fatalf("not expanded: %q", c.Store.DSN)
	}
}

func TestRedactedHidesPasswords(t *testing.T) {
	c := defaults(t)
	c.Store.DSN = "clickhouse://admin:s3cret@db:9000/trilens"
	out := c.Redacted()
	if strings.Contains(out, "s3cret") || !strings.Contains(out, "REDACTED@db:9000") {
		t.Fatalf("secret not redacted:\n%s", out)
	}
}

func TestTargetsResolveInStartOrder(t *testing.T) {
	got, err := trilens.ResolveTargets("scorer")
	if err != nil {
		t.Fatal(err)
	}
	want := "server,store,bus,scorer"
	if strings.Join(got, ",") != want {
		t.Fatalf("scorer resolves to %v, want %s", got, want)
	}
	if _, err := trilens.ResolveTargets("scorer,nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("want an error naming the unknown target, got %v", err)
	}
}

func TestWithoutTokensTrilensListensOnLoopbackOnly(t *testing.T) {
	c := defaults(t)
	c.Server.HTTPAddress = ":7070"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "server.http_address") || !strings.Contains(err.Error(), "--auth.insecure") {
		t.Fatalf("an open server on every interface must be refused, naming the key and the way out; got %v", err)
	}
	c.Auth.Insecure = true
	if err := c.Validate(); err != nil {
		t.Fatalf("--auth.insecure allows it: %v", err)
	}
	if open := c.OpenToNetwork(); len(open) != 1 || open[0] != "server.http_address=:7070" {
		t.Fatalf("OpenToNetwork = %v, want the server listener (logged at start)", open)
	}
	c.Auth.Insecure = false
	c.Auth.Tokens = []collect.Token{{ID: "ci", Tenant: "acme", Role: collect.RoleIngest, SHA256: collect.HashToken("t")}}
	if err := c.Validate(); err != nil {
		t.Fatalf("with tokens any address is fine: %v", err)
	}
	if open := c.OpenToNetwork(); len(open) != 0 {
		t.Fatalf("with tokens nothing is open: %v", open)
	}
}

func TestTokensAreValidatedAndRedacted(t *testing.T) {
	c := defaults(t)
	c.Auth.Tokens = []collect.Token{
		{ID: "ci", Tenant: "acme", Role: collect.RoleIngest, SHA256: collect.HashToken("t")},
		{ID: "ci", Tenant: "acme", Role: "owner", SHA256: "not-a-digest"},
	}
	err := c.Validate()
	for _, want := range []string{"auth.tokens[1].role", "auth.tokens[1].sha256", `auth.tokens[1].id: "ci" is used twice`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
	if out := c.Redacted(); strings.Contains(out, collect.HashToken("t")) || !strings.Contains(out, "id: ci") {
		t.Fatalf("config.print must show holders, not digests:\n%s", out)
	}
}
