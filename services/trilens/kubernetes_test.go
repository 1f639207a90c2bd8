package trilens_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/trilens/trilens/pkg/bus"
	"github.com/trilens/trilens/pkg/events"
	changev1 "github.com/trilens/trilens/proto/trilens/change/v1"
	eventv1 "github.com/trilens/trilens/proto/trilens/event/v1"
	scorev1 "github.com/trilens/trilens/proto/trilens/score/v1"
	"github.com/trilens/trilens/services/alerter"
	"github.com/trilens/trilens/services/scorer"
	"github.com/trilens/trilens/services/scorer/chain"
	"github.com/trilens/trilens/services/trilens"
	"github.com/trilens/trilens/services/trilens/cli"
)

// No cluster runs on our machines, so deploy/kubernetes is checked here: every overlay is
// rendered by kustomize's own library (what `kubectl kustomize` runs), every object is decoded
// strictly into its k8s.io/api type (an unknown or misspelt field is an error, as the API server
// would reject it), and the checks below hold the manifests to what the runner and the rest of
// the repository expect.

// manifests are the objects of one rendered overlay, by kind.
type manifests struct {
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	configMaps   []*corev1.ConfigMap
	pdbs         []*policyv1.PodDisruptionBudget
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	policies     []*networkingv1.NetworkPolicy
	other        int // service accounts, claims
}

// render builds the kustomization in dir and decodes every object strictly.
func render(dir string) (*manifests, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	m := &manifests{}
	var errs []error
	for _, r := range rm.Resources() {
		data, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		var obj any
		switch gvk := r.GetGvk(); gvk.ApiVersion() + "/" + gvk.Kind {
		case "apps/v1/Deployment":
			d := &appsv1.Deployment{}
			m.deployments, obj = append(m.deployments, d), d
		case "apps/v1/StatefulSet":
			s := &appsv1.StatefulSet{}
			m.statefulSets, obj = append(m.statefulSets, s), s
		case "v1/Service":
			s := &corev1.Service{}
			m.services, obj = append(m.services, s), s
		case "v1/ConfigMap":
			c := &corev1.ConfigMap{}
			m.configMaps, obj = append(m.configMaps, c), c
		case "policy/v1/PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			m.pdbs, obj = append(m.pdbs, p), p
		case "autoscaling/v2/HorizontalPodAutoscaler":
			h := &autoscalingv2.HorizontalPodAutoscaler{}
			m.hpas, obj = append(m.hpas, h), h
		case "networking.k8s.io/v1/NetworkPolicy":
			p := &networkingv1.NetworkPolicy{}
			m.policies, obj = append(m.policies, p), p
		case "v1/ServiceAccount":
			obj, m.other = &corev1.ServiceAccount{}, m.other+1
		case "v1/PersistentVolumeClaim":
			obj, m.other = &corev1.PersistentVolumeClaim{}, m.other+1
		case "v1/Secret":
			errs = append(errs, fmt.Errorf("Secret %s is in the manifests: secrets are created beside them and referenced", r.GetName()))
			continue
		default:
			errs = append(errs, fmt.Errorf("%s %s: no k8s.io/api type is checked for this kind", gvk, r.GetName()))
			continue
		}
		if err := yaml.UnmarshalStrict(data, obj); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err))
		}
	}
	return m, errors.Join(errs...)
}

// runnerFlags is every flag the trilens binary accepts.
func runnerFlags() map[string]bool {
	names := map[string]bool{}
	cli.NewRoot().Flags().VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
	return names
}

// workload is the pod template of a Deployment or StatefulSet, for the checks they share.
type workload struct {
	kind, name string
	selector   *metav1.LabelSelector
	pod        corev1.PodTemplateSpec
}

func (m *manifests) workloads() []workload {
	var out []workload
	for _, d := range m.deployments {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Selector, d.Spec.Template})
	}
	for _, s := range m.statefulSets {
		out = append(out, workload{"StatefulSet", s.Name, s.Spec.Selector, s.Spec.Template})
	}
	return out
}

var (
	versionTag = regexp.MustCompile(`^v?[0-9]+(\.[0-9]+)+([.-][\w.-]+)?$`)
	envRef     = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
)

// pinned reports whether an image reference names a digest or a version tag (never latest
// nor a bare major version).
func pinned(image string) bool {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return false
	}
	if _, ok := ref.(reference.Digested); ok {
		return true
	}
	tagged, ok := ref.(reference.Tagged)
	return ok && versionTag.MatchString(tagged.Tag())
}

// workloadProblems checks what every pod of every overlay must have.
func workloadProblems(m *manifests, flags map[string]bool) []error {
	var problems []error
	for _, w := range m.workloads() {
		report := func(format string, args ...any) {
			problems = append(problems, fmt.Errorf("%s %s: %s", w.kind, w.name, fmt.Sprintf(format, args...)))
		}
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil || !sel.Matches(labels.Set(w.pod.Labels)) {
			report("selector %v does not select its own pods %v", w.selector, w.pod.Labels)
		}
		pod := w.pod.Spec
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			report("mounts a service account token it does not need")
		}
		for _, c := range pod.Containers {
			report := func(format string, args ...any) { report("container %s: %s", c.Name, fmt.Sprintf(format, args...)) }
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				report("has no readinessProbe and livenessProbe")
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				report("needs CPU and memory requests and a memory limit")
			}
			nonRoot := pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot
			if sc := c.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
				nonRoot = *sc.RunAsNonRoot
			}
			if !nonRoot {
				report("may run as root (runAsNonRoot)")
			}
			if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				report("root filesystem must be read-only and privilege escalation off")
			}
			if !pinned(c.Image) {
				report("image %q is not pinned to a version or digest", c.Image)
			}
			defined := map[string]bool{}
			for _, e := range c.Env {
				defined[e.Name] = true
				if e.Value != "" && strings.Contains(strings.ToLower(e.Name), "password") {
					report("env %s holds a password inline; reference a Secret", e.Name)
				}
			}
			for _, arg := range append(slices.Clone(c.Command), c.Args...) {
				for _, ref := range envRef.FindAllStringSubmatch(arg, -1) {
					if !defined[ref[1]] {
						report("%q refers to $(%s), which the container does not define", arg, ref[1])
					}
				}
			}
			if strings.HasPrefix(c.Image, "trilens") || strings.Contains(c.Image, "/trilens") {
				problems = append(problems, trilensContainerProblems(w, c, flags)...)
			}
		}
	}
	return problems
}

// trilensContainerProblems checks a container of our own image against the runner.
func trilensContainerProblems(w workload, c corev1.Container, flags map[string]bool) []error {
	var problems []error
	report := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s %s: %s", w.kind, w.name, fmt.Sprintf(format, args...)))
	}
	values := flagValues(c.Args)
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if !flags[name] {
			report("trilens has no flag --%s", name)
		}
	}
	if _, err := trilens.ResolveTargets(values["target"]); err != nil {
		report("--target: %v", err)
	}
	http := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "http" && p.ContainerPort == 7070 })
	if http < 0 {
		report("does not expose the runner's HTTP port 7070 as \"http\"")
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/ready" || p.HTTPGet.Port.String() != "http" {
		report("readinessProbe must GET /ready on port http")
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "http" {
		report("livenessProbe must GET /healthz on port http")
	}
	mounted := func(path string) bool {
		return slices.ContainsFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool {
			return path == v.MountPath || strings.HasPrefix(path, v.MountPath+"/")
		})
	}
	for _, f := range []string{"policy.file", "config.file"} {
		if v, ok := values[f]; ok && !mounted(v) {
			report("--%s=%s is not on a mounted volume", f, v)
		}
	}
	for _, p := range []string{"/tmp", values["data.dir"]} {
		if p != "" && !mounted(p) {
			report("%s is not a volume, and the root filesystem is read-only", p)
		}
	}
	if w.pod.Spec.TerminationGracePeriodSeconds == nil || *w.pod.Spec.TerminationGracePeriodSeconds <= 60 {
		report("terminationGracePeriodSeconds must exceed the runner's 1m shutdown timeout")
	}
	return problems
}

// selectsWorkload reports whether sel picks the pods of some Deployment or StatefulSet.
func selectsWorkload(m *manifests, sel *metav1.LabelSelector) []string {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return nil
	}
	var names []string
	for _, w := range m.workloads() {
		if s.Matches(labels.Set(w.pod.Labels)) {
			names = append(names, w.name)
		}
	}
	return names
}

func (m *manifests) deployment(name string) *appsv1.Deployment {
	i := slices.IndexFunc(m.deployments, func(d *appsv1.Deployment) bool { return d.Name == name })
	if i < 0 {
		return nil
	}
	return m.deployments[i]
}

// productionProblems checks the production overlay: one Deployment per target with a PDB and
// an autoscaler, the consumers scaling on their own consumer's lag, and NATS R3 with the
// collectors alone allowed to publish evidence.
func productionProblems(m *manifests) []error {
	var problems []error
	report := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	durables := map[string]string{"scorer": defaultDurable(&scorer.Config{}), "alerter": defaultDurable(&alerter.Config{})}
	for _, target := range trilens.Targets() {
		if target == "all" {
			continue
		}
		d := m.deployment("trilens-" + target)
		if d == nil {
			report("target %s has no Deployment trilens-%s", target, target)
			continue
		}
		args := flagValues(d.Spec.Template.Spec.Containers[0].Args)
		if args["target"] != target {
			report("Deployment %s runs --target=%q, want %q", d.Name, args["target"], target)
		}
		if args["bus.url"] == "" {
			report("Deployment %s has no --bus.url: it would run a NATS server of its own", d.Name)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
			report("Deployment %s must run at least two replicas", d.Name)
		}
		pdb := slices.IndexFunc(m.pdbs, func(p *policyv1.PodDisruptionBudget) bool {
			return slices.Contains(selectsWorkload(m, p.Spec.Selector), d.Name)
		})
		if pdb < 0 {
			report("Deployment %s has no PodDisruptionBudget", d.Name)
		}
		hpa := slices.IndexFunc(m.hpas, func(h *autoscalingv2.HorizontalPodAutoscaler) bool { return h.Spec.ScaleTargetRef.Name == d.Name })
		if hpa < 0 {
			report("Deployment %s has no HorizontalPodAutoscaler", d.Name)
			continue
		}
		if durable, ok := durables[target]; ok {
			h := m.hpas[hpa]
			lag := slices.IndexFunc(h.Spec.Metrics, func(ms autoscalingv2.MetricSpec) bool {
				return ms.External != nil && ms.External.Metric.Name == "jetstream_consumer_num_pending" &&
					ms.External.Metric.Selector != nil && ms.External.Metric.Selector.MatchLabels["consumer_name"] == durable
			})
			if lag < 0 {
				report("HorizontalPodAutoscaler %s does not scale on the lag of consumer %q", h.Name, durable)
			}
		}
	}
	for _, p := range m.pdbs {
		if len(selectsWorkload(m, p.Spec.Selector)) == 0 {
			report("PodDisruptionBudget %s selects no Deployment or StatefulSet", p.Name)
		}
	}
	for _, h := range m.hpas {
		if ref := h.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || m.deployment(ref.Name) == nil {
			report("HorizontalPodAutoscaler %s scales %s %s, which is not a Deployment here", h.Name, ref.Kind, ref.Name)
		}
	}
	return append(problems, natsProblemsK8s(m)...)
}

// defaultDurable is the durable consumer a consumer service shares by default.
func defaultDurable[C interface {
	RegisterFlags(string, *flag.FlagSet)
}](c C) string {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	c.RegisterFlags("", fs)
	return fs.Lookup("durable").DefValue
}

// natsProblemsK8s parses the NATS cluster's config with nats-server itself and checks it
// against the StatefulSet, the trilens pods' bus URLs and the network policies.
func natsProblemsK8s(m *manifests) []error {
	var problems []error
	report := func(format string, args ...any) { problems = append(problems, fmt.Errorf("nats: "+format, args...)) }
	i := slices.IndexFunc(m.statefulSets, func(s *appsv1.StatefulSet) bool { return s.Name == "nats" })
	c := slices.IndexFunc(m.configMaps, func(c *corev1.ConfigMap) bool { return c.Name == "nats-config" })
	if i < 0 || c < 0 {
		return []error{errors.New("nats: no StatefulSet nats with ConfigMap nats-config")}
	}
	sts := m.statefulSets[i]
	// The variables the config reads; the StatefulSet must define each one.
	for _, name := range natsConfVars {
		if !slices.ContainsFunc(sts.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == name }) {
			report("the config reads $%s, which the StatefulSet does not set", name)
		}
	}
	opts, err := parseNATSConf(m.configMaps[c].Data["nats.conf"])
	if err != nil {
		return append(problems, fmt.Errorf("nats: nats.conf: %w", err))
	}
	if !opts.JetStream {
		report("JetStream is off")
	}
	if sts.Spec.Replicas == nil || len(opts.Routes) != int(*sts.Spec.Replicas) || *sts.Spec.Replicas < 3 {
		report("%d routes for %v replicas; a JetStream R3 cluster needs three nodes, each routed", len(opts.Routes), sts.Spec.Replicas)
	}
	for _, r := range opts.Routes {
		if !strings.HasSuffix(r.Hostname(), ".nats-headless") || !strings.HasPrefix(r.Hostname(), "nats-") {
			report("route %s is not a pod of the nats-headless Service", r)
		}
	}
	users := map[string]*natsserver.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	for _, d := range m.deployments {
		ctr := d.Spec.Template.Spec.Containers[0]
		values := flagValues(ctr.Args)
		raw, ok := values["bus.url"]
		if !ok {
			continue
		}
		u, err := url.Parse(strings.NewReplacer("$(", "", ")", "").Replace(raw))
		if err != nil {
			report("Deployment %s: --bus.url: %v", d.Name, err)
			continue
		}
		if u.Port() != fmt.Sprint(opts.Port) || u.Hostname() != "nats" {
			report("Deployment %s: --bus.url %s is not the nats Service on port %d", d.Name, u.Host, opts.Port)
		}
		if values["bus.replicas"] != "3" {
			report("Deployment %s: --bus.replicas=%q, want 3 on the cluster", d.Name, values["bus.replicas"])
		}
		user := users[u.User.Username()]
		collector := d.Spec.Template.Labels["trilens.dev/role"] == "collector"
		evidence := "trilens.v1.acme.evidence.scan"
		if user == nil || user.Permissions == nil || user.Permissions.Publish == nil {
			report("Deployment %s: NATS user %q has no publish permissions", d.Name, u.User.Username())
		} else if allowed := subjectAllowed(user.Permissions.Publish, evidence); allowed != collector {
			report("Deployment %s (collector %v): user %q may publish evidence: %v", d.Name, collector, user.Username, allowed)
		}
		if d.Spec.Template.Labels["trilens.dev/nats-client"] != "true" {
			report("Deployment %s uses NATS but lacks the label the nats-clients NetworkPolicy admits", d.Name)
		}
	}
	np := slices.IndexFunc(m.policies, func(p *networkingv1.NetworkPolicy) bool {
		return p.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] == "nats"
	})
	if np < 0 {
		return append(problems, errors.New("nats: no NetworkPolicy guards the NATS pods"))
	}
	for _, rule := range m.policies[np].Spec.Ingress {
		for _, port := range rule.Ports {
			if port.Port == nil || port.Port.IntValue() != opts.Port {
				continue
			}
			for _, peer := range rule.From {
				if peer.PodSelector == nil || peer.NamespaceSelector != nil || peer.PodSelector.MatchLabels["trilens.dev/nats-client"] != "true" {
					report("NetworkPolicy %s lets %+v reach the client port %d", m.policies[np].Name, peer, opts.Port)
				}
			}
			if len(rule.From) == 0 {
				report("NetworkPolicy %s lets anyone reach the client port %d", m.policies[np].Name, opts.Port)
			}
		}
	}
	return problems
}

// natsConfVars are the environment variables nats.conf reads.
var natsConfVars = []string{"POD_NAME", "NATS_COLLECTOR_PASSWORD", "NATS_CONSUMER_PASSWORD", "NATS_COLLECTOR_DEFAULT_PASSWORD"}

// natsConfPassword is the value parseNATSConf gives a password variable.
func natsConfPassword(name string) string { return "test-" + strings.ToLower(name) }

// natsPasswordVar is the variable the NATS configs read a user's password from:
// collector-default reads NATS_COLLECTOR_DEFAULT_PASSWORD.
func natsPasswordVar(user string) string {
	return "NATS_" + strings.ToUpper(strings.ReplaceAll(user, "-", "_")) + "_PASSWORD"
}

// parseNATSConf parses a NATS config as nats-server does, with its variables set.
func parseNATSConf(conf string) (*natsserver.Options, error) {
	env := map[string]string{}
	for _, name := range natsConfVars {
		env[name] = natsConfPassword(name)
	}
	return parseNATSWithEnv(conf, env)
}

// parseNATSWithEnv parses a NATS config as nats-server does, with env as the variables
// it reads from the environment.
func parseNATSWithEnv(conf string, env map[string]string) (*natsserver.Options, error) {
	dir, err := os.MkdirTemp("", "trilens-nats-conf-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	for name, value := range env {
		old, had := os.LookupEnv(name)
		os.Setenv(name, value)
		if had {
			defer os.Setenv(name, old)
		} else {
			defer os.Unsetenv(name)
		}
	}
	return natsserver.ProcessConfigFile(file)
}

// subjectAllowed applies a NATS publish permission to one subject.
func subjectAllowed(p *natsserver.SubjectPermission, subject string) bool {
	match := func(patterns []string) bool {
		return slices.ContainsFunc(patterns, func(pat string) bool { return natsserver.SubjectMatchesFilter(subject, pat) })
	}
	return (len(p.Allow) == 0 || match(p.Allow)) && !match(p.Deny)
}

// singleNodeProblems checks the one-pod install: all targets with the embedded NATS, whose
// files allow only one pod at a time.
func singleNodeProblems(m *manifests) []error {
	d := m.deployment("trilens")
	if d == nil {
		return []error{errors.New("no Deployment trilens")}
	}
	var problems []error
	if got := flagValues(d.Spec.Template.Spec.Containers[0].Args)["target"]; got != "all" {
		problems = append(problems, fmt.Errorf("Deployment trilens runs --target=%q, want all", got))
	}
	// The embedded NATS has no users: it must listen nowhere, so nothing outside the
	// process can publish evidence for a tenant.
	if listen, ok := flagValues(d.Spec.Template.Spec.Containers[0].Args)["nats.listen"]; !ok || listen != "" {
		problems = append(problems, fmt.Errorf("Deployment trilens: --nats.listen=%q, want it empty (in-process clients only)", listen))
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		problems = append(problems, errors.New("Deployment trilens keeps the embedded NATS files: one replica, Recreate"))
	}
	return problems
}

func overlayProblems(name string, m *manifests, flags map[string]bool) []error {
	problems := workloadProblems(m, flags)
	switch name {
	case "production":
		problems = append(problems, productionProblems(m)...)
	case "single-node":
		problems = append(problems, singleNodeProblems(m)...)
	}
	return problems
}

func TestImagePinned(t *testing.T) {
	for image, want := range map[string]bool{
		"nats:2.15.2-alpine":                                              true,
		"clickhouse/clickhouse-server:26.8":                               true,
		"registry.example.com:5000/trilens:1.0.0":                         true,
		"registry.example.com/trilens@sha256:" + strings.Repeat("ab", 32): true,
		"nats":        false,
		"nats:latest": false,
		"nats:2":      false,
		"trilens:dev": false,
	} {
		if got := pinned(image); got != want {
			t.Errorf("pinned(%q) = %v, want %v", image, got, want)
		}
	}
}

func TestKubernetesOverlays(t *testing.T) {
	root := repoRoot(t)
	flags := runnerFlags()
	overlays, err := filepath.Glob(filepath.Join(root, "deploy", "kubernetes", "overlays", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, dir := range overlays {
		names = append(names, filepath.Base(dir))
	}
	if !slices.Equal(names, []string{"production", "single-node"}) {
		t.Fatalf("overlays = %v; add checks for a new one here", names)
	}
	for _, dir := range overlays {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			m, err := render(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := errors.Join(overlayProblems(name, m, flags)...); err != nil {
				t.Error(err)
			}
			t.Logf("%d Deployments, %d StatefulSets, %d Services, %d ConfigMaps, %d PDBs, %d HPAs, %d NetworkPolicies, %d others",
				len(m.deployments), len(m.statefulSets), len(m.services), len(m.configMaps), len(m.pdbs), len(m.hpas), len(m.policies), m.other)
		})
	}
}

// TestKubernetesChecksReject proves each check can fail: every kustomization under
// testdata/kubernetes changes the production overlay so that it breaks one rule.
func TestKubernetesChecksReject(t *testing.T) {
	flags := runnerFlags()
	cases := map[string]string{
		"unknown-field":      `Deployment trilens-scorer: error unmarshaling JSON: while decoding JSON: json: unknown field "readinesProbe"`,
		"no-readiness":       "Deployment trilens-alerter: container trilens: has no readinessProbe",
		"writable-root":      "Deployment trilens-scorer: container trilens: root filesystem must be read-only",
		"latest-image":       `image "nats:latest" is not pinned`,
		"hpa-wrong-target":   "scales Deployment trilens-scorrer, which is not a Deployment here",
		"missing-target":     "target loadcollector has no Deployment trilens-loadcollector",
		"unknown-flag":       "trilens has no flag --bus.replica",
		"no-bus-url":         "Deployment trilens-alerter has no --bus.url",
		"scorer-publishes":   `user "collector" may publish evidence: true`,
		"inline-secret":      "is in the manifests: secrets are created beside them",
		"nats-open":          "lets anyone reach the client port 4222",
		"pdb-selects-none":   "PodDisruptionBudget trilens-sbomcollector selects no Deployment or StatefulSet",
		"lag-wrong-consumer": `does not scale on the lag of consumer "scorer"`,
	}
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		want := cases[name]
		t.Run(name, func(t *testing.T) {
			m, err := render(filepath.Join("testdata", "kubernetes", name))
			if err == nil {
				err = errors.Join(overlayProblems("production", m, flags)...)
			}
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, want)
			}
		})
	}
}

// TestKubernetesNATSPermissions runs a real server with the production overlay's users and
// permissions (cluster and listen addresses swapped for a single loopback node) and shows the
// subject-level rule at work: the collectors' user provisions the streams, stores a document
// and publishes evidence but no verdict; the consumers' user reads both, publishes a verdict
// and dead-letters an undecodable message, but cannot publish evidence; a tenant's
// collector cannot publish another tenant's evidence (checkTenantCollector).
func TestKubernetesNATSPermissions(t *testing.T) {
	m, err := render(filepath.Join(repoRoot(t), "deploy", "kubernetes", "overlays", "production"))
	if err != nil {
		t.Fatal(err)
	}
	c := slices.IndexFunc(m.configMaps, func(c *corev1.ConfigMap) bool { return c.Name == "nats-config" })
	if c < 0 {
		t.Fatal("no ConfigMap nats-config")
	}
	opts, err := parseNATSConf(m.configMaps[c].Data["nats.conf"])
	if err != nil {
		t.Fatal(err)
	}
	ns := startNATS(t, opts)
	connect := func(user, passwordVar string) *bus.Bus {
		t.Helper()
		u, _ := url.Parse(ns.ClientURL())
		u.User = url.UserPassword(user, natsConfPassword(passwordVar))
		cfg := bus.DefaultConfig()
		cfg.URL, cfg.PublishTimeout = u.String(), 2*time.Second
		b, err := bus.Connect(context.Background(), cfg, slog.New(slog.DiscardHandler), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		if err != nil {
			t.Fatalf("connect as %s: %v", user, err)
		}
		t.Cleanup(func() { _ = b.Close() })
		if err := b.Provision(context.Background()); err != nil {
			t.Fatalf("provision as %s: %v", user, err)
		}
		return b
	}
	ctx := context.Background()
	collector := connect("collector", "NATS_COLLECTOR_PASSWORD")
	consumer := connect("consumer", "NATS_CONSUMER_PASSWORD")

	ref, err := collector.PutDocument(ctx, "report.json", "application/json", strings.NewReader(`{"findings":[]}`))
	if err != nil {
		t.Fatalf("collector stores a document: %v", err)
	}
	event := func(id string) *eventv1.Event {
		env := events.NewEnvelope(events.ID("k8s", id), "acme", eventv1.Kind_KIND_CHANGE, &eventv1.Producer{Collector: "test"}, &eventv1.Subject{Service: "svc"}, time.Now())
		return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Changes{Changes: &changev1.ChangeBatch{Changes: []*changev1.Change{{Id: id}}}}}
	}
	if err := collector.Publish(ctx, event("from-collector")); err != nil {
		t.Fatalf("collector publishes evidence: %v", err)
	}
	if err := consumer.Publish(ctx, event("from-consumer")); err == nil {
		t.Fatal("the consumers' NATS user published evidence")
	}
	verdict := func(id string) *eventv1.Event {
		env := events.NewEnvelope(events.ID("k8s-verdict", id), "acme", eventv1.Kind_KIND_VERDICT, &eventv1.Producer{Collector: "scorer"}, &eventv1.Subject{Service: "svc"}, time.Now())
		return &eventv1.Event{Envelope: env, Payload: &eventv1.Event_Verdict{Verdict: &scorev1.Verdict{
			VerdictId: id, Lens: scorev1.Lens_LENS_PERFORMANCE, Kpi: "p95", Scope: "svc", Status: scorev1.Status_STATUS_FAIL, Reason: "regression"}}}
	}
	if err := consumer.Publish(ctx, verdict("from-consumer")); err != nil {
		t.Fatalf("the consumers' user (scorer) publishes a verdict: %v", err)
	}
	if err := collector.Publish(ctx, verdict("from-collector")); err == nil {
		t.Fatal("the collectors' NATS user published a verdict")
	}
	// The scorer takes its tenants' evidence chain locks in a KV bucket.
	if _, err := chain.NewLinker(ctx, nil, consumer.JetStream(), nil, 1, time.Now); err != nil {
		t.Fatalf("the consumers' user creates the chain lock bucket: %v", err)
	}
	kv, err := consumer.JetStream().KeyValue(ctx, chain.LockBucket)
	if err == nil {
		_, err = kv.Create(ctx, "t.acme", []byte("scorer-0"))
	}
	if err != nil {
		t.Fatalf("the consumers' user takes a chain lock: %v", err)
	}
	// Undecodable evidence: the consumer must be allowed to dead-letter it.
	if _, err := collector.JetStream().Publish(ctx, events.EvidenceSubject("acme", eventv1.Kind_KIND_CHANGE), []byte("not protobuf \xff")); err != nil {
		t.Fatalf("collector publishes raw evidence: %v", err)
	}

	r, err := consumer.GetDocument(ctx, ref.GetSha256())
	if err != nil {
		t.Fatalf("consumer reads the document: %v", err)
	}
	body, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(body) != `{"findings":[]}` {
		t.Fatalf("consumer read %q, %v", body, err)
	}
	ids := firstBatch(t, consumer, func() {
		deadline := time.Now().Add(30 * time.Second)
		for streamMsgCount(t, consumer, bus.StreamDeadLetter) < 1 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	})
	if want := []string{events.ID("k8s", "from-collector")}; !slices.Equal(ids, want) {
		t.Errorf("consumed %v, want %v: exactly the collector's event", ids, want)
	}
	for stream, want := range map[string]uint64{bus.StreamEvidence: 2, bus.StreamVerdicts: 1, bus.StreamDeadLetter: 1} {
		if got := streamMsgCount(t, consumer, stream); got != want {
			t.Errorf("stream %s holds %d messages, want %d", stream, got, want)
		}
	}

	// A collector of one tenant, on a fresh server with the same config.
	opts, err = parseNATSConf(m.configMaps[c].Data["nats.conf"])
	if err != nil {
		t.Fatal(err)
	}
	checkTenantCollector(t, opts, func(user string) string { return natsConfPassword(natsPasswordVar(user)) })
	checkServiceWrites(t, opts, func(user string) string { return natsConfPassword(natsPasswordVar(user)) })
}

func streamMsgCount(t *testing.T, b *bus.Bus, name string) uint64 {
	t.Helper()
	st, err := b.JetStream().Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}
