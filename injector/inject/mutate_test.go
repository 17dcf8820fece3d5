package inject

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const (
	host     = "https://adb-1234567890123456.7.azuredatabricks.net"
	clientID = "11111111-2222-3333-4444-555555555555"
	account  = "22222222-3333-4444-5555-666666666666"
)

func testConfig() *Config {
	c := DefaultConfig()
	c.Defaults.Image = "dbtoken:0.1.0"
	return &c
}

func labelled(ann map[string]string) *corev1.Pod {
	a := map[string]string{AnnHost: host, AnnClientID: clientID, AnnAudience: account}
	for k, v := range ann {
		if v == "" {
			delete(a, k)
		} else {
			a[k] = v
		}
	}
	uid := int64(65532)
	return &corev1.Pod{
		ObjectMeta: metaWith(map[string]string{Label: "true", "app": "etl"}, a),
		Spec: corev1.PodSpec{
			ServiceAccountName: "etl",
			SecurityContext:    &corev1.PodSecurityContext{RunAsUser: &uid},
			InitContainers:     []corev1.Container{{Name: "migrate", Image: "myorg/migrate"}},
			Containers: []corev1.Container{
				{Name: "app", Image: "myorg/etl", Env: []corev1.EnvVar{{Name: "LOG", Value: "1"}}},
				{Name: "java", Image: "myorg/java"},
			},
		},
	}
}

// apply runs Mutate and applies its patch the way the API server does (the same JSON Patch
// library kube-apiserver uses for webhook patches).
func apply(t *testing.T, pod *corev1.Pod, cfg *Config) (*corev1.Pod, Result) {
	t.Helper()
	res, err := Mutate(pod, "data", cfg)
	if err != nil {
		t.Fatalf("Mutate: %v", err)
	}
	return patched(t, pod, res.Patch), res
}

func patched(t *testing.T, pod *corev1.Pod, ops []Op) *corev1.Pod {
	t.Helper()
	raw, _ := json.Marshal(pod)
	if len(ops) == 0 {
		return pod.DeepCopy()
	}
	pj, _ := json.Marshal(ops)
	p, err := jsonpatch.DecodePatch(pj)
	if err != nil {
		t.Fatalf("patch does not decode: %v\n%s", err, pj)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("patch does not apply: %v\n%s", err, pj)
	}
	var got corev1.Pod
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

func container(t *testing.T, cs []corev1.Container, name string) corev1.Container {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

func envMap(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

// The example manifest's pod template: what the injector must reproduce.
func exampleSpec(t *testing.T, file string) corev1.PodSpec {
	t.Helper()
	data, err := os.ReadFile("../../examples/k8s/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return d.Spec.Template.Spec
}

func TestServeModeMatchesTheExampleManifest(t *testing.T) {
	got, res := apply(t, labelled(nil), testConfig())
	if res.Mode != ModeServe || got.Annotations[AnnInjected] != ModeServe {
		t.Fatalf("mode %q, annotation %q", res.Mode, got.Annotations[AnnInjected])
	}
	want := exampleSpec(t, "sidecar-serve.yaml")
	ws, gs := want.InitContainers[0], got.Spec.InitContainers[0]
	if gs.Name != SidecarName || got.Spec.InitContainers[1].Name != "migrate" {
		t.Fatalf("the sidecar must come first: %v", []string{gs.Name, got.Spec.InitContainers[1].Name})
	}
	if !reflect.DeepEqual(gs.Args, ws.Args) {
		t.Errorf("args %q, the example has %q", gs.Args, ws.Args)
	}
	if *gs.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Error("not a native sidecar")
	}
	for _, p := range []struct {
		name      string
		got, want *corev1.Probe
	}{{"startup", gs.StartupProbe, ws.StartupProbe}, {"readiness", gs.ReadinessProbe, ws.ReadinessProbe}, {"liveness", gs.LivenessProbe, ws.LivenessProbe}} {
		g, w := p.got, p.want
		if g.HTTPGet.Path != w.HTTPGet.Path || g.HTTPGet.Port != w.HTTPGet.Port || g.PeriodSeconds != w.PeriodSeconds ||
			(w.FailureThreshold != 0 && g.FailureThreshold != w.FailureThreshold) {
			t.Errorf("%s probe %+v, the example has %+v", p.name, g, w)
		}
	}
	// The example's sidecar variables, with the example's values; the mount where they point.
	if !reflect.DeepEqual(envMap(gs), envMap(ws)) {
		t.Errorf("sidecar env %v, the example has %v", envMap(gs), envMap(ws))
	}
	if gs.VolumeMounts[0].MountPath != ws.VolumeMounts[0].MountPath || !gs.VolumeMounts[0].ReadOnly {
		t.Errorf("token mount %+v", gs.VolumeMounts)
	}
	if !reflect.DeepEqual(gs.Resources, ws.Resources) {
		t.Errorf("resources %v, the example has %v", gs.Resources, ws.Resources)
	}
	sc := gs.SecurityContext
	if !*sc.RunAsNonRoot || *sc.RunAsUser != 65532 || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
		!reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.Capabilities.Add != nil {
		t.Errorf("security context %+v", sc)
	}
	// The projected volume: the account id, one hour.
	v := got.Spec.Volumes[0]
	sat := v.Projected.Sources[0].ServiceAccountToken
	wsat := want.Volumes[0].Projected.Sources[0].ServiceAccountToken
	if v.Name != TokenVolume || sat.Audience != wsat.Audience || *sat.ExpirationSeconds != 3600 || sat.Path != wsat.Path {
		t.Errorf("volume %+v %+v", v, sat)
	}
	// Every app container and the init container after the sidecar: the example app's variables.
	wantApp := envMap(container(t, want.Containers, "app"))
	for _, c := range append(got.Spec.InitContainers[1:], got.Spec.Containers...) {
		e := envMap(c)
		for k, v := range wantApp {
			if e[k] != v {
				t.Errorf("%s: %s=%q, want %q", c.Name, k, e[k], v)
			}
		}
		if _, ok := e["DATABRICKS_OIDC_TOKEN_FILEPATH"]; ok {
			t.Errorf("%s: two auth methods", c.Name)
		}
	}
	app := container(t, got.Spec.Containers, "app")
	if app.Env[len(app.Env)-1].Name != "LOG" || app.Env[0].Name != "DATABRICKS_HOST" {
		t.Errorf("the injected variables go first, the user's stay: %v", app.Env)
	}
}

func TestWriteModeMatchesTheExampleManifests(t *testing.T) {
	got, _ := apply(t, labelled(map[string]string{AnnMode: "write"}), testConfig())
	want := exampleSpec(t, "sidecar-write.yaml")
	init, side := got.Spec.InitContainers[0], got.Spec.InitContainers[1]
	if init.Name != InitName || init.RestartPolicy != nil || side.Name != SidecarName || *side.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatalf("write: %s, %s", init.Name, side.Name)
	}
	if !reflect.DeepEqual(side.Args, want.InitContainers[0].Args) {
		t.Errorf("args %q, the example has %q", side.Args, want.InitContainers[0].Args)
	}
	if !reflect.DeepEqual(init.Args, []string{"write", "--out", OutFile}) {
		t.Errorf("init args %q", init.Args)
	}
	var vol *corev1.Volume
	for i := range got.Spec.Volumes {
		if got.Spec.Volumes[i].Name == OutVolume {
			vol = &got.Spec.Volumes[i]
		}
	}
	if vol == nil || vol.EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Fatalf("no in-memory volume: %+v", got.Spec.Volumes)
	}
	app := container(t, got.Spec.Containers, "app")
	if app.VolumeMounts[0].MountPath != OutDir || !app.VolumeMounts[0].ReadOnly {
		t.Errorf("app mounts %+v", app.VolumeMounts)
	}
	if _, ok := envMap(app)["DATABRICKS_AUTH_TYPE"]; ok {
		t.Error("write mode sets no auth type in the app")
	}
}

func TestEnvModeAndEnvContainers(t *testing.T) {
	got, _ := apply(t, labelled(map[string]string{AnnMode: "env"}), testConfig())
	if len(got.Spec.InitContainers) != 1 {
		t.Fatalf("env mode adds no container: %d init containers", len(got.Spec.InitContainers))
	}
	fileOIDC := map[string]string{"DATABRICKS_HOST": host, "DATABRICKS_CLIENT_ID": clientID, "DATABRICKS_OIDC_TOKEN_FILEPATH": TokenFile}
	for _, c := range append(got.Spec.InitContainers, got.Spec.Containers...) {
		e := envMap(c)
		for k, v := range fileOIDC {
			if e[k] != v {
				t.Errorf("%s: %s=%q", c.Name, k, e[k])
			}
		}
		if c.VolumeMounts[0].Name != TokenVolume {
			t.Errorf("%s: no token mount", c.Name)
		}
	}

	got, _ = apply(t, labelled(map[string]string{AnnEnvContainers: "java", AnnSkipContainers: " migrate "}), testConfig())
	java := envMap(container(t, got.Spec.Containers, "java"))
	if java["DATABRICKS_OIDC_TOKEN_FILEPATH"] != TokenFile || java["DATABRICKS_AUTH_TYPE"] != "" {
		t.Errorf("java gets file-oidc only: %v", java)
	}
	if app := envMap(container(t, got.Spec.Containers, "app")); app["DATABRICKS_AUTH_TYPE"] != "metadata-service" {
		t.Errorf("app: %v", app)
	}
	if m := container(t, got.Spec.InitContainers, "migrate"); m.Env != nil || m.VolumeMounts != nil {
		t.Errorf("skipped container changed: %+v", m)
	}
}

func TestTheUsersVariablesWin(t *testing.T) {
	pod := labelled(nil)
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "DATABRICKS_HOST", Value: "https://mine.example"}, {Name: "DATABRICKS_AUTH_TYPE", ValueFrom: &corev1.EnvVarSource{}}}
	got, _ := apply(t, pod, testConfig())
	app := container(t, got.Spec.Containers, "app")
	if len(app.Env) != 3 || envMap(app)["DATABRICKS_HOST"] != "https://mine.example" {
		t.Errorf("env %+v", app.Env)
	}
}

func TestUnlabelledAndInjectedPodsAreUntouched(t *testing.T) {
	for _, v := range []string{"", "false", "True", "yes"} {
		pod := labelled(nil)
		pod.Labels[Label] = v
		res, err := Mutate(pod, "data", testConfig())
		if err != nil || len(res.Patch) != 0 {
			t.Errorf("label %q: %v %v", v, res.Patch, err)
		}
	}
	once, _ := apply(t, labelled(nil), testConfig())
	res, err := Mutate(once, "data", testConfig())
	if err != nil || len(res.Patch) != 0 || res.Skipped == "" {
		t.Errorf("second injection: %v %v", res, err)
	}
	hand := labelled(nil)
	hand.Spec.InitContainers = append(hand.Spec.InitContainers, corev1.Container{Name: "dbtoken"})
	res, err = Mutate(hand, "data", testConfig())
	if err != nil || len(res.Patch) != 0 || len(res.Warnings) != 1 {
		t.Errorf("hand-written sidecar: %v %v", res, err)
	}
}

func TestBadAnnotationsAreRefusedByName(t *testing.T) {
	cfg := testConfig()
	for _, c := range []struct {
		ann  map[string]string
		name string
		says string
	}{
		{map[string]string{AnnMode: "sidecar"}, AnnMode, "not one of serve, write, env"},
		{map[string]string{AnnHost: "http://adb-1.azuredatabricks.net"}, AnnHost, "https://"},
		{map[string]string{AnnHost: "https://adb-1.azuredatabricks.net/path"}, AnnHost, "no path"},
		{map[string]string{AnnHost: ""}, AnnHost, "required"},
		{map[string]string{AnnAudience: ""}, AnnAudience, "account id"},
		{map[string]string{AnnAudience: "a b"}, AnnAudience, "no spaces"},
		{map[string]string{AnnClientID: "x y"}, AnnClientID, "application id"},
		{map[string]string{AnnMode: " "}, AnnMode, "empty"},
		{map[string]string{AnnImage: "dbtoken:1 x"}, AnnImage, "image"},
		{map[string]string{"dbtoken.dev/hots": "x"}, "dbtoken.dev/hots", "unknown annotation; known: dbtoken.dev/audience"},
		{map[string]string{"dbtoken.dev/client-secret": "s3cr3t-value"}, "dbtoken.dev/client-secret", "secrets do not belong"},
		{map[string]string{"dbtoken.dev/token": "dapi-s3cr3t-value"}, "dbtoken.dev/token", "secrets do not belong"},
		{map[string]string{AnnEnvContainers: "app,nope"}, AnnEnvContainers, `no container named "nope"`},
		{map[string]string{AnnEnvContainers: "app", AnnSkipContainers: "app"}, AnnEnvContainers, "also in"},
	} {
		_, err := Mutate(labelled(c.ann), "data", cfg)
		var r *Refusal
		if !errors.As(err, &r) || r.Field != c.name || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%v: got %v, want a refusal naming %s saying %q", c.ann, err, c.name, c.says)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("the refusal shows the secret: %v", err)
		}
	}
	noImage := DefaultConfig()
	if _, err := Mutate(labelled(nil), "data", &noImage); err == nil || !strings.HasPrefix(err.Error(), AnnImage) {
		t.Errorf("no image: %v", err)
	}
	if _, err := Mutate(labelled(map[string]string{AnnMode: "env"}), "data", &noImage); err != nil {
		t.Errorf("env mode needs no image: %v", err)
	}
}

func TestNamespaceDefaults(t *testing.T) {
	cfg := testConfig()
	cfg.Defaults.Host, cfg.Defaults.Audience = host, account
	cfg.Namespaces = map[string]Settings{"data": {Mode: "env", ClientID: "ns-client"}}
	pod := labelled(map[string]string{AnnHost: "", AnnAudience: "", AnnClientID: ""})
	got, res := apply(t, pod, cfg)
	if res.Mode != ModeEnv || envMap(got.Spec.Containers[0])["DATABRICKS_CLIENT_ID"] != "ns-client" {
		t.Errorf("namespace defaults not used: %s %v", res.Mode, got.Spec.Containers[0].Env)
	}
	res, _ = Mutate(pod, "other", cfg)
	if res.Mode != ModeServe {
		t.Errorf("other namespace: %s", res.Mode)
	}
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := dir + "/c.yaml"
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	c, err := LoadConfig(write("defaults: {host: \"https://x.cloud.databricks.com\", audience: acc, image: \"dbtoken:0.1.0\"}\nsidecar: {healthPort: 9000}\n"))
	if err != nil || c.Sidecar.HealthPort != 9000 || c.Sidecar.ListenPort != 8321 || c.Defaults.Mode != ModeServe {
		t.Fatalf("%+v %v", c, err)
	}
	for body, says := range map[string]string{
		"defaults: {hots: x}":                      `unknown field "hots"`,
		"defaults: {mode: sidecar}":                "defaults.mode",
		"namespaces: {data: {host: \"http://x\"}}": "namespaces.data.host",
		"sidecar: {healthPort: 8321}":              "sidecar.healthPort",
		"sidecar: {expirationSeconds: 100}":        "sidecar.expirationSeconds",
		"sidecar: {runAsUser: 0}":                  "sidecar.runAsUser",
	} {
		if _, err := LoadConfig(write(body)); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %v, want %q", body, err, says)
		}
	}
}

// azureLike is what Azure Workload Identity's webhook does to a labelled pod: AZURE_* in
// every container lacking them, its projected token appended. Idempotent, like the real one.
func azureLike(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	p := pod.DeepCopy()
	if p.Labels[AzureLabel] != "true" {
		return p
	}
	fix := func(cs []corev1.Container) {
		for i := range cs {
			if _, ok := envMap(cs[i])["AZURE_CLIENT_ID"]; ok {
				continue
			}
			cs[i].Env = append(cs[i].Env, corev1.EnvVar{Name: "AZURE_CLIENT_ID", Value: "c"}, corev1.EnvVar{Name: "AZURE_FEDERATED_TOKEN_FILE", Value: "/var/run/secrets/azure/tokens/azure-identity-token"})
			cs[i].VolumeMounts = append(cs[i].VolumeMounts, corev1.VolumeMount{Name: "azure-identity-token", MountPath: "/var/run/secrets/azure/tokens", ReadOnly: true})
		}
	}
	fix(p.Spec.InitContainers)
	fix(p.Spec.Containers)
	for _, v := range p.Spec.Volumes {
		if v.Name == "azure-identity-token" {
			return p
		}
	}
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "azure-identity-token"})
	return p
}

func TestEitherOrderWithAzureWorkloadIdentity(t *testing.T) {
	cfg := testConfig()
	pod := labelled(map[string]string{AnnAudience: ""})
	pod.Labels[AzureLabel] = "true"
	ours := func(p *corev1.Pod) *corev1.Pod { q, _ := apply(t, p, cfg); return q }
	// kube-apiserver with reinvocationPolicy IfNeeded on both: A, B, then A again if B changed it.
	first := azureLike(t, ours(azureLike(t, ours(pod))))
	second := ours(azureLike(t, ours(azureLike(t, pod))))
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(second)
	if string(a) != string(b) {
		t.Fatalf("the order matters:\n%s\n%s", a, b)
	}
	side := container(t, first.Spec.InitContainers, SidecarName)
	e := envMap(side)
	if e["AZURE_CLIENT_ID"] == "" || e["DATABRICKS_OIDC_TOKEN_FILEPATH"] != "" || e["DATABRICKS_HOST"] != host {
		t.Errorf("sidecar in an Azure pod: %v", e)
	}
	for _, v := range first.Spec.Volumes {
		if v.Name == TokenVolume {
			t.Error("no projected token of dbtoken's own in an Azure pod")
		}
	}
	if _, err := Mutate(labelled(map[string]string{AnnEnvContainers: "java"}), "data", cfg); err != nil {
		t.Fatal(err)
	}
	pod.Annotations[AnnEnvContainers] = "java"
	if _, err := Mutate(pod, "data", cfg); err == nil || !strings.HasPrefix(err.Error(), AnnEnvContainers) {
		t.Errorf("env-containers with Azure: %v", err)
	}
}

func TestPatchOnPodWithoutListsOrAnnotations(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metaWith(map[string]string{Label: "true"}, nil),
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "x"}}}}
	cfg := testConfig()
	cfg.Defaults.Host, cfg.Defaults.Audience = host, account
	got, _ := apply(t, pod, cfg)
	if len(got.Spec.InitContainers) != 1 || len(got.Spec.Volumes) != 1 || got.Annotations[AnnInjected] != "serve" || len(got.Spec.Containers[0].Env) != 3 {
		t.Errorf("%+v", got)
	}
	if *got.Spec.InitContainers[0].SecurityContext.RunAsUser != DefaultUID {
		t.Error("default uid")
	}
}

func TestPointerEscaping(t *testing.T) {
	if pointer("dbtoken.dev/injected") != "dbtoken.dev~1injected" || pointer("a~b") != "a~0b" {
		t.Error(pointer("dbtoken.dev/injected"))
	}
	for i, s := range map[int]string{0: "0", 7: "7", 10: "10", 123: "123"} {
		if itoa(i) != s {
			t.Error(i)
		}
	}
}
