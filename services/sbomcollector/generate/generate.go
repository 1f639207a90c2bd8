// Package generate makes an SBOM with syft, as a library, from what sits on
// disk: a directory, an OCI layout, or an OCI or docker archive. It never
// pulls from a registry or asks a container daemon.
package generate

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/cataloging/pkgcataloging"
	"github.com/anchore/syft/syft/format/cyclonedxjson"
	"github.com/anchore/syft/syft/format/spdxjson"
	"github.com/anchore/syft/syft/format/syftjson"
	"github.com/anchore/syft/syft/pkg/cataloger/golang"
	"github.com/anchore/syft/syft/sbom"
	"github.com/anchore/syft/syft/source"
	_ "modernc.org/sqlite" // syft reads newer RPM databases with it
)

// Formats the generator writes.
const (
	SyftJSON      = "syft-json"
	CycloneDXJSON = "cyclonedx-json"
	SPDXJSON      = "spdx-json"
)

// localSources are syft's source providers for local inputs, tried in this order.
var localSources = []string{"oci-dir", "oci-archive", "docker-archive", "dir"}

// Options of one generation.
type Options struct {
	// Format is SyftJSON (default), CycloneDXJSON or SPDXJSON.
	Format string
	// Version of the format's specification (e.g. "1.6" for CycloneDX); "" is syft's default.
	Version string
	// Name overrides the source name recorded in the SBOM.
	Name string
	// Parallelism of syft's catalogers (0 = syft's default).
	Parallelism int
}

// Result says what was written.
type Result struct {
	// Source is the kind of input syft recognised: directory, image.
	Source string
	Name   string
	// Digest is the image's manifest digest, empty for a directory.
	Digest string
	// Packages is the number of packages syft found.
	Packages int
}

// Generate catalogues path and writes the SBOM to w.
func Generate(ctx context.Context, path string, w io.Writer, opts Options) (*Result, error) {
	enc, err := encoder(opts.Format, opts.Version)
	if err != nil {
		return nil, err
	}
	cfg := syft.DefaultGetSourceConfig().WithSources(localSources...)
	if opts.Name != "" {
		cfg = cfg.WithAlias(source.Alias{Name: opts.Name})
	}
	src, err := syft.GetSource(ctx, path, cfg)
	if err != nil {
		return nil, fmt.Errorf("syft source %s: %w", path, err)
	}
	defer src.Close()
	defer limitMemory()()
	defer tuneGoList()()
	s, err := syft.CreateSBOM(ctx, src, createConfig(opts))
	if err != nil {
		return nil, fmt.Errorf("syft catalog %s: %w", path, err)
	}
	if err := enc.Encode(w, *s); err != nil {
		return nil, fmt.Errorf("encode SBOM: %w", err)
	}
	desc := src.Describe()
	res := &Result{Name: desc.Name, Packages: s.Artifacts.Packages.PackageCount()}
	switch m := desc.Metadata.(type) {
	case source.ImageMetadata:
		res.Source, res.Digest = "image", m.ManifestDigest
	case source.DirectoryMetadata:
		res.Source = "directory"
	default:
		res.Source = fmt.Sprintf("%T", m)
	}
	return res, nil
}

// createConfig is syft's cataloguing configuration for opts: the library's
// defaults (the CLI's too: catalogers picked by the source's kind, 4×NumCPU
// workers) plus licences of Go modules from the local module cache.
func createConfig(opts Options) *syft.CreateSBOMConfig {
	// Go binaries and go.mod files name modules, not their licences: read
	// those from the local module cache, where the build left the modules,
	// so a licence deny-list has something to check.
	cfg := syft.DefaultCreateSBOMConfig().WithPackagesConfig(pkgcataloging.DefaultConfig().
		WithGolangConfig(golang.DefaultCatalogerConfig().WithSearchLocalModCacheLicenses(true)))
	if opts.Parallelism > 0 {
		cfg = cfg.WithParallelism(opts.Parallelism)
	}
	return cfg
}

func encoder(format, version string) (sbom.FormatEncoder, error) {
	switch format {
	case "", SyftJSON:
		return syftjson.NewFormatEncoder(), nil
	case CycloneDXJSON:
		cfg := cyclonedxjson.DefaultEncoderConfig()
		if version != "" {
			cfg.Version = version
		}
		return cyclonedxjson.NewFormatEncoderWithConfig(cfg)
	case SPDXJSON:
		cfg := spdxjson.DefaultEncoderConfig()
		if version != "" {
			cfg.Version = version
		}
		return spdxjson.NewFormatEncoderWithConfig(cfg)
	}
	return nil, fmt.Errorf("format %q: want one of %v", format, Formats())
}

// Formats lists the formats Generate writes.
func Formats() []string {
	f := []string{SyftJSON, CycloneDXJSON, SPDXJSON}
	sort.Strings(f)
	return f
}
