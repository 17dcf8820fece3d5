// Package server is the injector's HTTPS edge: POST /mutate (AdmissionReview
// admission.k8s.io/v1 in, a JSON Patch out), /healthz, /readyz and /metrics.
package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/dbtoken/dbtoken/injector/inject"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxReview bounds a request body: an AdmissionReview of the largest object etcd stores
// (1.5 MiB) is under 4 MiB even with oldObject; anything larger is refused unread.
const MaxReview = 8 << 20

var logger = log.New(os.Stderr, "dbtoken-injector: ", log.LstdFlags|log.LUTC)

func logf(format string, a ...any) { logger.Printf(format, a...) }

// Server answers the webhook's paths.
type Server struct {
	Config  *inject.Config
	Certs   *Certs
	Version string
	Quiet   bool // no line per admission (benchmarks)
	now     func() time.Time
	metrics *metrics
}

func New(cfg *inject.Config, certs *Certs, version string) *Server {
	return &Server{Config: cfg, Certs: certs, Version: version, now: time.Now, metrics: newMetrics()}
}

func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/mutate", s.mutate)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { text(w, 200, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if why := s.notReady(); why != "" {
			text(w, 503, "not ready: "+why)
			return
		}
		text(w, 200, "ok")
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		st := s.Certs.State()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		s.metrics.write(w, s.Version, st, s.notReadyWith(st) == "")
	})
	return mux
}

func (s *Server) notReady() string { return s.notReadyWith(s.Certs.State()) }

func (s *Server) notReadyWith(st CertState) string {
	if !s.now().Before(st.NotAfter) {
		return fmt.Sprintf("the serving certificate expired at %s", st.NotAfter.UTC().Format(time.RFC3339))
	}
	return ""
}

func text(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, body+"\n")
}

func (s *Server) mutate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		text(w, http.StatusMethodNotAllowed, "POST an AdmissionReview (admission.k8s.io/v1)")
		s.metrics.observe(resultBad, time.Since(start))
		return
	}
	review, code, err := decodeReview(w, r)
	if err != nil {
		text(w, code, err.Error())
		s.metrics.observe(resultBad, time.Since(start))
		return
	}
	resp, result := s.Review(review.Request)
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		logf("writing the answer: %v", err)
	}
	s.metrics.observe(result, time.Since(start))
}

func decodeReview(w http.ResponseWriter, r *http.Request) (*admissionv1.AdmissionReview, int, error) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && ct != "application/json; charset=utf-8" {
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %q: want application/json", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxReview))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("AdmissionReview larger than %d bytes", MaxReview)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("reading the AdmissionReview: %v", err)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("AdmissionReview: %v", err)
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
		return nil, http.StatusBadRequest, fmt.Errorf("apiVersion %q kind %q: want admission.k8s.io/v1 AdmissionReview (admissionReviewVersions: [v1])", review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return nil, http.StatusBadRequest, errors.New("AdmissionReview: request is missing")
	}
	return &review, 0, nil
}

var podKind = metav1.GroupVersionKind{Group: "", Version: "v1", Kind: "Pod"}

// Review answers one AdmissionRequest, and says how (for the metrics).
func (s *Server) Review(req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string) {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Kind != podKind || req.Operation != admissionv1.Create {
		return resp, resultUnchanged // the webhook's rules send only pod creations
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		resp.Allowed = false
		resp.Result = &metav1.Status{Code: http.StatusBadRequest, Reason: metav1.StatusReasonBadRequest,
			Message: "dbtoken-injector: the pod does not decode: " + err.Error()}
		return resp, resultBad
	}
	ns := req.Namespace
	if ns == "" {
		ns = pod.Namespace
	}
	name := pod.Name
	if name == "" {
		name = pod.GenerateName + "*"
	}
	res, err := inject.Mutate(&pod, ns, s.Config)
	if err != nil {
		resp.Allowed = false
		resp.Result = &metav1.Status{Code: http.StatusBadRequest, Reason: metav1.StatusReasonBadRequest,
			Message: "dbtoken-injector: " + err.Error()}
		if !s.Quiet {
			logf("refused pod %s/%s: %v", ns, name, err)
		}
		return resp, resultRefused
	}
	resp.Warnings = res.Warnings
	if len(res.Patch) == 0 {
		return resp, resultUnchanged
	}
	patch, err := json.Marshal(res.Patch)
	if err != nil { // cannot happen: the patch holds only k8s.io/api values
		resp.Allowed = false
		resp.Result = &metav1.Status{Code: http.StatusInternalServerError, Message: "dbtoken-injector: " + err.Error()}
		return resp, resultBad
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	if !s.Quiet {
		logf("injected %s mode into pod %s/%s (%d operations, dry run %v)", res.Mode, ns, name, len(res.Patch), req.DryRun != nil && *req.DryRun)
	}
	return resp, resultMutated
}
