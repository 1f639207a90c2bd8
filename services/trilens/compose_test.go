package trilens_test

import (
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"

	"github.com/trilens/trilens/services/trilens"
)

// No Docker engine runs on our machines, so docker-compose.yml is checked here: compose-go
// (the loader docker compose itself uses) validates it against the compose schema, and the
// checks below catch what the schema cannot: a service without a healthcheck, an unknown
// --target, a mount of a file that is not in the repository, a port the binary does not
// listen on, a URL naming a service that does not exist, a password that differs between
// the ClickHouse users file and its clients, a NATS config without JetStream.

// rules is what the runner accepts, taken from its own registry and flags so that the
// compose file cannot drift from the binary.
type rules struct {
	targets  []string // values of --target
	listen   []uint32 // ports a trilens container listens on, HTTP first
	httpPort uint32   // where /ready answers
}

// listenFlags are the address flags whose default ports the containers publish.
var listenFlags = []string{"server.http-address", "otlp.grpc-address", "otlp.http-address"}

func runnerRules(t *testing.T) rules {
	t.Helper()
	var cfg trilens.Config
	fs := flag.NewFlagSet("trilens", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	r := rules{targets: trilens.Targets()}
	for _, name := range listenFlags {
		f := fs.Lookup(name)
		if f == nil {
			t.Fatalf("the runner has no --%s flag any more: update docker-compose.yml and this test", name)
		}
		_, port, err := net.SplitHostPort(f.DefValue)
		if err != nil {
			t.Fatalf("--%s default %q: %v", name, f.DefValue, err)
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			t.Fatalf("--%s default %q: %v", name, f.DefValue, err)
		}
		r.listen = append(r.listen, uint32(n))
	}
	r.httpPort = r.listen[0]
	return r
}

// repoRoot is where docker-compose.yml lives; go test runs in services/trilens.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// loadCompose loads file as `docker compose --profile p...` would from the repository root:
// the root .env is read, and with no profiles its COMPOSE_PROFILES applies.
func loadCompose(t *testing.T, root, file string, profiles ...string) (*types.Project, error) {
	t.Helper()
	// Secrets have no defaults in the file: the operator sets them.
	t.Setenv("GRAFANA_ADMIN_PASSWORD", "test-only-password")
	t.Setenv("TRILENS_AUTH_FILE", "./services/trilens/testdata/compose/auth.yaml")
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(root),
		cli.WithOsEnv,
		cli.WithEnvFiles(filepath.Join(root, ".env")),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(profiles...),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

func TestComposeFile(t *testing.T) {
	root := repoRoot(t)
	r := runnerRules(t)
	file := filepath.Join(root, "docker-compose.yml")

	all, err := loadCompose(t, root, file, "*")
	if err != nil {
		t.Fatalf("docker-compose.yml with every profile: %v", err)
	}
	if err := errors.Join(allProblems(all, root, r)...); err != nil {
		t.Errorf("docker-compose.yml with every profile:\n%v", err)
	}
	dsDir := filepath.Join(root, "deploy", "grafana", "provisioning", "datasources")
	if err := errors.Join(datasourceProblems(all, root, dsDir)...); err != nil {
		t.Errorf("grafana provisioning:\n%v", err)
	}

	// The profiles a user runs: each must select the right services and must be able to
	// start on one host (no host port published twice).
	selections := []struct {
		name     string
		profiles []string
		services []string
	}{
		{"default (.env)", nil, []string{"clickhouse", "grafana", "trilens"}},
		{"split", []string{"split"}, []string{
			"alerter", "clickhouse", "grafana", "loadcollector", "nats",
			"sbomcollector", "scancollector", "scorer", "tracecollector",
		}},
	}
	for _, sel := range selections {
		t.Run(sel.name, func(t *testing.T) {
			p, err := loadCompose(t, root, file, sel.profiles...)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.ServiceNames(); !slices.Equal(sortedCopy(got), sel.services) {
				t.Errorf("services = %v, want %v", sortedCopy(got), sel.services)
			}
			if all, ok := p.Services["trilens"]; ok {
				// The CLI's and the OTel SDKs' default endpoints must work against the host.
				var got, want []string
				for _, port := range all.Ports {
					got = append(got, fmt.Sprintf("%s:%d", port.Published, port.Target))
				}
				for _, port := range r.listen {
					want = append(want, fmt.Sprintf("%d:%d", port, port))
				}
				if !slices.Equal(got, want) {
					t.Errorf("trilens publishes %v, want %v", got, want)
				}
			}
			problems := append(allProblems(p, root, r), hostPortProblems(p)...)
			if err := errors.Join(problems...); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestComposeChecksReject proves each check can fail: every snippet in testdata/compose and
// every data source in testdata/grafana breaks exactly one rule.
func TestComposeChecksReject(t *testing.T) {
	root := repoRoot(t)
	r := runnerRules(t)
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		compose     string // relative to testdata/compose; "" is the real docker-compose.yml
		datasources string // relative to testdata/grafana; "" skips the data source check
		want        string
	}{
		{compose: "no-healthcheck.yml", want: `service "scorer" has no healthcheck`},
		{compose: "unknown-target.yml", want: `unknown --target "scorre"`},
		{compose: "missing-mount.yml", want: "deploy/nats/missing.conf does not exist"},
		{compose: "mount-outside-repo.yml", want: "is outside the repository"},
		{compose: "undefined-dependency.yml", want: `depends on undefined service "natz"`},
		{compose: "wrong-port.yml", want: "container port 8080 is not one trilens listens on"},
		{compose: "host-port-twice.yml", want: `host port 7070/tcp is published by both`},
		{compose: "unknown-url-host.yml", want: `--bus.url names "natz", which is not a service`},
		{compose: "policy-not-mounted.yml", want: `--policy.file=/etc/trilens/trilens.yaml is not mounted`},
		{compose: "healthcheck-wrong-port.yml", want: "healthcheck does not call `trilens ready`"},
		{compose: "dsn-wrong-password.yml", want: `password for ClickHouse user "trilens" differs`},
		{compose: "dsn-unknown-user.yml", want: `ClickHouse user "writer" is not in`},
		{compose: "nats-no-jetstream.yml", want: "JetStream is off"},
		{compose: "nats-wrong-port.yml", want: "--bus.url port 4223, NATS listens on 4222"},
		{compose: "unpinned-image.yml", want: `service "nats": image nats:2.15.0-alpine is not pinned by digest`},
		{compose: "nats-anonymous.yml", want: `--bus.url user "" is not a NATS user`},
		{compose: "nats-scorer-as-collector.yml", want: `NATS user "collector" may publish evidence: true`},
		{datasources: "unknown-host", want: `host "clickhous" is not a compose service`},
		{datasources: "http-port", want: "must use the native protocol on port 9000"},
		{datasources: "plugin-not-installed", want: `plugin "vertamedia-clickhouse-datasource" is not installed`},
		{datasources: "broken-yaml", want: "yaml:"},
		{datasources: "unknown-user", want: `ClickHouse user "admin" is not in`},
	}
	for _, tc := range cases {
		name := tc.compose + tc.datasources
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(root, "docker-compose.yml")
			if tc.compose != "" {
				file = filepath.Join(testdata, "compose", tc.compose)
			}
			p, err := loadCompose(t, root, file, "*")
			var problems []error
			switch {
			case err != nil:
				problems = []error{err}
			case tc.datasources != "":
				problems = datasourceProblems(p, root, filepath.Join(testdata, "grafana", tc.datasources))
			default:
				problems = append(allProblems(p, root, r), hostPortProblems(p)...)
			}
			got := errors.Join(problems...)
			if got == nil {
				t.Fatalf("accepted; want an error containing %q", tc.want)
			}
			if !strings.Contains(got.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", got, tc.want)
			}
		})
	}
}

// TestDockerfile keeps the image in step with the workspace and the runner: the Go image is
// the workspace's Go version, every base image is pinned by digest, the built package
// exists, and EXPOSE lists the listen ports.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	r := runnerRules(t)
	if err := errors.Join(dockerfileProblems(filepath.Join(root, "Dockerfile"), root, r)...); err != nil {
		t.Error(err)
	}
	for file, want := range map[string]string{
		"old-go.Dockerfile":          "is not the workspace's Go 1.",
		"missing-package.Dockerfile": "./services/trilens/cmd/trilenz does not exist",
		"missing-expose.Dockerfile":  "EXPOSE [7070] ",
		"unpinned.Dockerfile":        "FROM gcr.io/distroless/static-debian12:nonroot is not pinned by digest",
	} {
		err := errors.Join(dockerfileProblems(filepath.Join("testdata", "docker", file), root, r)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error = %v, want it to contain %q", file, err, want)
		}
	}
}

var (
	goDirective  = regexp.MustCompile(`(?m)^go (\d+\.\d+)`)
	golangImage  = regexp.MustCompile(`(?m)^FROM golang:(\d+\.\d+)`)
	buildPath    = regexp.MustCompile(`\./services/[\w./-]+`)
	expose       = regexp.MustCompile(`(?m)^EXPOSE (.+)$`)
	fromImage    = regexp.MustCompile(`(?m)^FROM (?:--\S+ )*(\S+)`)
	digestPinned = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
)

// dockerfileProblems checks the Dockerfile at path against the workspace at root.
func dockerfileProblems(path, root string, r rules) []error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return []error{err}
	}
	work, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		return []error{err}
	}
	text := string(raw)
	var problems []error
	goVersion, image := "none", "none"
	if m := goDirective.FindStringSubmatch(string(work)); m != nil {
		goVersion = m[1]
	}
	if m := golangImage.FindStringSubmatch(text); m != nil {
		image = m[1]
	}
	if image != goVersion {
		problems = append(problems, fmt.Errorf("%s: build image golang:%s is not the workspace's Go %s", path, image, goVersion))
	}
	for _, m := range fromImage.FindAllStringSubmatch(text, -1) {
		if !digestPinned.MatchString(m[1]) {
			problems = append(problems, fmt.Errorf("%s: FROM %s is not pinned by digest", path, m[1]))
		}
	}
	pkgs := buildPath.FindAllString(text, -1)
	if len(pkgs) == 0 {
		problems = append(problems, fmt.Errorf("%s: builds no ./services/ package", path))
	}
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join(root, pkg)); err != nil {
			problems = append(problems, fmt.Errorf("%s: %s does not exist", path, pkg))
		}
	}
	var exposed []uint32
	if m := expose.FindStringSubmatch(text); m != nil {
		for _, f := range strings.Fields(m[1]) {
			n, err := strconv.ParseUint(f, 10, 16)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: EXPOSE %q: %v", path, f, err))
			}
			exposed = append(exposed, uint32(n))
		}
	}
	if !slices.Equal(sortedCopy(exposed), sortedCopy(r.listen)) {
		problems = append(problems, fmt.Errorf("%s: EXPOSE %v does not match the listen ports %v", path, exposed, r.listen))
	}
	return problems
}

// allProblems runs every check that needs only the project and the repository.
func allProblems(p *types.Project, root string, r rules) []error {
	return append(composeProblems(p, root, r), natsProblems(p)...)
}

// composeProblems returns every broken rule of the enabled services of p.
func composeProblems(p *types.Project, root string, r rules) []error {
	var problems []error
	report := func(svc, format string, args ...any) {
		problems = append(problems, fmt.Errorf("service %q: %s", svc, fmt.Sprintf(format, args...)))
	}
	for _, name := range sortedCopy(p.ServiceNames()) {
		s := p.Services[name]
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			problems = append(problems, fmt.Errorf("service %q has no healthcheck", name))
		}
		for dep := range s.DependsOn {
			if _, ok := p.Services[dep]; !ok {
				report(name, "depends on undefined service %q", dep)
			}
		}
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if err := inRepo(root, v.Source); err != nil {
				report(name, "mount %s: %v", v.Target, err)
			}
		}
		if s.Build == nil && !digestPinned.MatchString(s.Image) {
			// A tag can be re-pushed; only a digest names the image that was reviewed.
			report(name, "image %s is not pinned by digest", s.Image)
		}
		if s.Build != nil {
			if err := inRepo(root, filepath.Join(s.Build.Context, cmp.Or(s.Build.Dockerfile, "Dockerfile"))); err != nil {
				report(name, "build: %v", err)
			}
			problems = append(problems, trilensProblems(p, s, r)...)
		}
	}
	return problems
}

// trilensProblems checks a service that runs the image built from this repository.
func trilensProblems(p *types.Project, s types.ServiceConfig, r rules) []error {
	var problems []error
	report := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf("service %q: %s", s.Name, fmt.Sprintf(format, args...)))
	}
	flags := flagValues(append(slices.Clone(s.Entrypoint), s.Command...))
	for _, flagName := range slices.Sorted(maps.Keys(flags)) {
		value := flags[flagName]
		switch {
		case flagName == "target":
			if !slices.Contains(r.targets, value) {
				report("unknown --target %q (known: %v)", value, r.targets)
			}
		case strings.HasSuffix(flagName, ".url") || strings.HasSuffix(flagName, ".dsn"):
			u, err := url.Parse(value)
			if err != nil {
				report("--%s: %v", flagName, err)
				continue
			}
			if _, ok := p.Services[u.Hostname()]; !ok {
				report("--%s names %q, which is not a service", flagName, u.Hostname())
			}
			if flagName == "store.dsn" {
				password, _ := u.User.Password()
				if err := checkClickHouseUser(p, u.User.Username(), password); err != nil {
					report("--store.dsn: %v", err)
				}
			}
		case flagName == "policy.file":
			if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == value }) {
				report("--policy.file=%s is not mounted", value)
			}
		}
	}
	for _, port := range s.Ports {
		if !slices.Contains(r.listen, port.Target) {
			report("container port %d is not one trilens listens on %v", port.Target, r.listen)
		}
	}
	ready := []string{"CMD", "trilens", "ready", "--url", fmt.Sprintf("http://127.0.0.1:%d/ready", r.httpPort)}
	if s.HealthCheck != nil && !slices.Equal(s.HealthCheck.Test, ready) {
		report("healthcheck does not call `trilens ready` on port %d: %v", r.httpPort, s.HealthCheck.Test)
	}
	return problems
}

// hostPortProblems finds host ports that two enabled services publish: compose would start
// the first and fail on the second.
func hostPortProblems(p *types.Project) []error {
	var problems []error
	owner := map[string]string{}
	for _, name := range sortedCopy(p.ServiceNames()) {
		for _, port := range p.Services[name].Ports {
			if port.Published == "" {
				continue
			}
			key := port.Published + "/" + cmp.Or(port.Protocol, "tcp")
			if prev, ok := owner[key]; ok {
				problems = append(problems, fmt.Errorf("host port %s is published by both %q and %q", key, prev, name))
				continue
			}
			owner[key] = name
		}
	}
	return problems
}

// provisionedDatasources is the part of Grafana's provisioning format the checks read.
type provisionedDatasources struct {
	Datasources []struct {
		Name     string `yaml:"name"`
		Type     string `yaml:"type"`
		JSONData struct {
			Host            string `yaml:"host"`
			Port            int    `yaml:"port"`
			Protocol        string `yaml:"protocol"`
			DefaultDatabase string `yaml:"defaultDatabase"`
			Username        string `yaml:"username"`
		} `yaml:"jsonData"`
		SecureJSONData struct {
			Password string `yaml:"password"`
		} `yaml:"secureJsonData"`
	} `yaml:"datasources"`
}

// datasourceProblems checks that every provisioned data source in dir parses, uses a plugin
// the grafana service installs, and reaches ClickHouse's native port in the trilens database.
func datasourceProblems(p *types.Project, root, dir string) []error {
	grafana, ok := p.Services["grafana"]
	if !ok {
		return []error{errors.New(`no "grafana" service`)}
	}
	var problems []error
	provisioning := filepath.Join(root, "deploy", "grafana", "provisioning")
	if !slices.ContainsFunc(grafana.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Source == provisioning && v.Target == "/etc/grafana/provisioning"
	}) {
		problems = append(problems, fmt.Errorf("grafana does not mount %s at /etc/grafana/provisioning", provisioning))
	}
	var plugins []string
	if v := grafana.Environment["GF_PLUGINS_PREINSTALL_SYNC"]; v != nil {
		for _, id := range strings.Split(*v, ",") {
			plugins = append(plugins, strings.TrimSpace(strings.SplitN(id, "@", 2)[0]))
		}
	}

	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return append(problems, fmt.Errorf("no data source files in %s (%v)", dir, err))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		var doc provisionedDatasources
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", f, err))
			continue
		}
		if len(doc.Datasources) == 0 {
			problems = append(problems, fmt.Errorf("%s: no datasources", f))
		}
		for _, ds := range doc.Datasources {
			report := func(format string, args ...any) {
				problems = append(problems, fmt.Errorf("%s: data source %q: %s", f, ds.Name, fmt.Sprintf(format, args...)))
			}
			if !slices.Contains(plugins, ds.Type) {
				report("plugin %q is not installed by GF_PLUGINS_PREINSTALL_SYNC %v", ds.Type, plugins)
			}
			if _, ok := p.Services[ds.JSONData.Host]; !ok {
				report("host %q is not a compose service", ds.JSONData.Host)
			}
			if ds.JSONData.Protocol != "native" || ds.JSONData.Port != 9000 {
				report("must use the native protocol on port 9000, has %s on %d", ds.JSONData.Protocol, ds.JSONData.Port)
			}
			if ds.JSONData.DefaultDatabase != "trilens" {
				report("defaultDatabase %q, want trilens", ds.JSONData.DefaultDatabase)
			}
			// Grafana expands $VAR and ${VAR} from its own environment.
			password := os.Expand(ds.SecureJSONData.Password, func(k string) string { return envValue(grafana, k) })
			if err := checkClickHouseUser(p, ds.JSONData.Username, password); err != nil {
				report("%v", err)
			}
		}
	}
	return problems
}

// checkClickHouseUser reports whether user is declared in a users.d file mounted into the
// clickhouse service and whether its password (read there with from_env) is password.
func checkClickHouseUser(p *types.Project, user, password string) error {
	ch, ok := p.Services["clickhouse"]
	if !ok {
		return errors.New(`no "clickhouse" service`)
	}
	var files []string
	for _, v := range ch.Volumes {
		if v.Type != types.VolumeTypeBind || !strings.HasPrefix(v.Target, "/etc/clickhouse-server/users.d/") {
			continue
		}
		files = append(files, v.Source)
		raw, err := os.ReadFile(v.Source)
		if err != nil {
			return err
		}
		var doc struct {
			Users struct {
				List []struct {
					XMLName  xml.Name
					Password struct {
						FromEnv string `xml:"from_env,attr"`
						Value   string `xml:",chardata"`
					} `xml:"password"`
				} `xml:",any"`
			} `xml:"users"`
		}
		if err := xml.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("%s: %w", v.Source, err)
		}
		for _, u := range doc.Users.List {
			if u.XMLName.Local != user {
				continue
			}
			want := u.Password.Value
			if u.Password.FromEnv != "" {
				want = envValue(ch, u.Password.FromEnv)
			}
			if want != password {
				return fmt.Errorf("password for ClickHouse user %q differs from the one %s gives it", user, v.Source)
			}
			return nil
		}
	}
	return fmt.Errorf("ClickHouse user %q is not in %v", user, files)
}

// natsProblems checks the config the nats service runs with: JetStream on, its store on a
// mounted volume, and the ports the bus URLs and the healthcheck use.
func natsProblems(p *types.Project) []error {
	nats, ok := p.Services["nats"]
	if !ok {
		return nil
	}
	config := flagValues(nats.Command)["config"]
	mount := slices.IndexFunc(nats.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == config })
	if config == "" || mount < 0 {
		return []error{fmt.Errorf("nats: --config %q is not a mounted file", config)}
	}
	opts, err := composeNATSOptions(nats, nats.Volumes[mount].Source)
	if err != nil {
		return []error{fmt.Errorf("nats: %w", err)}
	}
	var problems []error
	report := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf("nats (%s): %s", nats.Volumes[mount].Source, fmt.Sprintf(format, args...)))
	}
	if !opts.JetStream {
		report("JetStream is off")
	}
	if !slices.ContainsFunc(nats.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Target == opts.StoreDir
	}) {
		report("JetStream store_dir %q is not on a named volume", opts.StoreDir)
	}
	if nats.HealthCheck != nil && !slices.ContainsFunc(nats.HealthCheck.Test, func(arg string) bool {
		return strings.HasSuffix(arg, ":"+strconv.Itoa(opts.HTTPPort)+"/healthz")
	}) {
		report("healthcheck does not call /healthz on the monitoring port %d", opts.HTTPPort)
	}
	for _, name := range sortedCopy(p.ServiceNames()) {
		s := p.Services[name]
		bus, ok := flagValues(append(slices.Clone(s.Entrypoint), s.Command...))["bus.url"]
		if !ok {
			continue
		}
		u, err := url.Parse(bus)
		if err == nil && u.Hostname() == nats.Name && u.Port() != strconv.Itoa(opts.Port) {
			report("service %q: --bus.url port %s, NATS listens on %d", name, u.Port(), opts.Port)
		}
		if err == nil {
			problems = append(problems, natsUserProblems(opts, name, u, report)...)
		}
	}
	return problems
}

// natsUserProblems checks that the bus URL of service names a user of the NATS config
// with its password, and that only a collector may publish evidence.
func natsUserProblems(opts *natsserver.Options, service string, u *url.URL, report func(string, ...any)) []error {
	i := slices.IndexFunc(opts.Users, func(nu *natsserver.User) bool { return nu.Username == u.User.Username() })
	if i < 0 {
		report("service %q: --bus.url user %q is not a NATS user", service, u.User.Username())
		return nil
	}
	user := opts.Users[i]
	if password, _ := u.User.Password(); password != user.Password {
		report("service %q: --bus.url password is not the one NATS gives user %q", service, user.Username)
	}
	collector := strings.HasSuffix(service, "collector")
	if user.Permissions == nil || user.Permissions.Publish == nil {
		report("service %q: NATS user %q has no publish permissions", service, user.Username)
	} else if allowed := subjectAllowed(user.Permissions.Publish, "trilens.v1.acme.evidence.scan"); allowed != collector {
		report("service %q (collector %v): NATS user %q may publish evidence: %v", service, collector, user.Username, allowed)
	}
	return nil
}

// composeNATSOptions parses the config file of the nats service as nats-server does in
// its container, with the service's environment.
func composeNATSOptions(nats types.ServiceConfig, file string) (*natsserver.Options, error) {
	conf, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for k, v := range nats.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return parseNATSWithEnv(string(conf), env)
}

// envValue is the value of an environment variable of a service after interpolation.
func envValue(s types.ServiceConfig, key string) string {
	if v := s.Environment[key]; v != nil {
		return *v
	}
	return ""
}

// flagValues returns the --name=value and --name value pairs of args (one or two dashes).
func flagValues(args []string) map[string]string {
	flags := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name := strings.TrimLeft(a, "-")
		if k, v, ok := strings.Cut(name, "="); ok {
			flags[k] = v
			continue
		}
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			flags[name] = args[i+1]
			i++
		}
	}
	return flags
}

// inRepo reports whether path exists inside the repository at root.
func inRepo(root, path string) error {
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%s is outside the repository", path)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s does not exist", rel)
	}
	return nil
}

func sortedCopy[E cmp.Ordered](s []E) []E {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestComposeNATSPermissions runs a real nats-server with the config the compose nats
// service mounts (deploy/nats/nats.conf) and the environment compose gives it, and
// attacks it as a tenant's collector (checkTenantCollector).
func TestComposeNATSPermissions(t *testing.T) {
	root := repoRoot(t)
	p, err := loadCompose(t, root, filepath.Join(root, "docker-compose.yml"), "split")
	if err != nil {
		t.Fatal(err)
	}
	nats, ok := p.Services["nats"]
	if !ok {
		t.Fatal("no nats service in the split profile")
	}
	config := flagValues(nats.Command)["config"]
	mount := slices.IndexFunc(nats.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == config })
	if mount < 0 {
		t.Fatalf("--config %q is not a mounted file", config)
	}
	opts, err := composeNATSOptions(nats, nats.Volumes[mount].Source)
	if err != nil {
		t.Fatal(err)
	}
	checkTenantCollector(t, opts, func(user string) string { return envValue(nats, natsPasswordVar(user)) })
	checkServiceWrites(t, opts, func(user string) string { return envValue(nats, natsPasswordVar(user)) })
}
