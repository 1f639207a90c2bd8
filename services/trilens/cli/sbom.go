package cli

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/trilens/trilens/services/sbomcollector"
	"github.com/trilens/trilens/services/sbomcollector/generate"
)

// newSBOMCommand is `trilens sbom PATH`: generate an SBOM with syft (the
// library) and submit it.
func newSBOMCommand() *cobra.Command {
	var s Submitter
	var format, output, artifact string
	var noSubmit bool
	cmd := &cobra.Command{
		Use:   "sbom PATH",
		Short: "Generate an SBOM with syft for a directory, OCI layout or image archive, and submit it",
		Long: `sbom catalogues PATH with syft, run in process: a directory, an OCI image
layout, or an OCI or docker image archive (docker save, skopeo copy
oci-archive:). Nothing is pulled from a registry or a container daemon. The
SBOM (syft JSON by default) is written to --output, or a temp file, and sent
to the SBOM collector (POST /v1/sboms) with the image digest when there is one.`,
		Example: `  trilens sbom --repo acme/shop --commit $SHA .
  docker save shop:1.0 -o shop.tar && trilens sbom --artifact shop shop.tar
  trilens sbom --no-submit --format cyclonedx-json --output sbom.cdx.json .`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := output
			if out == "" {
				f, err := os.CreateTemp("", "trilens-sbom-*.json")
				if err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
				f.Close()
				out = f.Name()
				defer os.Remove(out)
			}
			res, err := generateSBOM(cmd.Context(), args[0], out, generate.Options{Format: format, Name: artifact})
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s %s, %d packages\n", args[0], res.Source, res.Name, res.Packages)
			if noSubmit {
				return nil
			}
			s.Params = url.Values{}
			if artifact != "" {
				s.Params.Set("artifact", artifact)
			}
			if res.Digest != "" {
				s.Params.Set("digest", res.Digest)
			}
			return printSBOM(cmd, &s, out)
		},
	}
	s.Register(cmd)
	f := cmd.Flags()
	f.StringVar(&format, "format", generate.SyftJSON, fmt.Sprintf("SBOM format: %v", generate.Formats()))
	f.StringVar(&output, "output", "", "keep the SBOM in this file (default: a temp file, removed)")
	f.StringVar(&artifact, "artifact", "", "artifact name (default: the name syft gives the source)")
	f.BoolVar(&noSubmit, "no-submit", false, "only write the SBOM")
	return cmd
}

func generateSBOM(ctx context.Context, path, out string, opts generate.Options) (*generate.Result, error) {
	f, err := os.Create(out)
	if err != nil {
		return nil, err
	}
	res, err := generate.Generate(ctx, path, f, opts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return res, err
}

func printSBOM(cmd *cobra.Command, s *Submitter, file string) error {
	var acc sbomcollector.SBOMResponse
	if err := s.Post(cmd.Context(), "/v1/sboms", file, cmd.ErrOrStderr(), &acc); err != nil {
		return err
	}
	if s.Quiet {
		fmt.Fprintln(cmd.OutOrStdout(), acc.ReportID)
		return nil
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s SBOM of %s, report %s: %d components in %d events\n",
		file, acc.Format, acc.Artifact, acc.ReportID, acc.Rows, acc.Events)
	return nil
}

// newSubmitSBOMCommands are `trilens submit sbom` and `trilens submit attestation`.
func newSubmitSBOMCommands() []*cobra.Command {
	return []*cobra.Command{newSubmitSBOMCommand(), newSubmitAttestationCommand()}
}

func newSubmitSBOMCommand() *cobra.Command {
	var s Submitter
	var artifact, digest string
	cmd := &cobra.Command{
		Use:   "sbom FILE...",
		Short: "Send SBOMs (CycloneDX 1.4-1.7 JSON, SPDX 2.3 JSON, syft JSON)",
		Long: `sbom sends SBOM documents to the SBOM collector (POST /v1/sboms). The artifact
is named by --artifact, else by the document (CycloneDX metadata.component,
the package SPDX describes, syft's source).`,
		Example: `  syft scan dir:. -o cyclonedx-json=sbom.cdx.json
  trilens submit sbom --repo acme/shop --commit $SHA sbom.cdx.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			s.Params = url.Values{}
			if artifact != "" {
				s.Params.Set("artifact", artifact)
			}
			if digest != "" {
				s.Params.Set("digest", digest)
			}
			for _, f := range files {
				if err := printSBOM(cmd, &s, f); err != nil {
					return err
				}
			}
			return nil
		},
	}
	s.Register(cmd)
	cmd.Flags().StringVar(&artifact, "artifact", "", "artifact name (default: from the document)")
	cmd.Flags().StringVar(&digest, "digest", "", "artifact digest, sha256:<hex> (default: from the document)")
	return cmd
}

func newSubmitAttestationCommand() *cobra.Command {
	var s Submitter
	var artifact, artifactFile, digest, key string
	cmd := &cobra.Command{
		Use:   "attestation FILE...",
		Short: "Send cosign signatures, Sigstore bundles and in-toto/SLSA attestations for verification",
		Long: `attestation sends signatures and attestations to the SBOM collector (POST
/v1/attestations), which verifies them in process: Sigstore bundles (cosign
--new-bundle-format), cosign's legacy signatures and bundles, and bare DSSE
envelopes (cosign attest-blob --output-signature). SLSA provenance (v0.2, v1)
is checked against --repo and --commit. A signature that does not verify is
recorded as such, with the reason; the command fails only when the collector
cannot take the file.

A signature over a blob needs the artifact: --artifact-file (its sha256 is
computed) or --digest. --key sends the public key (cosign.pub); the collector
uses it when it trusts submitted keys, and records its fingerprint.`,
		Example: `  cosign sign-blob --key cosign.key --new-bundle-format --bundle app.sigstore.json app
  trilens submit attestation --key cosign.pub --artifact-file app app.sigstore.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			s.Params = url.Values{}
			if artifactFile != "" {
				d, err := fileDigest(artifactFile)
				if err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
				digest = d
				if artifact == "" {
					artifact = filepath.Base(artifactFile)
				}
			}
			if artifact != "" {
				s.Params.Set("artifact", artifact)
			}
			if digest != "" {
				s.Params.Set("digest", digest)
			}
			if key != "" {
				pem, err := os.ReadFile(key)
				if err != nil {
					return &ExitError{Code: ExitUsage, Err: err}
				}
				s.Params.Set("key", base64.StdEncoding.EncodeToString(pem))
			}
			for _, f := range files {
				var acc sbomcollector.AttestationResponse
				if err := s.Post(cmd.Context(), "/v1/attestations", f, cmd.ErrOrStderr(), &acc); err != nil {
					return err
				}
				status := "verified"
				if !acc.Verified {
					status = "NOT verified: " + acc.VerificationError
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s %s: %s\n", f, acc.Artifact, acc.Digest, status)
			}
			return nil
		},
	}
	s.Register(cmd)
	f := cmd.Flags()
	f.StringVar(&key, "key", "", "public key file (cosign.pub) to verify with")
	f.StringVar(&artifactFile, "artifact-file", "", "the signed artifact, to compute its digest and name")
	f.StringVar(&artifact, "artifact", "", "artifact name")
	f.StringVar(&digest, "digest", "", "artifact digest, sha256:<hex>")
	return cmd
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
