package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbtoken/dbtoken/injector/inject"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// writePair writes a self-signed certificate for 127.0.0.1 with the given common name.
func writePair(t *testing.T, dir, cn string, notAfter time.Time) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	os.MkdirAll(dir, 0o700)
	c, k := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return c, k
}

// kubeletSecretDir lays files out the way kubelet does for a Secret volume:
// tls.crt -> ..data/tls.crt, ..data -> ..2026_x (swapped atomically on update).
func kubeletSecretDir(t *testing.T, root, version, cn string, notAfter time.Time) {
	t.Helper()
	writePair(t, filepath.Join(root, version), cn, notAfter)
	tmp := filepath.Join(root, "..data_tmp")
	os.Remove(tmp)
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(root, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if _, err := os.Lstat(filepath.Join(root, f)); err != nil {
			os.Symlink(filepath.Join("..data", f), filepath.Join(root, f))
		}
	}
}

type testServer struct{ URL string }

// serve runs the handler the way main does: TLS from GetCertificate only.
func serve(t *testing.T, certs *Certs) (*testServer, *Server) {
	cfg := inject.DefaultConfig()
	cfg.Defaults.Image = "dbtoken:0.1.0"
	s := New(&cfg, certs, "test")
	s.Quiet = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s.Handler(), TLSConfig: &tls.Config{GetCertificate: certs.GetCertificate}}
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() { hs.Close() })
	return &testServer{URL: "https://" + ln.Addr().String()}, s
}

func client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}
}

func servedCN(t *testing.T, url string) string {
	t.Helper()
	resp, err := client().Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.TLS.PeerCertificates[0].Subject.CommonName
}

func TestCertificateRotationWithoutRestart(t *testing.T) {
	root := t.TempDir()
	kubeletSecretDir(t, root, "..v1", "first", time.Now().Add(time.Hour))
	certs, err := LoadCerts(filepath.Join(root, "tls.crt"), filepath.Join(root, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	certs.now = func() time.Time { return clock }
	ts, _ := serve(t, certs)
	if cn := servedCN(t, ts.URL); cn != "first" {
		t.Fatalf("served %q", cn)
	}
	kubeletSecretDir(t, root, "..v2", "second", time.Now().Add(2*time.Hour))
	if cn := servedCN(t, ts.URL); cn != "first" {
		t.Fatalf("looked again within a second: %q", cn)
	}
	clock = clock.Add(1100 * time.Millisecond)
	if cn := servedCN(t, ts.URL); cn != "second" {
		t.Fatalf("after rotation served %q", cn)
	}
	// A pair caught half-way (a key of another certificate) keeps the last good one.
	writePair(t, filepath.Join(root, "..v3"), "third", time.Now().Add(time.Hour))
	other := t.TempDir()
	writePair(t, other, "other", time.Now().Add(time.Hour))
	data, _ := os.ReadFile(filepath.Join(other, "tls.key"))
	os.WriteFile(filepath.Join(root, "..v3", "tls.key"), data, 0o600)
	tmp := filepath.Join(root, "..data_tmp")
	os.Symlink("..v3", tmp)
	os.Rename(tmp, filepath.Join(root, "..data"))
	clock = clock.Add(1100 * time.Millisecond)
	if cn := servedCN(t, ts.URL); cn != "second" {
		t.Fatalf("a mismatched pair replaced the certificate: %q", cn)
	}
	st := certs.State()
	if st.Reloads != 1 || st.Failures != 1 || st.LastError == nil || !strings.Contains(st.LastError.Error(), "tls.crt") {
		t.Fatalf("state %+v", st)
	}
	resp, _ := client().Get(ts.URL + "/metrics")
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"dbtoken_injector_certificate_reloads_total 1\n", "dbtoken_injector_certificate_reload_failures_total 1\n", "dbtoken_injector_ready 1\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func TestLoadCertsNamesTheFile(t *testing.T) {
	_, err := LoadCerts("/nonexistent/tls.crt", "/nonexistent/tls.key")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/tls.crt") {
		t.Fatal(err)
	}
}

func TestReadyzWithAnExpiredCertificate(t *testing.T) {
	dir := t.TempDir()
	c, k := writePair(t, dir, "old", time.Now().Add(-time.Minute))
	certs, err := LoadCerts(c, k)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := serve(t, certs)
	resp, err := client().Get(ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(body), "expired") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func review(t *testing.T, pod *corev1.Pod) []byte {
	raw, _ := json.Marshal(pod)
	r := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "7a1c-uid", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: "data",
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
		},
	}
	b, _ := json.Marshal(r)
	return b
}

func post(t *testing.T, url, ct string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := client().Post(url+"/mutate", ct, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestMutateEndpoint(t *testing.T) {
	dir := t.TempDir()
	c, k := writePair(t, dir, "x", time.Now().Add(time.Hour))
	certs, _ := LoadCerts(c, k)
	ts, _ := serve(t, certs)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "etl-", Labels: map[string]string{inject.Label: "true"},
			Annotations: map[string]string{inject.AnnHost: "https://x.cloud.databricks.com", inject.AnnAudience: "acc"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}}},
	}
	code, body := post(t, ts.URL, "application/json", review(t, pod))
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &out); code != 200 || err != nil {
		t.Fatalf("%d %s %v", code, body, err)
	}
	r := out.Response
	if out.APIVersion != "admission.k8s.io/v1" || r.UID != "7a1c-uid" || !r.Allowed || *r.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("%s", body)
	}
	var ops []inject.Op
	if err := json.Unmarshal(r.Patch, &ops); err != nil || len(ops) < 4 {
		t.Fatalf("patch %s %v", r.Patch, err)
	}

	pod.Annotations[inject.AnnMode] = "sidecar"
	_, body = post(t, ts.URL, "application/json", review(t, pod))
	out = admissionv1.AdmissionReview{}
	json.Unmarshal(body, &out)
	if out.Response.Allowed || out.Response.Result.Code != 400 || !strings.Contains(out.Response.Result.Message, "dbtoken.dev/mode") {
		t.Fatalf("refusal %s", body)
	}

	delete(pod.Labels, inject.Label)
	_, body = post(t, ts.URL, "application/json", review(t, pod))
	out = admissionv1.AdmissionReview{}
	json.Unmarshal(body, &out)
	if !out.Response.Allowed || out.Response.Patch != nil {
		t.Fatalf("unlabelled %s", body)
	}

	for _, c := range []struct {
		ct   string
		body []byte
		code int
		says string
	}{
		{"text/plain", []byte("{}"), 415, "application/json"},
		{"application/json", []byte("{"), 400, "AdmissionReview"},
		{"application/json", []byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}`), 400, "admissionReviewVersions"},
		{"application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), 400, "request is missing"},
		{"application/json", bytes.Repeat([]byte(" "), MaxReview+1), 413, "larger than"},
	} {
		code, body := post(t, ts.URL, c.ct, c.body)
		if code != c.code || !strings.Contains(string(body), c.says) {
			t.Errorf("%s %.20q: %d %s", c.ct, c.body, code, body)
		}
	}
	resp, _ := client().Get(ts.URL + "/mutate")
	if resp.StatusCode != 405 {
		t.Errorf("GET /mutate: %d", resp.StatusCode)
	}
	resp, _ = client().Get(ts.URL + "/metrics")
	m, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`dbtoken_injector_admissions_total{result="mutated"} 1`, `dbtoken_injector_admissions_total{result="refused"} 1`,
		`dbtoken_injector_admissions_total{result="unchanged"} 1`, `dbtoken_injector_admissions_total{result="bad_request"} 6`,
		`dbtoken_injector_admission_duration_seconds_count 9`, `le="+Inf"} 9`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}
