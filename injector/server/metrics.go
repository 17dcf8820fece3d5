package server

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Prometheus text exposition (format 0.0.4), written by hand: four families do not earn a
// client library and its dependencies.
type metrics struct {
	mu       sync.Mutex
	results  map[string]uint64 // admissions by result
	buckets  []float64         // latency histogram upper bounds, seconds
	counts   []uint64          // per bucket (not cumulative)
	sum      float64
	observed uint64
}

func newMetrics() *metrics {
	b := []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
	return &metrics{results: map[string]uint64{}, buckets: b, counts: make([]uint64, len(b)+1)}
}

// Results an admission can have.
const (
	resultMutated   = "mutated"
	resultUnchanged = "unchanged"
	resultRefused   = "refused"
	resultBad       = "bad_request"
)

func (m *metrics) observe(result string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.results[result]++
	s := d.Seconds()
	i := sort.SearchFloat64s(m.buckets, s)
	m.counts[i]++
	m.sum += s
	m.observed++
}

func (m *metrics) write(w io.Writer, version string, cert CertState, ready bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b2i := map[bool]int{false: 0, true: 1}
	fmt.Fprintf(w, "# HELP dbtoken_injector_build_info The injector's version.\n# TYPE dbtoken_injector_build_info gauge\n")
	fmt.Fprintf(w, "dbtoken_injector_build_info{version=%q} 1\n", version)
	fmt.Fprintf(w, "# HELP dbtoken_injector_ready 1 while /readyz answers 200.\n# TYPE dbtoken_injector_ready gauge\ndbtoken_injector_ready %d\n", b2i[ready])
	fmt.Fprintf(w, "# HELP dbtoken_injector_admissions_total AdmissionReviews answered, by result.\n# TYPE dbtoken_injector_admissions_total counter\n")
	for _, r := range []string{resultMutated, resultUnchanged, resultRefused, resultBad} {
		fmt.Fprintf(w, "dbtoken_injector_admissions_total{result=%q} %d\n", r, m.results[r])
	}
	fmt.Fprintf(w, "# HELP dbtoken_injector_admission_duration_seconds Time to answer an AdmissionReview.\n# TYPE dbtoken_injector_admission_duration_seconds histogram\n")
	var cum uint64
	for i, le := range m.buckets {
		cum += m.counts[i]
		fmt.Fprintf(w, "dbtoken_injector_admission_duration_seconds_bucket{le=\"%g\"} %d\n", le, cum)
	}
	cum += m.counts[len(m.buckets)]
	fmt.Fprintf(w, "dbtoken_injector_admission_duration_seconds_bucket{le=\"+Inf\"} %d\n", cum)
	fmt.Fprintf(w, "dbtoken_injector_admission_duration_seconds_sum %g\ndbtoken_injector_admission_duration_seconds_count %d\n", m.sum, m.observed)
	fmt.Fprintf(w, "# HELP dbtoken_injector_certificate_expiry_timestamp_seconds NotAfter of the serving certificate.\n# TYPE dbtoken_injector_certificate_expiry_timestamp_seconds gauge\n")
	fmt.Fprintf(w, "dbtoken_injector_certificate_expiry_timestamp_seconds %d\n", cert.NotAfter.Unix())
	fmt.Fprintf(w, "# HELP dbtoken_injector_certificate_reloads_total Rotated certificates loaded.\n# TYPE dbtoken_injector_certificate_reloads_total counter\n")
	fmt.Fprintf(w, "dbtoken_injector_certificate_reloads_total %d\n", cert.Reloads)
	fmt.Fprintf(w, "# HELP dbtoken_injector_certificate_reload_failures_total Looks at changed files that did not load (the last good certificate stays).\n# TYPE dbtoken_injector_certificate_reload_failures_total counter\n")
	fmt.Fprintf(w, "dbtoken_injector_certificate_reload_failures_total %d\n", cert.Failures)
}
