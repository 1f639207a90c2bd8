package scancollector

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkDecodeSARIF decodes SCANBENCH_SARIF (a file from `scanbench -gen`)
// or, without it, the gosec fixture repeated.
func BenchmarkDecodeSARIF(b *testing.B) {
	doc, err := os.ReadFile(os.Getenv("SCANBENCH_SARIF"))
	if err != nil {
		doc = readFixture(b, "gosec.sarif")
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		rep, err := Decode(FormatSARIF, bytes.NewReader(doc), 0)
		if err != nil || rep.Count() == 0 {
			b.Fatal(err)
		}
	}
}
