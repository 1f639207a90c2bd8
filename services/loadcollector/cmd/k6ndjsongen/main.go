// Command k6ndjsongen writes a large k6 `--out json` stream for benchmarks:
// it repeats the samples of a real k6 stream (a fixture) with their times
// moved forward each round, so the result reads as one long run.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"regexp"
	"time"
)

var timeRE = regexp.MustCompile(`"time":"([^"]+)"`)

func main() {
	in := flag.String("template", "testdata/k6/mixed.ndjson.gz", "a real k6 NDJSON stream (gzip or plain)")
	out := flag.String("out", "", "file to write")
	size := flag.Int64("bytes", 1e9, "stop once this many bytes are written")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	tmpl, err := readTemplate(*in)
	if err != nil {
		log.Fatal(err)
	}
	var header, samples [][]byte
	var times []time.Time
	var t0, t1 time.Time
	for line := range bytes.Lines(tmpl) {
		m := timeRE.FindSubmatchIndex(line)
		if m == nil {
			header = append(header, line)
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, string(line[m[2]:m[3]]))
		if err != nil {
			log.Fatal(err)
		}
		if t0.IsZero() || t.Before(t0) {
			t0 = t
		}
		if t.After(t1) {
			t1 = t
		}
		samples, times = append(samples, line), append(times, t)
	}
	round := t1.Sub(t0) + time.Second
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var n int64
	for _, h := range header {
		k, _ := w.Write(h)
		n += int64(k)
	}
	var buf []byte
	for r := 0; n < *size; r++ {
		shift := time.Duration(r) * round
		for i, line := range samples {
			m := timeRE.FindSubmatchIndex(line)
			buf = append(buf[:0], line[:m[2]]...)
			buf = times[i].Add(shift).UTC().AppendFormat(buf, time.RFC3339Nano)
			buf = append(buf, line[m[3]:]...)
			k, _ := w.Write(buf)
			n += int64(k)
			if n >= *size {
				break
			}
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "wrote %d bytes to %s\n", n, *out)
}

func readTemplate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if zr, err := gzip.NewReader(f); err == nil {
		r = zr
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}
