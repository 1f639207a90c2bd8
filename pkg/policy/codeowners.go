package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
)

// ownerRule is one CODEOWNERS line. An empty owner marks the paths as
// unowned, overriding earlier lines.
type ownerRule struct {
	pattern string
	owner   string
}

// readCodeowners reads the file named by owners.codeowners.
func (p *Policy) readCodeowners() error {
	at := "owners.codeowners"
	fail := func(format string, args ...any) error {
		return &Diagnostic{File: p.src.fileName(), Line: p.src.line(at), Path: at, Msg: fmt.Sprintf(format, args...)}
	}
	data, err := os.ReadFile(p.Owners.Codeowners)
	if err != nil {
		return fail("%v", err)
	}
	rules, err := parseCodeowners(data)
	if err != nil {
		return fail("%s: %v", p.Owners.Codeowners, err)
	}
	p.codeowners = rules
	return nil
}

// parseCodeowners reads GitHub CODEOWNERS syntax: "pattern @owner ...". The
// first owner of a line is the one Trilens routes to, without its "@".
func parseCodeowners(data []byte) ([]ownerRule, error) {
	var rules []ownerRule
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if err := checkPattern(fields[0]); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		r := ownerRule{pattern: fields[0]}
		if len(fields) > 1 {
			r.owner = strings.TrimPrefix(fields[1], "@")
		}
		rules = append(rules, r)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return rules, errors.Join(errs...)
}

// checkPattern rejects what CODEOWNERS does not support.
func checkPattern(pattern string) error {
	switch {
	case pattern == "" || pattern == "/":
		return fmt.Errorf("empty pattern")
	case strings.HasPrefix(pattern, "!"):
		return fmt.Errorf("pattern %q: CODEOWNERS patterns cannot negate with !", pattern)
	}
	for _, seg := range strings.Split(strings.Trim(pattern, "/"), "/") {
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("pattern %q: %v", pattern, err)
		}
	}
	return nil
}

// matchPattern reports whether a CODEOWNERS (gitignore-style) pattern
// matches the file at name, a slash-separated path from the repository
// root. A pattern without a slash, other than at its end, matches at any
// depth; one with a slash is anchored at the root. A pattern that matches a
// directory matches everything below it; a trailing slash matches only
// directories. "*" and "?" stay within one path element, "**" spans any.
// As GitHub documents, a wildcard in the last element matches files at that
// level only: docs/* does not match docs/build/x.md.
func matchPattern(pattern, name string) bool {
	m := matcher{dirOnly: strings.HasSuffix(pattern, "/")}
	pattern = strings.TrimSuffix(pattern, "/")
	anchored := strings.Contains(pattern, "/")
	segs := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	if last := segs[len(segs)-1]; last != "**" && strings.ContainsAny(last, "*?[") {
		m.filesOnly = true
	}
	if !anchored {
		segs = append([]string{"**"}, segs...)
	}
	name = strings.TrimPrefix(strings.TrimPrefix(name, "./"), "/")
	return m.match(segs, strings.Split(name, "/"))
}

type matcher struct {
	dirOnly   bool // the pattern ended in "/": it names directories
	filesOnly bool // the last element has a wildcard: it names files
}

func (m matcher) match(pat, name []string) bool {
	if len(pat) == 0 {
		// The pattern matched name itself, or a directory that holds it.
		if len(name) == 0 {
			return !m.dirOnly
		}
		return !m.filesOnly
	}
	if pat[0] == "**" {
		if len(pat) == 1 {
			return len(name) > 0 // "dir/**" holds files below dir, not dir
		}
		for i := 0; i <= len(name); i++ {
			if m.match(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, _ := path.Match(pat[0], name[0])
	return ok && m.match(pat[1:], name[1:])
}
