package scancollector

import (
	"crypto/sha256"
	"encoding/hex"
	"io"

	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scancollector/internal/jsonstream"
)

// gitleaks JSON: an array of leaks. The secret itself is never kept: the
// fingerprint uses its hash (so a moved line stays the same finding), and
// the message names the rule, file and commit only.

type gitleaksLeak struct {
	RuleID, Description string
	StartLine, EndLine  uint32
	Secret, File        string
	Commit              string
}

func decodeGitleaks(r io.Reader, limit int) (*Report, error) {
	rep := &Report{Format: FormatGitleaks, limit: limit}
	run := rep.newRun("gitleaks", "")
	d := jsonstream.New(r)
	err := d.Array(func(int) error {
		if err := rep.reserve(); err != nil {
			return err
		}
		var l gitleaksLeak
		if err := d.Decode(&l); err != nil {
			return err
		}
		if l.RuleID == "" {
			return d.Errorf("leak has no RuleID")
		}
		sum := sha256.Sum256([]byte(l.Secret))
		msg := l.Description + " in " + l.File
		if l.Commit != "" {
			msg += " at commit " + l.Commit
		}
		f := &scanv1.Finding{
			RuleId: l.RuleID, Title: firstLine(l.Description), Severity: gitleaksSeverity,
			Category: scanv1.Category_CATEGORY_SECRET, Cwes: []string{"CWE-798"},
			Path: l.File, StartLine: l.StartLine, EndLine: l.EndLine, Message: truncate(msg, maxMessage),
		}
		run.addCode(f, l.RuleID, l.File, hex.EncodeToString(sum[:]))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rep, d.End()
}

// gitleaksSeverity: gitleaks has no scale; a committed secret is high (the
// secrets gate in trilens.yaml treats every one as breaking anyway).
const gitleaksSeverity = scanv1.Severity_SEVERITY_HIGH
