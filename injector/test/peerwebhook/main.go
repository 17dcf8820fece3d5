// peer-webhook is the other webhook of the injector's tests and benchmark (never shipped):
//
//	--mode noop   admits every pod unchanged after decoding the AdmissionReview and the pod
//	              exactly as dbtoken-injector does: the benchmark's peer;
//	--mode azure  does what Azure Workload Identity's webhook does to a pod labelled
//	              azure.workload.identity/use=true: AZURE_CLIENT_ID, AZURE_TENANT_ID,
//	              AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST appended to every init and
//	              app container that lacks them (skipping azure.workload.identity/skip-containers),
//	              its projected token (audience api://AzureADTokenExchange) mounted in each and
//	              appended to the volumes. Idempotent, like the real one, so it can be reinvoked.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
)

const (
	azureLabel = "azure.workload.identity/use"
	skipAnn    = "azure.workload.identity/skip-containers"
	volName    = "azure-identity-token"
	tokenDir   = "/var/run/secrets/azure/tokens"
)

type op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

func azurePatch(pod *corev1.Pod) []op {
	if pod.Labels[azureLabel] != "true" {
		return nil
	}
	skip := map[string]bool{}
	for _, n := range strings.Split(pod.Annotations[skipAnn], ";") {
		skip[strings.TrimSpace(n)] = true
	}
	vars := []corev1.EnvVar{
		{Name: "AZURE_CLIENT_ID", Value: "9e8d7c6b-0000-4000-8000-0000000a2c1d"},
		{Name: "AZURE_TENANT_ID", Value: "0a1b2c3d-0000-4000-8000-00000000e7a1"},
		{Name: "AZURE_FEDERATED_TOKEN_FILE", Value: tokenDir + "/azure-identity-token"},
		{Name: "AZURE_AUTHORITY_HOST", Value: "https://login.microsoftonline.com/"},
	}
	var ops []op
	for _, list := range []struct {
		path string
		cs   []corev1.Container
	}{{"/spec/initContainers", pod.Spec.InitContainers}, {"/spec/containers", pod.Spec.Containers}} {
		for i, c := range list.cs {
			if skip[c.Name] {
				continue
			}
			base := fmt.Sprintf("%s/%d", list.path, i)
			have := map[string]bool{}
			for _, e := range c.Env {
				have[e.Name] = true
			}
			var add []corev1.EnvVar
			for _, v := range vars {
				if !have[v.Name] {
					add = append(add, v)
				}
			}
			ops = appendAll(ops, base+"/env", len(c.Env) > 0, add)
			mounted := false
			for _, m := range c.VolumeMounts {
				mounted = mounted || m.Name == volName
			}
			if !mounted {
				ops = appendAll(ops, base+"/volumeMounts", len(c.VolumeMounts) > 0,
					[]corev1.VolumeMount{{Name: volName, MountPath: tokenDir, ReadOnly: true}})
			}
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name == volName {
			return ops
		}
	}
	exp := int64(3600)
	vol := corev1.Volume{Name: volName, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
			Path: "azure-identity-token", Audience: "api://AzureADTokenExchange", ExpirationSeconds: &exp}}}}}}
	return appendAll(ops, "/spec/volumes", len(pod.Spec.Volumes) > 0, []corev1.Volume{vol})
}

// appendAll appends (as the real webhook does) or adds the whole list when it is absent.
func appendAll[T any](ops []op, path string, present bool, items []T) []op {
	if len(items) == 0 {
		return ops
	}
	if !present {
		return append(ops, op{"add", path, items})
	}
	for _, it := range items {
		ops = append(ops, op{"add", path + "/-", it})
	}
	return ops
}

func main() {
	mode := flag.String("mode", "noop", "noop or azure")
	listen := flag.String("listen", "127.0.0.1:0", "")
	cert := flag.String("tls-cert", "", "")
	key := flag.String("tls-key", "", "")
	flag.Parse()
	if *mode != "noop" && *mode != "azure" {
		fmt.Fprintln(os.Stderr, "peer-webhook: --mode must be noop or azure")
		os.Exit(2)
	}
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer-webhook:", err)
		os.Exit(3)
	}
	http.HandleFunc("/mutate", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<20))
		var review admissionv1.AdmissionReview
		if err == nil {
			err = json.Unmarshal(body, &review)
		}
		if err != nil || review.Request == nil {
			http.Error(w, fmt.Sprint("bad AdmissionReview: ", err), 400)
			return
		}
		var pod corev1.Pod
		if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		if *mode == "azure" {
			var inits []string
			for _, c := range pod.Spec.InitContainers {
				inits = append(inits, c.Name)
			}
			fmt.Fprintf(os.Stderr, "peer-webhook azure: pod %s init containers %v\n", pod.Name, inits)
			if ops := azurePatch(&pod); len(ops) > 0 {
				resp.Patch, _ = json.Marshal(ops)
				pt := admissionv1.PatchTypeJSONPatch
				resp.PatchType = &pt
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
	})
	srv := &http.Server{Addr: *listen, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}}
	ln, err := tls.Listen("tcp", *listen, srv.TLSConfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer-webhook:", err)
		os.Exit(6)
	}
	fmt.Fprintf(os.Stderr, "peer-webhook %s: listening on https://%s\n", *mode, ln.Addr())
	fmt.Fprintln(os.Stderr, srv.Serve(ln))
	os.Exit(1)
}
