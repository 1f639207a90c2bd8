package chain

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/trilens/trilens/pkg/store"
)

// Break is the first place a chain does not hold.
type Break struct {
	Seq     uint64 `json:"seq"`
	EventID string `json:"event_id,omitempty"`
	Reason  string `json:"reason"`
}

// Result of walking a tenant's chain.
type Result struct {
	Tenant      string `json:"tenant"`
	Entries     uint64 `json:"entries"`
	Head        string `json:"head"`
	Checkpoints int    `json:"checkpoints_verified"`
	Break       *Break `json:"break,omitempty"`
}

const logColumns = `event_id, tenant, kind, schema_version, collector, tool, tool_version, repository, commit, branch,
	base_branch, pipeline_run, environment, service, journey, release, observed_at, received_at, stored_at,
	document_sha256, document_size, document_media_type, document_name, report_id, part_index, part_count,
	message_sha256, message_size, chain_seq, entry_digest, prev_digest, chain_digest, message`

func scanRow(scan func(...any) error) (store.EvidenceLog, error) {
	var e store.EvidenceLog
	err := scan(&e.EventID, &e.Tenant, &e.Kind, &e.SchemaVersion, &e.Collector, &e.Tool, &e.ToolVersion, &e.Repository,
		&e.Commit, &e.Branch, &e.BaseBranch, &e.PipelineRun, &e.Environment, &e.Service, &e.Journey, &e.Release,
		&e.ObservedAt, &e.ReceivedAt, &e.StoredAt, &e.DocumentSHA256, &e.DocumentSize, &e.DocumentMediaType,
		&e.DocumentName, &e.ReportID, &e.PartIndex, &e.PartCount, &e.MessageSHA256, &e.MessageSize, &e.ChainSeq,
		&e.EntryDigest, &e.PrevDigest, &e.ChainDigest, &e.Message)
	return e, err
}

// Walk calls fn with every chained row of tenant in chain order.
func Walk(ctx context.Context, st *store.Store, tenant string, fn func(store.EvidenceLog) error) error {
	rows, err := st.Conn().Query(ctx, `SELECT `+logColumns+` FROM `+st.Database()+`.evidence_log FINAL
		WHERE tenant = ? AND chain_seq > 0 ORDER BY chain_seq, event_id`, tenant)
	if err != nil {
		return fmt.Errorf("evidence log of %s: %w", tenant, err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanRow(rows.Scan)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// checkEntry says what is wrong with e as entry want after prev.
func checkEntry(e store.EvidenceLog, want uint64, prev string) string {
	switch {
	case e.ChainSeq < want:
		return fmt.Sprintf("entry %d appears twice (event %s): the chain forked", e.ChainSeq, e.EventID)
	case e.ChainSeq > want:
		return fmt.Sprintf("entries %d to %d are missing", want, e.ChainSeq-1)
	case hexSum(e.Message) != e.MessageSHA256:
		return "the stored message does not match its digest"
	case EntryDigest(e) != e.EntryDigest:
		return "the row was edited: its digest does not match its columns"
	case e.PrevDigest != prev:
		return "its previous digest is not the previous entry's chain digest"
	case Link(e.PrevDigest, e.EntryDigest) != e.ChainDigest:
		return "its chain digest is not sha256(previous ‖ entry)"
	}
	return ""
}

func hexSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

var errStop = errors.New("stop")

// Verify re-walks tenant's chain from ClickHouse and reports its first
// break; with pub, every stored checkpoint's signature and digest are
// checked too.
func Verify(ctx context.Context, st *store.Store, tenant string, pub ed25519.PublicKey) (*Result, error) {
	res := &Result{Tenant: tenant}
	// The recorded head, read first: entries stored during the walk are
	// in it; the walk must reach at least this one.
	head, _, err := Head(ctx, st, tenant)
	if err != nil {
		return nil, err
	}
	digests := map[uint64]string{}
	err = Walk(ctx, st, tenant, func(e store.EvidenceLog) error {
		if why := checkEntry(e, res.Entries+1, res.Head); why != "" {
			res.Break = &Break{Seq: min(e.ChainSeq, res.Entries+1), EventID: e.EventID, Reason: why}
			return errStop
		}
		res.Entries, res.Head = e.ChainSeq, e.ChainDigest
		digests[e.ChainSeq] = e.ChainDigest
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if res.Break == nil && head > res.Entries {
		res.Break = &Break{Seq: res.Entries + 1,
			Reason: fmt.Sprintf("entries %d to %d are missing: the chain's recorded head is %d", res.Entries+1, head, head)}
	}
	if pub == nil {
		return res, nil
	}
	cps, err := Checkpoints(ctx, st, tenant)
	if err != nil {
		return nil, err
	}
	for _, c := range cps {
		if err := VerifySignature(pub, c); err != nil {
			return res, err
		}
		if d, ok := digests[c.ChainSeq]; ok && d != c.ChainDigest {
			if res.Break == nil {
				res.Break = &Break{Seq: c.ChainSeq, Reason: "the chain differs from its signed checkpoint"}
			}
			continue
		}
		res.Checkpoints++
	}
	return res, nil
}

// Checkpoints are tenant's stored checkpoints, oldest first.
func Checkpoints(ctx context.Context, st *store.Store, tenant string) ([]store.Checkpoint, error) {
	rows, err := st.Conn().Query(ctx, `SELECT tenant, chain_seq, chain_digest, signed_at, key_id, signature
		FROM `+st.Database()+`.evidence_checkpoints FINAL WHERE tenant = ? ORDER BY chain_seq`, tenant)
	if err != nil {
		return nil, fmt.Errorf("checkpoints of %s: %w", tenant, err)
	}
	defer rows.Close()
	var out []store.Checkpoint
	for rows.Next() {
		var c store.Checkpoint
		if err := rows.Scan(&c.Tenant, &c.ChainSeq, &c.ChainDigest, &c.SignedAt, &c.KeyID, &c.Signature); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
