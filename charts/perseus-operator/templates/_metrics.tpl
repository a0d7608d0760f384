{{/* The authenticated metrics endpoints: which Secret holds the serving certificate, which the scrape token. */}}

{{/* Name of the Secret with tls.crt/tls.key mounted into the controller and agents; "" for self-signed. */}}
{{- define "perseus.metricsTlsSecret" -}}
{{- if .Values.metrics.secure -}}
{{- if .Values.metrics.tls.secretName -}}
{{- .Values.metrics.tls.secretName -}}
{{- else if .Values.metrics.tls.certManager.enabled -}}
{{- printf "%s-metrics-tls" (include "perseus.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* True when the chart renders the scraper ServiceAccount and its token Secret. */}}
{{- define "perseus.metricsScraper" -}}
{{- $monitors := or .Values.metrics.serviceMonitor.enabled (and .Values.agent.enabled .Values.metrics.podMonitor.enabled) -}}
{{- if and .Values.metrics.secure .Values.metrics.scraper.create $monitors (include "perseus.hasMonitoringApi" .) -}}true{{- end -}}
{{- end -}}

{{- define "perseus.metricsScraperName" -}}
{{- printf "%s-metrics-scraper" (include "perseus.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Secret whose key `token` the monitors send as a bearer token. */}}
{{- define "perseus.metricsTokenSecret" -}}
{{- if .Values.metrics.scraper.create -}}
{{- printf "%s-token" (include "perseus.metricsScraperName" .) -}}
{{- else -}}
{{- required "metrics.scraper.tokenSecretName: required when metrics.secure is true, metrics.scraper.create is false and a ServiceMonitor or PodMonitor is rendered" .Values.metrics.scraper.tokenSecretName -}}
{{- end -}}
{{- end -}}

{{/*
Scheme, bearer token and TLS settings of a monitor endpoint: (dict "ctx" $ "service" "<name>-metrics").
Prometheus verifies the certificate only when metrics.tls.verify is set (ca.crt of the mounted Secret).
*/}}
{{- define "perseus.monitorEndpointSecurity" -}}
{{- $ctx := .ctx -}}
{{- if $ctx.Values.metrics.secure -}}
scheme: https
authorization:
  type: Bearer
  credentials:
    name: {{ include "perseus.metricsTokenSecret" $ctx }}
    key: token
tlsConfig:
  {{- if $ctx.Values.metrics.tls.verify }}
  ca:
    secret:
      name: {{ required "metrics.tls.verify: needs metrics.tls.secretName or metrics.tls.certManager.enabled (the Secret's ca.crt)" (include "perseus.metricsTlsSecret" $ctx) }}
      key: ca.crt
  serverName: {{ .service }}.{{ $ctx.Release.Namespace }}.svc
  {{- else }}
  insecureSkipVerify: true
  {{- end }}
{{- else -}}
scheme: http
{{- end -}}
{{- end -}}

{{/* Container args, volume mount and volume of the metrics certificate. */}}
{{- define "perseus.metricsArgs" -}}
- --metrics-secure={{ .Values.metrics.secure }}
{{- if include "perseus.metricsTlsSecret" . }}
- --metrics-cert-dir=/etc/perseus/metrics-tls
{{- end }}
{{- end -}}

{{- define "perseus.metricsCertMount" -}}
{{- if include "perseus.metricsTlsSecret" . }}
- name: metrics-tls
  mountPath: /etc/perseus/metrics-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "perseus.metricsCertVolume" -}}
{{- with include "perseus.metricsTlsSecret" . }}
- name: metrics-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- end -}}
