package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/natstest"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer"
	"github.com/trilens/trilens/services/scorer/chain"
)

// writeKeys writes a PEM ed25519 key pair into dir.
func writeKeys(t *testing.T, dir string) (privFile, pubFile string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	privFile, pubFile = filepath.Join(dir, "key.pem"), filepath.Join(dir, "key.pub")
	if err := os.WriteFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), 0o644); err != nil {
		t.Fatal(err)
	}
	return privFile, pubFile
}

// TestVerifyLog: evidence stored by the real scorer (through JetStream)
// verifies, with its signed checkpoints; an exported period verifies with
// the public key alone; an edited row is reported at its entry.
func TestVerifyLog(t *testing.T) {
	dir := t.TempDir()
	privFile, pubFile := writeKeys(t, dir)
	cfg := chtest.Config(t)
	st := chtest.Store(t)
	cfg.Database = st.Database()
	ns := natstest.Start(t)
	b := natstest.BusOn(t, ns)
	var sc scorer.Config
	sc.RegisterFlags("", flag.NewFlagSet("s", flag.ContinueOnError))
	sc.Chain = true
	sc.BatchWait, sc.CheckpointKey, sc.CheckpointEvery = 100*time.Millisecond, privFile, 3
	s, err := scorer.New(sc, scorer.Settings{Logger: slog.New(slog.DiscardHandler), Bus: b, Store: st, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	for i := range 7 {
		env := events.NewEnvelope(fmt.Sprint("chg-", i), "acme", eventv1.Kind_KIND_CHANGE, &eventv1.Producer{Collector: "changecollector"},
			&eventv1.Subject{Service: "checkout", Environment: eventv1.Environment_ENVIRONMENT_PRODUCTION}, t0.Add(time.Duration(i)*time.Hour))
		ev := &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{Changes: []*changev1.Change{
			{Id: fmt.Sprint("d", i), Type: changev1.ChangeType_CHANGE_TYPE_DEPLOY, Status: "success", FinishedUnixNano: t0.Add(time.Duration(i) * time.Hour).UnixNano()}}}}}
		if err := b.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	waitEntries(t, st, 7)
	db := []string{"--store.dsn", cfg.DSN, "--store.database", cfg.Database, "--tenant", "acme"}
	code, out := runCLI(append([]string{"verify-log", "--public-key", pubFile}, db...)...)
	if code != ExitPass || !strings.Contains(out, "OK: 7 entries") || !strings.Contains(out, "2 signed checkpoints verified") {
		t.Fatalf("clean log: exit %d\n%s", code, out)
	}
	code, out = runCLI(append([]string{"verify-log", "--bus.url", ns.ClientURL()}, db...)...)
	if code != ExitPass || !strings.Contains(out, "7 messages of acme retained, 7 match the log") {
		t.Fatalf("against JetStream: exit %d\n%s", code, out)
	}
	period := filepath.Join(dir, "period.json")
	if code, out := runCLI(append([]string{"verify-log", "--export-checkpoint", period}, db...)...); code != ExitPass {
		t.Fatalf("export: exit %d\n%s", code, out)
	}
	// Only the file and the public key: no database flags.
	if code, out := runCLI("verify-log", "--verify-checkpoint", period, "--public-key", pubFile); code != ExitPass || !strings.Contains(out, "checkpoint 6") {
		t.Fatalf("verify checkpoint: exit %d\n%s", code, out)
	}
	// Rewriting the last entry's message with every digest recomputed keeps
	// the chain whole; only JetStream's copy shows it.
	rewriteLast(t, st, 7)
	if code, out := runCLI(append([]string{"verify-log"}, db...)...); code != ExitPass {
		t.Fatalf("consistently rewritten last entry: exit %d\n%s", code, out)
	}
	code, out = runCLI(append([]string{"verify-log", "--bus.url", ns.ClientURL()}, db...)...)
	if code != ExitBroken || !strings.Contains(out, "1 stored messages differ from JetStream's copy (first: event chg-6)") {
		t.Fatalf("rewritten message against JetStream: exit %d\n%s", code, out)
	}
	editEntry(t, st, 5)
	code, out = runCLI(append([]string{"verify-log"}, db...)...)
	if code != ExitBroken || !strings.Contains(out, "BROKEN at entry 5") {
		t.Fatalf("edited entry 5: exit %d\n%s", code, out)
	}
}

func waitEntries(t *testing.T, st *store.Store, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var got uint64
		if err := st.Conn().QueryRow(context.Background(), `SELECT count() FROM `+st.Database()+`.evidence_log FINAL WHERE chain_seq > 0`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d chained entries, want %d", got, n)
		}
	}
}

// editEntry rewrites one column of the entry at seq, as someone with write
// access to ClickHouse could: a newer row with the same key.
func editEntry(t *testing.T, st *store.Store, seq uint64) {
	t.Helper()
	ctx := context.Background()
	db := st.Database()
	err := st.Conn().Exec(ctx, `INSERT INTO `+db+`.evidence_log SELECT event_id, tenant, kind, schema_version, collector, tool, tool_version,
		repository, commit, branch, base_branch, pipeline_run, environment, 'payments' AS service, journey, release, observed_at, received_at,
		stored_at, document_sha256, document_size, document_media_type, document_name, report_id, part_index, part_count, message_sha256,
		message_size, chain_seq, entry_digest, prev_digest, chain_digest, message FROM `+db+`.evidence_log FINAL WHERE chain_seq = ?`, seq)
	if err != nil {
		t.Fatal(err)
	}
}

// rewriteLast replaces the message of the chain's last entry, seq, and
// recomputes its digests as a careful forger would.
func rewriteLast(t *testing.T, st *store.Store, seq uint64) {
	t.Helper()
	var rows store.EvidenceLogRows
	err := chain.Walk(context.Background(), st, "acme", func(e store.EvidenceLog) error {
		if e.ChainSeq == seq {
			e.Message += "forged"
			sum := sha256.Sum256([]byte(e.Message))
			e.MessageSHA256 = hex.EncodeToString(sum[:])
			e.EntryDigest = chain.EntryDigest(e)
			e.ChainDigest = chain.Link(e.PrevDigest, e.EntryDigest)
			rows.Append(e)
		}
		return nil
	})
	if err == nil {
		err = st.Insert(context.Background(), &rows)
	}
	if err != nil || rows.Len() != 1 {
		t.Fatalf("rewrite: %v (%d rows)", err, rows.Len())
	}
}
