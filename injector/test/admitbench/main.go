// admitbench posts the same AdmissionReview (a labelled pod with three containers, as the API
// server sends it) to webhooks over HTTPS with keep-alive, interleaving them request by
// request so both see the same machine, and prints each one's latency percentiles.
//
//	admitbench --ca CA.pem --n 1000 NAME=https://127.0.0.1:PORT/mutate ...
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func review(i int) []byte {
	pod := corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("etl-%d", i), Namespace: "data",
			Labels:      map[string]string{"dbtoken.dev/inject": "true", "app": "etl"},
			Annotations: map[string]string{"dbtoken.dev/host": "https://adb-1234567890123456.7.azuredatabricks.net", "dbtoken.dev/audience": "22222222-3333-4444-5555-666666666666", "dbtoken.dev/env-containers": "java"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "etl",
			InitContainers:     []corev1.Container{{Name: "migrate", Image: "myorg/migrate:1"}},
			Containers: []corev1.Container{
				{Name: "app", Image: "myorg/etl:1", Env: []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}},
					VolumeMounts: []corev1.VolumeMount{{Name: "kube-api-access-abcde", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}}},
				{Name: "java", Image: "myorg/etl-java:1"},
				{Name: "tool", Image: "myorg/tool:1"},
			},
			Volumes: []corev1.Volume{{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}}},
		},
	}
	raw, _ := json.Marshal(pod)
	b, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "bench", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: "data",
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	})
	return b
}

func main() {
	ca := flag.String("ca", "", "CA bundle (PEM) the webhooks' certificates chain to")
	n := flag.Int("n", 1000, "AdmissionReviews per webhook")
	warm := flag.Int("warmup", 50, "unmeasured requests per webhook first")
	flag.Parse()
	pem, err := os.ReadFile(*ca)
	if err != nil {
		fmt.Fprintln(os.Stderr, "admitbench: --ca:", err)
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	type target struct {
		name, url string
		c         *http.Client
		lat       []time.Duration
		patched   int
	}
	var ts []*target
	for _, a := range flag.Args() {
		name, url, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintln(os.Stderr, "admitbench: want NAME=URL, got", a)
			os.Exit(2)
		}
		ts = append(ts, &target{name: name, url: url, c: &http.Client{Timeout: 10 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 1}}})
	}
	body := review(0)
	for i := -*warm; i < *n; i++ {
		for _, t := range ts {
			start := time.Now()
			resp, err := t.c.Post(t.url, "application/json", bytes.NewReader(body))
			if err != nil {
				fmt.Fprintln(os.Stderr, "admitbench:", t.name, err)
				os.Exit(1)
			}
			var out admissionv1.AdmissionReview
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			d := time.Since(start)
			if err := json.Unmarshal(data, &out); err != nil || resp.StatusCode != 200 || out.Response == nil || !out.Response.Allowed {
				fmt.Fprintf(os.Stderr, "admitbench: %s: %d %s\n", t.name, resp.StatusCode, data)
				os.Exit(1)
			}
			if i >= 0 {
				t.lat = append(t.lat, d)
				if len(out.Response.Patch) > 0 {
					t.patched++
				}
			}
		}
	}
	pct := func(l []time.Duration, p float64) time.Duration { return l[int(p*float64(len(l)-1)+0.5)] }
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1e3) }
	fmt.Printf("%-10s %8s %10s %10s %10s %10s\n", "webhook", "reviews", "p50", "p99", "max", "patched")
	p50s := map[string]time.Duration{}
	p99s := map[string]time.Duration{}
	for _, t := range ts {
		sort.Slice(t.lat, func(i, j int) bool { return t.lat[i] < t.lat[j] })
		p50s[t.name], p99s[t.name] = pct(t.lat, 0.50), pct(t.lat, 0.99)
		fmt.Printf("%-10s %8d %10s %10s %10s %10d\n", t.name, len(t.lat), us(p50s[t.name]), us(p99s[t.name]), us(t.lat[len(t.lat)-1]), t.patched)
	}
	if len(ts) == 2 {
		a, b := ts[0].name, ts[1].name
		fmt.Printf("ratio %s/%s: p50 %.2fx, p99 %.2fx\n", a, b,
			float64(p50s[a])/float64(p50s[b]), float64(p99s[a])/float64(p99s[b]))
	}
}
