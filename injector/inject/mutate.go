package inject

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The label that opts a pod in, and the annotations that tune it.
const (
	Label             = "dbtoken.dev/inject"
	prefix            = "dbtoken.dev/"
	AnnHost           = prefix + "host"
	AnnClientID       = prefix + "client-id"
	AnnAudience       = prefix + "audience"
	AnnMode           = prefix + "mode"
	AnnImage          = prefix + "image"
	AnnEnvContainers  = prefix + "env-containers"
	AnnSkipContainers = prefix + "skip-containers"
	// AnnInjected is written by the injector (the mode): a pod carrying it is never mutated again.
	AnnInjected = prefix + "injected"

	// AzureLabel is Azure Workload Identity's opt-in label. Such a pod gets its identity
	// (AZURE_* variables and token) from that webhook; dbtoken then uses it instead of a
	// projected token of its own.
	AzureLabel = "azure.workload.identity/use"
)

// Names of what the injector adds (prefixed, so they do not collide with the user's).
const (
	SidecarName = "dbtoken"
	InitName    = "dbtoken-init"
	TokenVolume = "dbtoken-federated-token"
	TokenDir    = "/var/run/secrets/databricks"
	TokenFile   = TokenDir + "/token"
	OutVolume   = "dbtoken-token"
	OutDir      = "/var/run/databricks"
	OutFile     = OutDir + "/token"
	healthPort  = "dbtoken-health"
)

// Refusal is a pod the injector will not admit: the annotation (or field) at fault and why.
type Refusal struct {
	Field string
	Why   string
}

func (r *Refusal) Error() string { return r.Field + ": " + r.Why }

func refuse(field, format string, a ...any) error {
	return &Refusal{Field: field, Why: fmt.Sprintf(format, a...)}
}

// Result is what the webhook answers for an admitted pod.
type Result struct {
	Patch    []Op     // empty: admitted unchanged
	Mode     string   // the mode injected ("" when unchanged)
	Skipped  string   // why nothing was injected, when so
	Warnings []string // shown by kubectl to whoever created the pod
}

// Mutate decides what the pod gets. namespace is the request's (a pod a controller creates
// has none of its own yet). It never changes pod.
func Mutate(pod *corev1.Pod, namespace string, cfg *Config) (Result, error) {
	if pod.Labels[Label] != "true" {
		return Result{Skipped: "not labelled " + Label + "=true"}, nil
	}
	if m := pod.Annotations[AnnInjected]; m != "" {
		return Result{Skipped: "already injected (" + AnnInjected + "=" + m + ")"}, nil
	}
	for _, c := range allContainers(&pod.Spec) {
		if c.Name == SidecarName || c.Name == InitName {
			return Result{
				Skipped:  "has a container named " + c.Name,
				Warnings: []string{"dbtoken-injector: the pod already has a container named " + c.Name + " (a hand-written sidecar?): nothing injected"},
			}, nil
		}
	}
	if err := checkAnnotations(pod.Annotations); err != nil {
		return Result{}, err
	}
	s, err := resolve(pod.Annotations, cfg.settingsFor(namespace))
	if err != nil {
		return Result{}, err
	}
	azure := pod.Labels[AzureLabel] == "true"
	if s.Host == "" {
		return Result{}, refuse(AnnHost, "is required (the workspace or account URL): set the annotation, or defaults.host in the injector's values")
	}
	if !azure && s.Audience == "" {
		return Result{}, refuse(AnnAudience, "is required (the Databricks account id, the federation policy's default audience): set the annotation, or defaults.audience in the injector's values")
	}
	if s.Mode != ModeEnv && s.Image == "" {
		return Result{}, refuse(AnnImage, "is required for mode %s (the dbtoken image): set the annotation, or image in the injector's values", s.Mode)
	}
	if azure && s.Mode == ModeEnv {
		return Result{}, refuse(AnnMode, "env gives containers a projected token file, but the pod is labelled %s=true: Azure Workload Identity's webhook already gives every container its AZURE_* variables; use serve or write", AzureLabel)
	}
	envC, err := containerList(pod, AnnEnvContainers)
	if err != nil {
		return Result{}, err
	}
	skipC, err := containerList(pod, AnnSkipContainers)
	if err != nil {
		return Result{}, err
	}
	if azure && len(envC) > 0 {
		return Result{}, refuse(AnnEnvContainers, "file-oidc variables need dbtoken's projected token, but the pod is labelled %s=true (its containers authenticate through Azure Workload Identity's variables)", AzureLabel)
	}
	for n := range envC {
		if skipC[n] {
			return Result{}, refuse(AnnEnvContainers, "container %q is also in %s", n, AnnSkipContainers)
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name == TokenVolume || v.Name == OutVolume {
			return Result{}, refuse("spec.volumes", "the pod already has a volume named %q, which the injector adds", v.Name)
		}
	}

	p := plan{cfg: cfg, s: s, azure: azure, pod: pod}
	ops, err := p.ops(envC, skipC)
	if err != nil {
		return Result{}, err
	}
	return Result{Patch: ops, Mode: s.Mode}, nil
}

var known = map[string]bool{
	AnnHost: true, AnnClientID: true, AnnAudience: true, AnnMode: true, AnnImage: true,
	AnnEnvContainers: true, AnnSkipContainers: true, AnnInjected: true,
}

// checkAnnotations refuses unknown dbtoken.dev/ annotations (a typo would otherwise be
// ignored silently) and, louder, anything that looks like a secret: annotations are readable
// by anyone who can read the pod, and the exchange needs no secret.
func checkAnnotations(a map[string]string) error {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) || known[k] {
			continue
		}
		low := strings.ToLower(k)
		for _, w := range []string{"secret", "token", "password", "pat", "key"} {
			if strings.Contains(strings.TrimPrefix(low, prefix), w) {
				return refuse(k, "secrets do not belong in annotations (anyone who can read the pod reads them); dbtoken exchanges the pod's projected service-account token and needs no secret — remove the annotation (its value is not shown here)")
			}
		}
		return refuse(k, "unknown annotation; known: %s", strings.Join(knownList(), ", "))
	}
	return nil
}

func knownList() []string {
	l := make([]string, 0, len(known))
	for k := range known {
		if k != AnnInjected {
			l = append(l, k)
		}
	}
	sort.Strings(l)
	return l
}

func resolve(a map[string]string, s Settings) (Settings, error) {
	for _, f := range []struct {
		ann   string
		dst   *string
		check func(string) error
	}{
		{AnnHost, &s.Host, checkHost},
		{AnnClientID, &s.ClientID, checkID},
		{AnnAudience, &s.Audience, checkAudience},
		{AnnMode, &s.Mode, checkMode},
		{AnnImage, &s.Image, checkImage},
	} {
		v, ok := a[f.ann]
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" {
			return s, refuse(f.ann, "is empty (remove it to use the default)")
		}
		if err := f.check(v); err != nil {
			return s, refuse(f.ann, "%v", err)
		}
		*f.dst = v
	}
	s.Host = strings.TrimSuffix(s.Host, "/")
	if s.Mode == "" {
		s.Mode = ModeServe
	}
	return s, nil
}

// containerList parses a comma-separated list of the pod's container names.
func containerList(pod *corev1.Pod, ann string) (map[string]bool, error) {
	v, ok := pod.Annotations[ann]
	set := map[string]bool{}
	if !ok {
		return set, nil
	}
	names := map[string]bool{}
	for _, c := range allContainers(&pod.Spec) {
		names[c.Name] = true
	}
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !names[n] {
			return nil, refuse(ann, "the pod has no container named %q", n)
		}
		set[n] = true
	}
	return set, nil
}

func allContainers(spec *corev1.PodSpec) []corev1.Container {
	return append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
}

type plan struct {
	cfg   *Config
	s     Settings
	azure bool
	pod   *corev1.Pod
}

func env(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

// fileOIDC: the variables of token federation from the projected token file (the SDKs'
// file-oidc; what the env mode and env-containers get, and what the sidecar itself reads).
func (p *plan) fileOIDC() []corev1.EnvVar {
	e := []corev1.EnvVar{env("DATABRICKS_HOST", p.s.Host)}
	if p.s.ClientID != "" {
		e = append(e, env("DATABRICKS_CLIENT_ID", p.s.ClientID))
	}
	return append(e, env("DATABRICKS_OIDC_TOKEN_FILEPATH", TokenFile))
}

func (p *plan) metadataURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(int(p.cfg.Sidecar.ListenPort)) + "/token"
}

var tokenMount = corev1.VolumeMount{Name: TokenVolume, MountPath: TokenDir, ReadOnly: true}

// ops builds the patch: app and init containers first (their indexes are the request's),
// then the added init containers at the front, the volumes, and the marker annotation.
func (p *plan) ops(envC, skipC map[string]bool) ([]Op, error) {
	var ops []Op
	for _, list := range []struct {
		path string
		cs   []corev1.Container
	}{{"/spec/initContainers", p.pod.Spec.InitContainers}, {"/spec/containers", p.pod.Spec.Containers}} {
		for i, c := range list.cs {
			if skipC[c.Name] {
				continue
			}
			var vars []corev1.EnvVar
			var mounts []corev1.VolumeMount
			switch {
			case envC[c.Name] || p.s.Mode == ModeEnv:
				vars, mounts = p.fileOIDC(), []corev1.VolumeMount{tokenMount}
			case p.s.Mode == ModeServe:
				vars = []corev1.EnvVar{
					env("DATABRICKS_HOST", p.s.Host),
					env("DATABRICKS_AUTH_TYPE", "metadata-service"),
					env("DATABRICKS_METADATA_SERVICE_URL", p.metadataURL()),
				}
			case p.s.Mode == ModeWrite:
				vars = []corev1.EnvVar{env("DATABRICKS_HOST", p.s.Host)}
				mounts = []corev1.VolumeMount{{Name: OutVolume, MountPath: OutDir, ReadOnly: true}}
			}
			vars = missingEnv(c, vars) // the user's own variables win
			for _, m := range mounts {
				for _, have := range c.VolumeMounts {
					if have.MountPath == m.MountPath {
						return nil, refuse(AnnSkipContainers, "container %q already mounts %q at %s, where the injector mounts %s; list the container here, or move that mount", c.Name, have.Name, m.MountPath, m.Name)
					}
				}
			}
			base := list.path + "/" + itoa(i)
			ops = prepend(ops, base+"/env", len(c.Env) > 0, vars)
			ops = prepend(ops, base+"/volumeMounts", len(c.VolumeMounts) > 0, mounts)
		}
	}
	ops = prepend(ops, "/spec/initContainers", len(p.pod.Spec.InitContainers) > 0, p.sidecars())
	ops = prepend(ops, "/spec/volumes", len(p.pod.Spec.Volumes) > 0, p.volumes())
	if len(p.pod.Annotations) == 0 { // absent, or {}: "add" sets the member either way
		ops = append(ops, Op{Op: "add", Path: "/metadata/annotations", Value: map[string]string{AnnInjected: p.s.Mode}})
	} else {
		ops = append(ops, Op{Op: "add", Path: "/metadata/annotations/" + pointer(AnnInjected), Value: p.s.Mode})
	}
	return ops, nil
}

func missingEnv(c corev1.Container, vars []corev1.EnvVar) []corev1.EnvVar {
	have := map[string]bool{}
	for _, e := range c.Env {
		have[e.Name] = true
	}
	out := vars[:0:0]
	for _, v := range vars {
		if !have[v.Name] {
			out = append(out, v)
		}
	}
	return out
}

func (p *plan) volumes() []corev1.Volume {
	var v []corev1.Volume
	if !p.azure {
		exp := p.cfg.Sidecar.ExpirationSecond
		v = append(v, corev1.Volume{Name: TokenVolume, VolumeSource: corev1.VolumeSource{
			Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
				ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Path: "token", Audience: p.s.Audience, ExpirationSeconds: &exp,
				},
			}}},
		}})
	}
	if p.s.Mode == ModeWrite {
		limit := resourceMi(1)
		v = append(v, corev1.Volume{Name: OutVolume, VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &limit},
		}})
	}
	return v
}

// sidecars: none (env), the serve sidecar, or the write init container and write --watch sidecar.
func (p *plan) sidecars() []corev1.Container {
	sc := p.cfg.Sidecar
	health := "0.0.0.0:" + strconv.Itoa(int(sc.HealthPort))
	var vars []corev1.EnvVar
	var mounts []corev1.VolumeMount
	if p.azure {
		// Azure Workload Identity's webhook adds AZURE_* and its token to this container too;
		// dbtoken sees an Azure Databricks host and those variables (azure-workload-identity).
		vars = []corev1.EnvVar{env("DATABRICKS_HOST", p.s.Host)}
	} else {
		vars, mounts = p.fileOIDC(), []corev1.VolumeMount{tokenMount}
	}
	vars = append(vars, env("DBTOKEN_LOG", sc.LogLevel))
	base := func(name string) corev1.Container {
		return corev1.Container{
			Name:            name,
			Image:           p.s.Image,
			ImagePullPolicy: sc.ImagePullPolicy,
			Env:             append([]corev1.EnvVar{}, vars...),
			VolumeMounts:    append([]corev1.VolumeMount{}, mounts...),
			Resources:       *sc.Resources.DeepCopy(),
			SecurityContext: p.securityContext(),
		}
	}
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromInt32(sc.HealthPort),
			}},
			PeriodSeconds: period, FailureThreshold: failures,
		}
	}
	always := corev1.ContainerRestartPolicyAlways
	side := base(SidecarName)
	side.RestartPolicy = &always
	side.Ports = []corev1.ContainerPort{{Name: healthPort, ContainerPort: sc.HealthPort}}
	side.StartupProbe = probe("/readyz", 1, 60) // the app starts once a token exists: up to 60 s
	side.ReadinessProbe = probe("/readyz", 10, 3)
	side.LivenessProbe = probe("/healthz", 10, 3) // answered by the event loop, never behind an exchange
	switch p.s.Mode {
	case ModeServe:
		side.Args = []string{"serve", "--listen", "127.0.0.1:" + strconv.Itoa(int(sc.ListenPort)), "--path", "/token",
			"--health-listen", health, "--allow-non-loopback"}
		return []corev1.Container{side}
	case ModeWrite:
		outMount := corev1.VolumeMount{Name: OutVolume, MountPath: OutDir}
		init := base(InitName)
		init.Args = []string{"write", "--out", OutFile}
		init.VolumeMounts = append(init.VolumeMounts, outMount)
		side.Args = []string{"write", "--watch", "--out", OutFile, "--health-listen", health, "--allow-non-loopback"}
		side.VolumeMounts = append(side.VolumeMounts, outMount)
		return []corev1.Container{init, side}
	}
	return nil
}

func (p *plan) securityContext() *corev1.SecurityContext {
	uid := int64(DefaultUID)
	switch {
	case p.cfg.Sidecar.RunAsUser != nil:
		uid = *p.cfg.Sidecar.RunAsUser
	case p.pod.Spec.SecurityContext != nil && p.pod.Spec.SecurityContext.RunAsUser != nil && *p.pod.Spec.SecurityContext.RunAsUser > 0:
		// The pod's user: a file written by `write` (0600) is then readable by the app.
		uid = *p.pod.Spec.SecurityContext.RunAsUser
	}
	yes, no := true, false
	return &corev1.SecurityContext{
		RunAsNonRoot:             &yes,
		RunAsUser:                &uid,
		AllowPrivilegeEscalation: &no,
		ReadOnlyRootFilesystem:   &yes,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}
