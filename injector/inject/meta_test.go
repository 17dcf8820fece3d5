package inject

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

func metaWith(labels, annotations map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: "etl", Namespace: "data", Labels: labels, Annotations: annotations}
}
