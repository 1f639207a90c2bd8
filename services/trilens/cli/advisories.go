package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// newAdvisoriesCommand is `trilens advisories`.
func newAdvisoriesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "advisories",
		Short: "Vulnerability advisories (OSV) the scorer matches against every stored SBOM",
	}
	cmd.AddCommand(newAdvisoriesImportCommand())
	return cmd
}

func newAdvisoriesImportCommand() *cobra.Command {
	var client scorerClient
	cmd := &cobra.Command{
		Use:   "import PATH",
		Short: "Import OSV records: a directory of .json records or a zip (an osv.dev export per ecosystem)",
		Long: `import sends the OSV records to the scorer (POST /v1/advisories, admin role),
which keeps each advisory in every version it has seen (by id and modified
time: importing the same export again changes nothing) and matches the new
ones at once against every component version of the stored SBOMs: the
releases they affect get a finding (tool osv-advisories) without a new scan.`,
		Example: `  curl -O https://osv-vulnerabilities.storage.googleapis.com/Go/all.zip
  trilens advisories import all.zip`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := osvExport(args[0])
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			var res struct {
				Records int      `json:"records"`
				New     []string `json:"new"`
			}
			if err := client.postRaw(cmd.Context(), "/v1/advisories", "application/zip", body, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d records, %d new or updated\n", res.Records, len(res.New))
			return nil
		},
	}
	client.register(cmd)
	return cmd
}

// osvExport is the zip to send: the file itself, or a directory zipped.
func osvExport(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return os.ReadFile(path)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// postRaw posts body as is (not JSON) and decodes a 200 answer into out.
func (c *scorerClient) postRaw(ctx context.Context, path, contentType string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	u := strings.TrimRight(c.URL, "/") + path
	if c.Tenant != "" {
		u += "?tenant=" + c.Tenant
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	req.Header.Set("Content-Type", contentType)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("scorer unreachable: %w", err)}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("scorer answered %s: %s", resp.Status, strings.TrimSpace(string(data)))}
	}
	return json.Unmarshal(data, out)
}
