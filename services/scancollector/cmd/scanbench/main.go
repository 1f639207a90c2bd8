// Command scanbench measures the scan collector on a large SARIF report:
// -gen writes one (about 1 KB per result, modelled on gosec's output), and
// -file posts it over real HTTP to the collector publishing to an embedded
// JetStream server, then prints key=value figures for scripts/bench.d/30-scan.sh:
// results bytes seconds findings_per_s peak_rss_mb. The whole document is
// stored in the object store and the findings published, as in production.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/trilens/trilens/pkg/collect"
	"github.com/trilens/trilens/pkg/natsserver"
	"github.com/trilens/trilens/services/scancollector"
)

func main() {
	gen := flag.Bool("gen", false, "generate a SARIF report into -out")
	out := flag.String("out", "bench.sarif", "file -gen writes")
	results := flag.Int("results", 100_000, "results -gen writes")
	file := flag.String("file", "", "report to ingest")
	flag.Parse()
	var err error
	switch {
	case *gen:
		err = generate(*out, *results)
	case *file != "":
		err = ingest(*file)
	default:
		err = fmt.Errorf("want -gen or -file")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scanbench:", err)
		os.Exit(1)
	}
}

// rules are gosec's, with GitHub's security-severity and CWE tags.
var rules = []struct{ id, name, cwe, sev string }{
	{"G101", "Potential hardcoded credentials", "798", "7.5"}, {"G104", "Errors unhandled", "703", "3.1"},
	{"G201", "SQL query construction using format string", "89", "8.8"}, {"G204", "Subprocess launched with variable", "78", "9.1"},
	{"G304", "File path provided as taint input", "22", "6.5"}, {"G401", "Use of weak cryptographic primitive", "328", "5.3"},
	{"G402", "TLS InsecureSkipVerify set true", "295", "7.4"}, {"G404", "Use of weak random number generator", "338", "4.2"},
	{"G501", "Blocklisted import crypto/md5", "327", "5.0"}, {"G601", "Implicit memory aliasing in for loop", "118", "2.0"},
}

func generate(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(`{"$schema":"https://json.schemastore.org/sarif-2.1.0.json","version":"2.1.0","runs":[{"tool":{"driver":{"name":"gosec","version":"2.29.0","informationUri":"https://github.com/securego/gosec/","rules":[`)
	for i, r := range rules {
		if i > 0 {
			w.WriteString(",")
		}
		fmt.Fprintf(w, `{"id":%q,"name":%q,"shortDescription":{"text":%q},"helpUri":"https://securego.io/docs/rules/%s.html","defaultConfiguration":{"level":"warning"},"properties":{"tags":["security","external/cwe/cwe-%s"],"precision":"high","security-severity":%q}}`,
			r.id, r.name, r.name, strings.ToLower(r.id), r.cwe, r.sev)
	}
	w.WriteString(`]}},"results":[`)
	for i := 0; i < n; i++ {
		r := rules[i%len(rules)]
		if i > 0 {
			w.WriteString(",\n")
		}
		pkg, file, line := i/500, i%23, 10+i%400
		msg := fmt.Sprintf("%s: %s in handler %d of package internal/svc%d; the value flows from the request into the call without validation, which lets a caller control it.", r.id, r.name, i, pkg)
		snippet, _ := json.Marshal(fmt.Sprintf("\tresult%d, err := svc%d.Call(ctx, request.FormValue(\"param%d\"), options%d) // line of real-looking Go code that the scanner quoted", i, pkg, i%7, i%13))
		fmt.Fprintf(w, `{"ruleId":%q,"ruleIndex":%d,"level":"error","message":{"text":%q},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"internal/svc%d/file%d.go","uriBaseId":"%%SRCROOT%%"},"region":{"startLine":%d,"startColumn":5,"endLine":%d,"endColumn":42,"snippet":{"text":%s}}}}],"relatedLocations":[{"id":1,"physicalLocation":{"artifactLocation":{"uri":"internal/svc%d/source%d.go","uriBaseId":"%%SRCROOT%%"},"region":{"startLine":%d,"startColumn":9,"endLine":%d,"endColumn":31}},"message":{"text":"the tainted value enters here, from the HTTP request parameter"}}],"partialFingerprints":{"primaryLocationLineHash":"%016x:1"},"properties":{"confidence":"HIGH","cwe":"CWE-%s"}}`,
			r.id, i%len(rules), msg, pkg, file, line, line, snippet, pkg, file%5, line/2+1, line/2+1, uint64(i)*0x9e3779b97f4a7c15, r.cwe)
	}
	w.WriteString("]}]}\n")
	return w.Flush()
}

func ingest(path string) error {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	b, stop, err := natsserver.StartTemp(ctx, log)
	if err != nil {
		return err
	}
	defer stop()
	var ccfg scancollector.Config
	ccfg.RegisterFlags("", flag.NewFlagSet("c", flag.ContinueOnError))
	c, err := scancollector.New(ccfg, collect.Settings{Logger: log, Publisher: b, Registerer: prometheus.NewRegistry()})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, _ := f.Stat()
	start := time.Now()
	resp, err := http.Post(srv.URL+"/v1/scans?repo=bench&branch=main", "application/sarif+json", f)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var acc scancollector.Accepted
	if err := json.NewDecoder(resp.Body).Decode(&acc); err != nil || resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("collector answered %s (%v)", resp.Status, err)
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("results=%d bytes=%d events=%d seconds=%.3f findings_per_s=%.0f peak_rss_mb=%.0f\n",
		acc.Rows, info.Size(), acc.Events, secs, float64(acc.Rows)/secs, peakRSSMB())
	return nil
}

// peakRSSMB is the process's peak resident set (VmHWM) in MB.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
