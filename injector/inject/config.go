// Package inject decides what a labelled pod gets: it reads the pod's dbtoken.dev/*
// annotations over the injector's defaults and returns a JSON Patch (RFC 6902) that adds the
// projected token volume, the dbtoken sidecar and the Databricks variables, or an error that
// names the annotation at fault. It is pure: no network, no clock, no Kubernetes client.
package inject

import (
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// Settings a pod can take from the injector's configuration and override by annotation.
type Settings struct {
	// Workspace or account URL (dbtoken.dev/host).
	Host string `json:"host,omitempty"`
	// Service principal application id (dbtoken.dev/client-id); empty: account-wide policy.
	ClientID string `json:"clientId,omitempty"`
	// Projected token audience (dbtoken.dev/audience): the Databricks account id, the
	// federation policy's default audience.
	Audience string `json:"audience,omitempty"`
	// serve, write or env (dbtoken.dev/mode).
	Mode string `json:"mode,omitempty"`
	// The dbtoken image of the sidecar (dbtoken.dev/image).
	Image string `json:"image,omitempty"`
}

// Config is the injector's configuration file (--config, YAML or JSON).
type Config struct {
	// Defaults for every namespace.
	Defaults Settings `json:"defaults"`
	// Per-namespace defaults over Defaults (a field left empty keeps the default).
	Namespaces map[string]Settings `json:"namespaces,omitempty"`
	// The sidecar's shape.
	Sidecar Sidecar `json:"sidecar"`
}

// Sidecar is what every injected dbtoken container looks like.
type Sidecar struct {
	ListenPort       int32                       `json:"listenPort,omitempty"`        // serve's token listener, on 127.0.0.1 (8321)
	HealthPort       int32                       `json:"healthPort,omitempty"`        // --health-listen 0.0.0.0:PORT (8322)
	LogLevel         string                      `json:"logLevel,omitempty"`          // DBTOKEN_LOG (info)
	ImagePullPolicy  corev1.PullPolicy           `json:"imagePullPolicy,omitempty"`   // default: Kubernetes' own
	Resources        corev1.ResourceRequirements `json:"resources,omitempty"`         // requests 10m/8Mi, limit 32Mi
	RunAsUser        *int64                      `json:"runAsUser,omitempty"`         // else the pod's runAsUser, else 65532
	ExpirationSecond int64                       `json:"expirationSeconds,omitempty"` // projected token lifetime (3600)
}

const (
	ModeServe = "serve"
	ModeWrite = "write"
	ModeEnv   = "env"

	DefaultListenPort = 8321
	DefaultHealthPort = 8322
	DefaultUID        = 65532
	DefaultExpiration = 3600
)

// DefaultConfig is the configuration without a file: serve mode, the examples' sidecar.
func DefaultConfig() Config {
	var c Config
	c.fill()
	return c
}

func (c *Config) fill() {
	if c.Defaults.Mode == "" {
		c.Defaults.Mode = ModeServe
	}
	s := &c.Sidecar
	if s.ListenPort == 0 {
		s.ListenPort = DefaultListenPort
	}
	if s.HealthPort == 0 {
		s.HealthPort = DefaultHealthPort
	}
	if s.LogLevel == "" {
		s.LogLevel = "info"
	}
	if s.ExpirationSecond == 0 {
		s.ExpirationSecond = DefaultExpiration
	}
	if s.Resources.Requests == nil && s.Resources.Limits == nil {
		s.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("10m"),
				corev1.ResourceMemory: resource.MustParse("8Mi"),
			},
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")},
		}
	}
}

// LoadConfig reads a configuration file; unknown fields are errors naming the field.
func LoadConfig(path string) (Config, error) {
	var c Config
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	c.fill()
	if err := c.validate(); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

func (c *Config) validate() error {
	check := func(where string, s Settings) error {
		for _, f := range []struct {
			name, value string
			check       func(string) error
		}{
			{"host", s.Host, checkHost},
			{"clientId", s.ClientID, checkID},
			{"audience", s.Audience, checkAudience},
			{"mode", s.Mode, checkMode},
			{"image", s.Image, checkImage},
		} {
			if f.value == "" {
				continue
			}
			if err := f.check(f.value); err != nil {
				return fmt.Errorf("%s.%s: %w", where, f.name, err)
			}
		}
		return nil
	}
	if err := check("defaults", c.Defaults); err != nil {
		return err
	}
	for ns, s := range c.Namespaces {
		if err := check("namespaces."+ns, s); err != nil {
			return err
		}
	}
	s := c.Sidecar
	for _, p := range []struct {
		name string
		v    int32
	}{{"sidecar.listenPort", s.ListenPort}, {"sidecar.healthPort", s.HealthPort}} {
		if p.v < 1 || p.v > 65535 {
			return fmt.Errorf("%s: %d is not a port (1-65535)", p.name, p.v)
		}
	}
	if s.ListenPort == s.HealthPort {
		return fmt.Errorf("sidecar.healthPort: %d is also sidecar.listenPort", s.HealthPort)
	}
	// kube-apiserver's own bounds for a projected token (10 min .. 2^32 s); the issue's
	// platforms cap it at 24 h anyway.
	if s.ExpirationSecond < 600 || s.ExpirationSecond > 86400 {
		return fmt.Errorf("sidecar.expirationSeconds: %d is outside 600..86400", s.ExpirationSecond)
	}
	switch s.LogLevel {
	case "error", "warn", "info", "debug":
	default:
		return fmt.Errorf("sidecar.logLevel: %q is not one of error, warn, info, debug", s.LogLevel)
	}
	if s.RunAsUser != nil && *s.RunAsUser <= 0 {
		return fmt.Errorf("sidecar.runAsUser: %d: the sidecar runs as a non-root user", *s.RunAsUser)
	}
	return nil
}

// settingsFor merges the namespace's defaults over the global ones.
func (c *Config) settingsFor(namespace string) Settings {
	s := c.Defaults
	if n, ok := c.Namespaces[namespace]; ok {
		for _, f := range []struct {
			dst *string
			src string
		}{
			{&s.Host, n.Host}, {&s.ClientID, n.ClientID}, {&s.Audience, n.Audience},
			{&s.Mode, n.Mode}, {&s.Image, n.Image},
		} {
			if f.src != "" {
				*f.dst = f.src
			}
		}
	}
	return s
}

func checkMode(v string) error {
	switch v {
	case ModeServe, ModeWrite, ModeEnv:
		return nil
	}
	return fmt.Errorf("%q is not one of serve, write, env", v)
}

func checkHost(v string) error {
	if !strings.HasPrefix(v, "https://") {
		return fmt.Errorf("%q is not an https:// URL (the workspace or account URL)", v)
	}
	rest := strings.TrimSuffix(strings.TrimPrefix(v, "https://"), "/")
	if rest == "" || strings.ContainsAny(rest, "/?#@ \t\r\n") {
		return fmt.Errorf("%q is not a bare https://host[:port] URL (no path, query or user)", v)
	}
	return nil
}

// checkID: a service principal application id (a UUID in practice; checked loosely).
func checkID(v string) error {
	if len(v) > 128 || strings.IndexFunc(v, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) >= 0 {
		return fmt.Errorf("%q is not an application id (letters, digits, '-', '_', '.'; at most 128)", v)
	}
	return nil
}

func checkAudience(v string) error {
	if len(v) > 512 || strings.IndexFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return fmt.Errorf("%q is not an audience (no spaces or control characters; at most 512)", v)
	}
	return nil
}

func checkImage(v string) error {
	if len(v) > 512 || strings.IndexFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return fmt.Errorf("%q is not an image reference", v)
	}
	return nil
}

func resourceMi(n int64) resource.Quantity { return *resource.NewQuantity(n<<20, resource.BinarySI) }
