package changecollector

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkIngestGitHub posts a signed workflow_run webhook per iteration
// through HTTP, signature check, decode and a JetStream publish (PubAck);
// each iteration is another run, so every event is stored.
func BenchmarkIngestGitHub(b *testing.B) {
	e := newEnv(b, nil)
	orig := real(b, "github/workflow_run_completed.payload.json")
	b.SetBytes(int64(len(orig)))
	i := 0
	for b.Loop() {
		i++
		body := bytes.ReplaceAll(orig, []byte("289782451"), fmt.Appendf(nil, "%d", 100000000+i))
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/changes?tenant=acme", bytes.NewReader(body))
		req.Header = gitHubHeaders("workflow_run", body, ghSecret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatal(resp.Status)
		}
	}
}
