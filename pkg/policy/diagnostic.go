package policy

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Diagnostic is one problem in a policy: where it is and what is wrong.
// Parse, Load and Validate return every Diagnostic at once, joined with
// errors.Join; Warnings returns the ones that do not make a policy invalid.
type Diagnostic struct {
	File string
	Line int // 1-based; 0 when the key is not in a file
	// Path is the key path, such as journeys[1].hops.db.
	Path string
	Msg  string
}

// Error formats the diagnostic as file:line: path: message.
func (d *Diagnostic) Error() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
		if d.Line > 0 {
			b.WriteString(":" + strconv.Itoa(d.Line))
		}
		b.WriteString(": ")
	}
	if d.Path != "" {
		b.WriteString(d.Path + ": ")
	}
	b.WriteString(d.Msg)
	return b.String()
}

// source remembers the file name and the line of every key path decoded
// from it, so later checks can point at the line.
type source struct {
	name  string
	lines map[string]int
}

// has reports whether the file set the key at path.
func (s *source) has(path string) bool {
	if s == nil {
		return false
	}
	_, ok := s.lines[path]
	return ok
}

// line returns the line of path, or of its nearest ancestor in the file.
func (s *source) line(path string) int {
	if s == nil {
		return 0
	}
	for path != "" {
		if l, ok := s.lines[path]; ok {
			return l
		}
		path = parentPath(path)
	}
	return 0
}

// parentPath strips the last element of a key path: a.b[2] -> a.b, a.b -> a.
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

func fieldPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// mapKeyPath appends a map key, quoted when it would read as several keys
// (attribute names such as http.method contain dots).
func mapKeyPath(path, key string) string {
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return path + "[" + strconv.Quote(key) + "]"
		}
	}
	return fieldPath(path, key)
}

// diagnostics collects problems against one source.
type diagnostics struct {
	src  *source
	list []*Diagnostic
}

func (d *diagnostics) addf(path, format string, args ...any) {
	d.list = append(d.list, &Diagnostic{
		File: d.src.fileName(),
		Line: d.src.line(path),
		Path: path,
		Msg:  fmt.Sprintf(format, args...),
	})
}

func (s *source) fileName() string {
	if s == nil {
		return ""
	}
	return s.name
}

// join sorts diagnostics and joins them into one error.
func join(list []*Diagnostic) error {
	sortDiagnostics(list)
	errs := make([]error, len(list))
	for i, d := range list {
		errs[i] = d
	}
	return errors.Join(errs...)
}

// sortDiagnostics orders diagnostics by line, then path.
func sortDiagnostics(list []*Diagnostic) {
	slices.SortStableFunc(list, func(a, b *Diagnostic) int {
		return cmp.Or(cmp.Compare(sortLine(a), sortLine(b)), cmp.Compare(a.Path, b.Path))
	})
}

// sortLine puts problems of keys that are not in the file last.
func sortLine(d *Diagnostic) int {
	if d.Line == 0 {
		return math.MaxInt
	}
	return d.Line
}
