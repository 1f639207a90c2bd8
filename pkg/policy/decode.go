package policy

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the work of one decode, so aliases that refer to aliases
// (a "billion laughs" document) cannot make a small file expensive.
const maxNodes = 200_000

// decoder walks a YAML node tree into Go values by their yaml tags. It does
// what yaml.v3's KnownFields does, but keeps going after a problem and
// names the key path, not only the line, of each one.
type decoder struct {
	diagnostics
	nodes int
}

// defaulter is implemented by list and optional elements whose unset keys
// are not zero (an slo: block gets a 30d window).
type defaulter interface{ setDefaults() }

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
)

// parseDocument decodes the YAML in data onto p, keeping p's values for keys
// the document does not set.
func (d *decoder) parseDocument(data []byte, p *Policy) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return // an empty file: all defaults
		}
		d.yamlError(err)
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.list = append(d.list, &Diagnostic{File: d.src.name, Line: extra.Line, Msg: "want one YAML document, found another"})
	} else if !errors.Is(err, io.EOF) {
		d.yamlError(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.decode(root, reflect.ValueOf(p).Elem(), "")
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlError turns a syntax error of the YAML parser into a Diagnostic.
func (d *decoder) yamlError(err error) {
	diag := &Diagnostic{File: d.src.name, Msg: err.Error()}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		diag.Line, _ = strconv.Atoi(m[1])
		diag.Msg = m[2]
	}
	d.list = append(d.list, diag)
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.list = append(d.list, &Diagnostic{File: d.src.name, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	d.nodes++
	if d.nodes == maxNodes {
		d.errorf(n, path, "document too large (over %d nodes with aliases expanded)", maxNodes)
	}
	if d.nodes >= maxNodes {
		return
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" with no value keeps the default
	}
	switch v.Type() {
	case durationType:
		d.duration(n, v, path)
		return
	case timeType:
		d.expiry(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			e := reflect.New(v.Type().Elem())
			if df, ok := e.Interface().(defaulter); ok {
				df.setDefaults()
			}
			v.Set(e)
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.mapping(n, path, func(key *yaml.Node, val *yaml.Node, kpath string) {
			i, ok := fieldsOf(v.Type())[key.Value]
			if !ok {
				d.errorf(key, kpath, "unknown key %q", key.Value)
				return
			}
			d.decode(val, v.Field(i), kpath)
		}, fieldPath)
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		d.mapping(n, path, func(key *yaml.Node, val *yaml.Node, kpath string) {
			e := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, e, kpath)
			v.SetMapIndex(reflect.ValueOf(key.Value), e)
		}, mapKeyPath)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "want a list, got %s", describe(n))
			return
		}
		// A list in the file replaces the default list; it is not appended to.
		s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
		for i, en := range n.Content {
			ipath := indexPath(path, i)
			d.src.lines[ipath] = en.Line
			e := reflect.New(v.Type().Elem())
			if df, ok := e.Interface().(defaulter); ok {
				df.setDefaults()
			}
			d.decode(en, e.Elem(), ipath)
			s = reflect.Append(s, e.Elem())
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "want a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		var x int
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&x) != nil {
			d.errorf(n, path, "want an integer, got %s", describe(n))
			return
		}
		v.SetInt(int64(x))
	case reflect.Float64:
		var x float64
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&x) != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			d.errorf(n, path, "want a number, got %s", describe(n))
			return
		}
		v.SetFloat(x)
	case reflect.Bool:
		var x bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&x) != nil {
			d.errorf(n, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(x)
	default:
		panic("policy: no decoder for " + v.Type().String())
	}
}

// mapping calls each for every key of a mapping node, recording the line
// of each key and reporting keys given twice. Keys merged in with "<<"
// (from a mapping or a list of them) count only where the mapping does not
// write the key out itself: YAML merges are shallow.
func (d *decoder) mapping(n *yaml.Node, path string, each func(key, val *yaml.Node, kpath string), join func(path, key string) string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", describe(n))
		return
	}
	type pair struct{ key, val *yaml.Node }
	var pairs []pair
	seen := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Tag == "!!merge" {
			merges = append(merges, val)
			continue
		}
		if key.Kind != yaml.ScalarNode {
			d.errorf(key, path, "want a key name, got %s", describe(key))
			continue
		}
		if line, dup := seen[key.Value]; dup {
			d.errorf(key, join(path, key.Value), "key given twice (first on line %d)", line)
			continue
		}
		seen[key.Value] = key.Line
		pairs = append(pairs, pair{key, val})
	}
	// The first source to give a key wins, so nearer merges shadow farther ones.
	var mergeFrom func(m *yaml.Node)
	mergeFrom = func(m *yaml.Node) {
		d.nodes++
		if d.nodes >= maxNodes {
			return
		}
		if m.Kind == yaml.AliasNode {
			m = m.Alias
		}
		switch m.Kind {
		case yaml.SequenceNode:
			for _, e := range m.Content {
				mergeFrom(e)
			}
			return
		case yaml.MappingNode:
		default:
			d.errorf(m, path, "want a mapping to merge with <<, got %s", describe(m))
			return
		}
		var nested []*yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			key, val := m.Content[i], m.Content[i+1]
			if key.Tag == "!!merge" {
				nested = append(nested, val)
				continue
			}
			if _, ok := seen[key.Value]; !ok && key.Kind == yaml.ScalarNode {
				seen[key.Value] = key.Line
				pairs = append(pairs, pair{key, val})
			}
		}
		for _, v := range nested {
			mergeFrom(v)
		}
	}
	for _, m := range merges {
		mergeFrom(m)
	}
	for _, p := range pairs {
		kpath := join(path, p.key.Value)
		d.src.lines[kpath] = p.key.Line
		each(p.key, p.val, kpath)
	}
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want a duration such as 90s, 48h or 30d, got %s", describe(n))
		return
	}
	x, err := parseDuration(n.Value)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return
	}
	v.SetInt(int64(x))
}

func (d *decoder) expiry(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want a date (2026-12-31) or an RFC 3339 time, got %s", describe(n))
		return
	}
	t, err := parseExpiry(n.Value)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return
	}
	v.Set(reflect.ValueOf(t))
}

var daysRE = regexp.MustCompile(`^(\d+)d(.*)$`)

// parseDuration reads a Go duration, allowing whole days in front: "30d",
// "1d12h". Negative durations are errors.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("want a duration such as 90s, 48h or 30d, got \"\"")
	}
	rest, days := s, 0
	if m := daysRE.FindStringSubmatch(s); m != nil {
		var err error
		if days, err = strconv.Atoi(m[1]); err != nil || days > 100*365 {
			return 0, fmt.Errorf("want a duration such as 90s, 48h or 30d, got %q", s)
		}
		rest = m[2]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, fmt.Errorf("want a duration such as 90s, 48h or 30d, got %q", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("want a duration of 0 or more, got %q", s)
	}
	return time.Duration(days)*day + d, nil
}

const day = 24 * time.Hour

// parseExpiry reads an RFC 3339 time, or a date, which is taken as the end
// of that day in UTC: a waiver that "expires: 2026-12-31" holds all that day.
func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Add(day), nil
	}
	return time.Time{}, fmt.Errorf("want a date (2026-12-31) or an RFC 3339 time (2026-12-31T18:00:00Z), got %q", s)
}

// describe names what a node holds, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!str":
		return fmt.Sprintf("string %q", n.Value)
	case "!!int":
		return "integer " + n.Value
	case "!!float":
		return "number " + n.Value
	case "!!bool":
		return "boolean " + n.Value
	case "!!timestamp":
		return "timestamp " + n.Value
	}
	return strconv.Quote(n.Value)
}

var fieldCache sync.Map // reflect.Type -> map[string]int

// fieldsOf maps the yaml key names of a struct type to field indexes.
func fieldsOf(t reflect.Type) map[string]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" {
			m[name] = i
		}
	}
	fieldCache.Store(t, m)
	return m
}
