{{- define "dbtoken-injector.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dbtoken-injector.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dbtoken-injector.labels" -}}
{{ include "dbtoken-injector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "dbtoken-injector.tlsSecret" -}}
{{ include "dbtoken-injector.fullname" . }}-tls
{{- end -}}

{{/* The service's DNS names, and the webhook URL's host when one is set. */}}
{{- define "dbtoken-injector.dnsNames" -}}
{{- $svc := include "dbtoken-injector.fullname" . -}}
{{- $names := list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) -}}
{{- with .Values.webhook.url -}}
{{- $h := regexReplaceAll ":[0-9]+$" (urlParse .).host "" | trimPrefix "[" | trimSuffix "]" -}}
{{- if not (regexMatch "^[0-9.]+$|:" $h) -}}{{- $names = append $names $h -}}{{- end -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{- define "dbtoken-injector.ips" -}}
{{- $ips := list -}}
{{- with .Values.webhook.url -}}
{{- $h := regexReplaceAll ":[0-9]+$" (urlParse .).host "" | trimPrefix "[" | trimSuffix "]" -}}
{{- if regexMatch "^[0-9.]+$|:" $h -}}{{- $ips = append $ips $h -}}{{- end -}}
{{- end -}}
{{- toJson $ips -}}
{{- end -}}
