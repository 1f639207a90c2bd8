package scancollector

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"io"

	scanv1 "github.com/trilens/trilens/proto/trilens/scan/v1"
	"github.com/trilens/trilens/services/scancollector/internal/jsonstream"
)

// gitleaks JSON: an array of leaks, in gitleaks 8's shape (RuleID, File,
// StartLine, Secret) or gitleaks 7's (rule, file, lineNumber, offender).
// An empty report (null, [] or an empty body) is complete with no leaks.
// The secret itself is never kept: the fingerprint uses its hash (so a
// moved line stays the same finding), and the message names the rule, file
// and commit only.

type gitleaksLeak struct {
	// gitleaks 8
	RuleID, Description string
	StartLine, EndLine  uint32
	Secret              string
	// gitleaks 7; encoding/json matches keys case-insensitively, so "file"
	// and "commit" fill File and Commit for both versions.
	Rule       string `json:"rule"`
	LineNumber uint32 `json:"lineNumber"`
	Offender   string `json:"offender"`
	Repo       string `json:"repo"`

	File, Commit string
}

func decodeGitleaks(r io.Reader, limit int) (*Report, error) {
	rep := &Report{Format: FormatGitleaks, limit: limit}
	run := rep.newRun("gitleaks", "")
	first, r, err := firstByte(r)
	if err != nil || first == 0 {
		return rep, err
	}
	d := jsonstream.New(r)
	repos := map[string]bool{}
	err = d.Array(func(int) error {
		if err := rep.reserve(); err != nil {
			return err
		}
		var l gitleaksLeak
		if err := d.Decode(&l); err != nil {
			return err
		}
		rule := cmp.Or(l.RuleID, l.Rule)
		if rule == "" {
			return d.Errorf(`leak has neither "RuleID" (gitleaks 8) nor "rule" (gitleaks 7)`)
		}
		secret := cmp.Or(l.Secret, l.Offender)
		sum := sha256.Sum256([]byte(secret))
		desc := cmp.Or(l.Description, l.Rule)
		msg := desc + " in " + l.File
		if l.Commit != "" {
			msg += " at commit " + l.Commit
		}
		line := cmp.Or(l.StartLine, l.LineNumber)
		f := &scanv1.Finding{
			RuleId: rule, Title: firstLine(desc), Severity: gitleaksSeverity,
			Category: scanv1.Category_CATEGORY_SECRET, Cwes: []string{"CWE-798"},
			Path: l.File, StartLine: line, EndLine: max(l.EndLine, line), Message: truncate(msg, maxMessage),
		}
		repos[l.Repo] = true
		run.addCode(f, rule, l.File, hex.EncodeToString(sum[:]))
		return nil
	})
	if err != nil {
		return nil, err
	}
	// gitleaks 7 names the repository scanned in every leak.
	if len(repos) == 1 {
		for repo := range repos {
			run.Scope.Root = repo
		}
	}
	return rep, d.End()
}

// gitleaksSeverity: gitleaks has no scale; a committed secret is high (the
// secrets gate in trilens.yaml treats every one as breaking anyway).
const gitleaksSeverity = scanv1.Severity_SEVERITY_HIGH
