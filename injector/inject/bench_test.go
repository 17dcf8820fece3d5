package inject

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func benchPod(b *testing.B) []byte {
	raw, err := json.Marshal(labelled(map[string]string{AnnEnvContainers: "java"}))
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkMutate: what the webhook does per pod (decode, decide, encode the patch).
func BenchmarkMutate(b *testing.B) {
	raw, cfg := benchPod(b), testConfig()
	b.ReportAllocs()
	for b.Loop() {
		var pod corev1.Pod
		if err := json.Unmarshal(raw, &pod); err != nil {
			b.Fatal(err)
		}
		res, err := Mutate(&pod, "data", cfg)
		if err != nil || len(res.Patch) == 0 {
			b.Fatal(res, err)
		}
		if _, err := json.Marshal(res.Patch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeOnly: the peer, decoding the same pod and nothing else.
func BenchmarkDecodeOnly(b *testing.B) {
	raw := benchPod(b)
	b.ReportAllocs()
	for b.Loop() {
		var pod corev1.Pod
		if err := json.Unmarshal(raw, &pod); err != nil {
			b.Fatal(err)
		}
	}
}
