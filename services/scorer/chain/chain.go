// Package chain makes the evidence log tamper-evident: every envelope the
// scorer stores gets a place in its tenant's digest chain,
//
//	entry_digest = sha256(the evidence_log row: every column but stored_at and the chain's, and the raw message)
//	chain_digest = sha256(prev_digest ‖ entry_digest)   (prev_digest of entry 1 is empty)
//
// with chain_seq counting from 1, so a deleted row leaves a gap and an
// edited row no longer matches its digests; rewriting every later row to
// hide it is caught by the signed checkpoints, which an auditor verifies
// with the public key alone.
//
// # One writer per tenant chain
//
// The chain is linear and appended in the order the scorer commits
// batches. Several scorer replicas share the evidence consumer, so two
// batches of one tenant may be stored at once; a Merkle root per batch
// would still need the previous root, and two replicas reading it at once
// would fork the chain. So appending is serialised per tenant instead: the
// scorer takes the tenant's lock (a mutex in the process and, across
// replicas, a key created in a NATS KV bucket whose TTL frees the lock of a
// replica that died holding it), reads the chain's head from ClickHouse,
// links the batch's new envelopes after it, inserts, and releases. The
// cost is one head query per tenant and batch, and batches of one tenant
// are stored one at a time; batches of different tenants still go in
// parallel. An envelope delivered again (a replica crashed before its ack)
// keeps the place it was given, so redelivery never breaks the chain.
//
// # A lock that never stalls scoring
//
// The lock is a JetStream write, and JetStream refuses writes when its
// store is full. Of the ways out, a reserved bucket does not help (the
// server checks its total usage on every message, so a MaxBytes
// reservation secures the bucket's creation, not its writes); an
// in-process lock for a declared single replica is unsafe the day a second
// replica starts with the default; and a Merkle root per batch still needs
// the previous root. So the chain is decoupled from scoring instead: when
// the lock cannot be taken (JetStream refuses, or another replica held it
// past lockWait) the batch is stored unchained (chain_seq 0) and the
// scorer's catch-up (Linker.CatchUp, every scorer.chain_catch_up) appends
// those envelopes, oldest stored first, once it holds the lock. Tamper
// evidence is late, never lost: the unchained rows stay in the log (and
// in JetStream while retained, where verify-log lists them as not yet in
// the chain) until they are linked.
//
// The head (last seq and digest) is read from evidence_chain_heads, which
// a materialized view keeps on every insert into evidence_log, so the cost
// of linking a batch does not grow with the log.
package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/trilens/trilens/pkg/store"
)

// EntryDigest is the sha256 (hex) of one evidence_log row as stored:
// every column but stored_at and the chain's own, length-prefixed, times
// in whole seconds as ClickHouse keeps them.
func EntryDigest(e store.EvidenceLog) string {
	h := sha256.New()
	str := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	num := func(v uint64) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], v)
		h.Write(n[:])
	}
	tm := func(t time.Time) { num(uint64(t.Unix())) }
	for _, s := range []string{e.EventID, e.Tenant, e.Kind, e.Collector, e.Tool, e.ToolVersion, e.Repository, e.Commit,
		e.Branch, e.BaseBranch, e.PipelineRun, e.Environment, e.Service, e.Journey, e.Release, e.DocumentSHA256,
		e.DocumentMediaType, e.DocumentName, e.ReportID, e.MessageSHA256, e.Message} {
		str(s)
	}
	for _, v := range []uint64{uint64(e.SchemaVersion), uint64(e.DocumentSize), uint64(e.PartIndex), uint64(e.PartCount), uint64(e.MessageSize)} {
		num(v)
	}
	tm(e.ObservedAt)
	tm(e.ReceivedAt)
	return hex.EncodeToString(h.Sum(nil))
}

// Link is sha256(prev ‖ entry) over the two digests' bytes (hex in, hex out).
func Link(prev, entry string) string {
	p, _ := hex.DecodeString(prev)
	e, _ := hex.DecodeString(entry)
	sum := sha256.Sum256(append(p, e...))
	return hex.EncodeToString(sum[:])
}

// Row is the i-th row of rows as one struct.
func Row(rows *store.EvidenceLogRows, i int) store.EvidenceLog {
	return store.EvidenceLog{EventID: rows.EventID[i], Tenant: rows.Tenant[i], Kind: rows.Kind[i], SchemaVersion: rows.SchemaVersion[i],
		Collector: rows.Collector[i], Tool: rows.Tool[i], ToolVersion: rows.ToolVersion[i], Repository: rows.Repository[i],
		Commit: rows.Commit[i], Branch: rows.Branch[i], BaseBranch: rows.BaseBranch[i], PipelineRun: rows.PipelineRun[i],
		Environment: rows.Environment[i], Service: rows.Service[i], Journey: rows.Journey[i], Release: rows.Release[i],
		ObservedAt: rows.ObservedAt[i], ReceivedAt: rows.ReceivedAt[i], StoredAt: rows.StoredAt[i],
		DocumentSHA256: rows.DocumentSHA256[i], DocumentSize: rows.DocumentSize[i], DocumentMediaType: rows.DocumentMediaType[i],
		DocumentName: rows.DocumentName[i], ReportID: rows.ReportID[i], PartIndex: rows.PartIndex[i], PartCount: rows.PartCount[i],
		MessageSHA256: rows.MessageSHA256[i], MessageSize: rows.MessageSize[i], ChainSeq: rows.ChainSeq[i],
		EntryDigest: rows.EntryDigest[i], PrevDigest: rows.PrevDigest[i], ChainDigest: rows.ChainDigest[i], Message: rows.Message[i]}
}
