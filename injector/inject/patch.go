package inject

import "strings"

// Op is one JSON Patch (RFC 6902) operation. The injector only ever adds: every change is
// an "add" at an index or of a whole missing list or map, so fields this version of k8s.io/api
// does not know (a newer API server's) are never touched, unlike a diff of re-marshalled pods.
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// pointer escapes one JSON Pointer (RFC 6901) token.
func pointer(token string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(token)
}

// prepend adds items at the front of the list at path, in order; an absent or empty list
// (present false) is added whole ("add" of an existing member replaces it). Prepending, not
// appending, is what makes the pod the same whichever webhook runs first: another webhook (Azure Workload Identity's)
// appends its own variables and volumes after whatever it finds.
func prepend[T any](ops []Op, path string, present bool, items []T) []Op {
	if len(items) == 0 {
		return ops
	}
	if !present {
		return append(ops, Op{Op: "add", Path: path, Value: items})
	}
	for i, it := range items {
		ops = append(ops, Op{Op: "add", Path: path + "/" + itoa(i), Value: it})
	}
	return ops
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for ; i > 0; i /= 10 {
		n--
		b[n] = byte('0' + i%10)
	}
	return string(b[n:])
}
