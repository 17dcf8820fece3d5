package inject

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The guide shows a values file, a Deployment before injection and its pod after: the pod
// must be exactly what the injector makes of the Deployment's template with the chart's
// values under the guide's.
const guide = "../../docs/src/guides/kubernetes-injector.md"

var fence = regexp.MustCompile("(?ms)^```yaml,([^\\n`]*)\\n(.*?)^```\\s*$")

func guideSnippets(t *testing.T) map[string][]byte {
	t.Helper()
	text, err := os.ReadFile(guide)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, m := range fence.FindAllSubmatch(text, -1) {
		for _, tag := range regexp.MustCompile(`[ ,]+`).Split(string(m[1]), -1) {
			if tag == "injector-values" || tag == "injector-before" || tag == "injector-after" {
				if out[tag] != nil {
					t.Fatalf("%s: two snippets tagged %s", guide, tag)
				}
				out[tag] = m[2]
			}
		}
	}
	for _, tag := range []string{"injector-values", "injector-before", "injector-after"} {
		if out[tag] == nil {
			t.Fatalf("%s: no ```yaml snippet tagged %s", guide, tag)
		}
	}
	return out
}

// merge lays over on base, recursively for maps (Helm's -f).
func merge(base, over map[string]any) map[string]any {
	for k, v := range over {
		if bm, ok := base[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				base[k] = merge(bm, om)
				continue
			}
		}
		base[k] = v
	}
	return base
}

// chartConfig: the injector's config as the chart's ConfigMap renders it from values.yaml
// under the guide's values file (defaults, sidecar, namespaces).
func chartConfig(t *testing.T, guideValues []byte) *Config {
	t.Helper()
	data, err := os.ReadFile("../../charts/dbtoken-injector/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values, over map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(guideValues, &over); err != nil {
		t.Fatalf("the guide's values: %v", err)
	}
	values = merge(values, over)
	c := map[string]any{"defaults": values["defaults"], "sidecar": values["sidecar"], "namespaces": values["namespaces"]}
	raw, _ := json.Marshal(c)
	f, err := os.CreateTemp(t.TempDir(), "config-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(raw)
	f.Close()
	cfg, err := LoadConfig(f.Name()) // strict: a key the guide misspells fails here
	if err != nil {
		t.Fatalf("the guide's values file over the chart's values.yaml: %v", err)
	}
	return &cfg
}

func TestTheGuidesBeforeAndAfter(t *testing.T) {
	s := guideSnippets(t)
	cfg := chartConfig(t, s["injector-values"])
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(s["injector-before"], &d); err != nil {
		t.Fatalf("the guide's Deployment: %v", err)
	}
	before := &corev1.Pod{ObjectMeta: d.Spec.Template.ObjectMeta, Spec: d.Spec.Template.Spec}
	got, res := apply(t, before, cfg)
	if res.Mode != ModeServe {
		t.Fatalf("mode %q", res.Mode)
	}
	var want corev1.Pod
	if err := yaml.UnmarshalStrict(s["injector-after"], &want); err != nil {
		t.Fatalf("the guide's pod: %v", err)
	}
	// What the ReplicaSet and the API server give the pod, not the injector.
	got.TypeMeta, got.Name, got.Namespace = want.TypeMeta, want.Name, want.Namespace
	g, _ := yaml.Marshal(got)
	w, _ := yaml.Marshal(&want)
	if string(g) != string(w) {
		t.Errorf("%s: the pod after injection differs from what the injector makes of the Deployment.\nthe guide:\n%s\nthe injector:\n%s", guide, w, g)
	}
}
