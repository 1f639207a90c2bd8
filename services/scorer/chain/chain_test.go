package chain_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trilens/trilens/pkg/events"
	"github.com/trilens/trilens/pkg/store"
	"github.com/trilens/trilens/pkg/store/chtest"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	"github.com/trilens/trilens/services/scorer/chain"
	"github.com/trilens/trilens/services/scorer/evidence"
	"google.golang.org/protobuf/proto"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func keys(t *testing.T) (*chain.Signer, ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := chain.NewSigner(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

// store10 links and stores ten envelopes of tenant shop in batches of
// three, as the scorer does, one checkpoint every four entries.
func store10(t *testing.T, st *store.Store, signer *chain.Signer) {
	t.Helper()
	ctx := context.Background()
	l, err := chain.NewLinker(ctx, st, nil, signer, 4, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	var evs []*eventv1.Event
	for i := range 10 {
		env := events.NewEnvelope(fmt.Sprint("ev-", i), "shop", eventv1.Kind_KIND_CHANGE, &eventv1.Producer{Collector: "test"},
			&eventv1.Subject{Service: "checkout"}, t0.Add(time.Duration(i)*time.Minute))
		evs = append(evs, &eventv1.Event{Envelope: env})
	}
	for lo := 0; lo < len(evs); lo += 3 {
		batch := slices.Clone(evs[lo:min(lo+3, len(evs))])
		if lo == 3 {
			batch = append(batch, evs[0]) // redelivered: keeps its place
		}
		var rows evidence.Rows
		for _, ev := range batch {
			data, err := proto.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			rows.AddMessage(ev, data)
		}
		cps, release, err := l.Link(ctx, &rows.EvidenceLog)
		if err != nil {
			t.Fatal(err)
		}
		err = st.Insert(ctx, append(rows.Tables(), cps)...)
		release()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func verify(t *testing.T, st *store.Store, pub ed25519.PublicKey) *chain.Result {
	t.Helper()
	res, err := chain.Verify(context.Background(), st, "shop", pub)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestChainVerifies: a clean log verifies with its checkpoints, and an
// exported period verifies with the public key alone.
func TestChainVerifies(t *testing.T) {
	st := chtest.Store(t)
	signer, pub := keys(t)
	store10(t, st, signer)
	res := verify(t, st, pub)
	if res.Break != nil || res.Entries != 10 || res.Checkpoints != 2 {
		t.Fatalf("clean log: %+v (break %+v), want 10 entries, 2 checkpoints, no break", res, res.Break)
	}
	p, err := chain.Export(context.Background(), st, "shop", 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.From == nil || p.From.ChainSeq != 4 || p.To.ChainSeq != 8 || len(p.Entries) != 4 {
		t.Fatalf("period %+v: want entries 5 to 8 between checkpoints 4 and 8", p)
	}
	if err := chain.VerifyPeriod(pub, p); err != nil {
		t.Errorf("period: %v", err)
	}
	p.Entries[1].EntryDigest = strings.Repeat("0", 64)
	if err := chain.VerifyPeriod(pub, p); err == nil {
		t.Error("a period with an altered entry verified")
	}
	_, other := keys(t)
	p, _ = chain.Export(context.Background(), st, "shop", 4)
	if err := chain.VerifyPeriod(other, p); err == nil {
		t.Error("a period verified with another key")
	}
}

// TestChainEditedRow: a row edited in place (a newer copy of its key) is
// reported at its entry.
func TestChainEditedRow(t *testing.T) {
	st := chtest.Store(t)
	store10(t, st, nil)
	ctx := context.Background()
	db := st.Database()
	if err := st.Conn().Exec(ctx, `INSERT INTO `+db+`.evidence_log SELECT * REPLACE ('payments' AS service) FROM `+db+
		`.evidence_log FINAL WHERE chain_seq = 6`); err != nil {
		// 18.16 has no REPLACE in SELECT *: copy the row through Go instead.
		editRow(t, st, 6)
	}
	res := verify(t, st, nil)
	if res.Break == nil || res.Break.Seq != 6 || !strings.Contains(res.Break.Reason, "edited") {
		t.Fatalf("edited entry 6: break %+v", res.Break)
	}
}

func editRow(t *testing.T, st *store.Store, seq uint64) {
	t.Helper()
	var rows store.EvidenceLogRows
	err := chain.Walk(context.Background(), st, "shop", func(e store.EvidenceLog) error {
		if e.ChainSeq == seq {
			e.Service = "payments"
			rows.Append(e)
		}
		return nil
	})
	if err == nil {
		err = st.Insert(context.Background(), &rows)
	}
	if err != nil || rows.Len() != 1 {
		t.Fatalf("edit: %v (%d rows)", err, rows.Len())
	}
}

// TestChainDeletedRow: a deleted row is reported as the missing entry.
func TestChainDeletedRow(t *testing.T) {
	st := chtest.Store(t)
	store10(t, st, nil)
	deleteEntry(t, st, 3)
	res := verify(t, st, nil)
	if res.Break == nil || res.Break.Seq != 3 || !strings.Contains(res.Break.Reason, "missing") || res.Entries != 2 {
		t.Fatalf("deleted entry 3: %+v break %+v", res, res.Break)
	}
}

// TestChainDeletedTail: the last entry deleted leaves no gap in the walk,
// but the chain's recorded head still names it.
func TestChainDeletedTail(t *testing.T) {
	st := chtest.Store(t)
	store10(t, st, nil)
	deleteEntry(t, st, 10)
	res := verify(t, st, nil)
	if res.Break == nil || res.Break.Seq != 10 || !strings.Contains(res.Break.Reason, "missing") || res.Entries != 9 {
		t.Fatalf("deleted last entry 10: %+v break %+v", res, res.Break)
	}
}

// deleteEntry deletes entry seq of shop's chain and waits for the mutation.
func deleteEntry(t *testing.T, st *store.Store, seq uint64) {
	t.Helper()
	ctx := context.Background()
	db := st.Database()
	if err := st.Conn().Exec(ctx, `ALTER TABLE `+db+`.evidence_log DELETE WHERE chain_seq = ?`, seq); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var n uint64
		if err := st.Conn().QueryRow(ctx, `SELECT count() FROM `+db+`.evidence_log WHERE chain_seq = ?`, seq).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the delete mutation did not finish")
		}
	}
}
