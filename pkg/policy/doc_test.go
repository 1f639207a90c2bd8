package policy

import (
	"os"
	"reflect"
	"regexp"
	"testing"
)

// TestDocMentionsEveryKey keeps doc.go, the users' reference, in step with
// the struct tags: every key must appear in it as a word.
func TestDocMentionsEveryKey(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Map {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || rt == timeType || seen[rt] {
			return
		}
		seen[rt] = true
		for key, i := range fieldsOf(rt) {
			if !regexp.MustCompile(`(^|[^a-z_])` + regexp.QuoteMeta(key) + `($|[^a-z_])`).Match(doc) {
				t.Errorf("doc.go does not mention %s.%s (yaml key %q)", rt.Name(), rt.Field(i).Name, key)
			}
			walk(rt.Field(i).Type)
		}
	}
	walk(reflect.TypeFor[Policy]())
}
