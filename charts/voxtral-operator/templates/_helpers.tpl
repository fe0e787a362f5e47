{{/*
Names, labels and the checks of combinations of values that the schema cannot express.
Every object of the chart takes its labels from "voxtral-operator.labels".
*/}}

{{- define "voxtral-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "voxtral-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "voxtral-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The selector: never add to it (a Deployment's selector is immutable). */}}
{{- define "voxtral-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "voxtral-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The standard labels of every object; pass a dict with "ctx" (the root) and
"component". */}}
{{- define "voxtral-operator.labels" -}}
helm.sh/chart: {{ include "voxtral-operator.chart" .ctx }}
{{ include "voxtral-operator.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: voxtral-operator
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{/* The selector labels of one component's pods, other than the operator's (whose
Deployment selector is immutable and stays as it is); pass a dict with "ctx" and
"component". */}}
{{- define "voxtral-operator.componentSelectorLabels" -}}
{{ include "voxtral-operator.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "voxtral-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "voxtral-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name the existing ServiceAccount the operator runs as (serviceAccount.create is false)" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "voxtral-operator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "voxtral-operator.peeringName" -}}
{{- default (include "voxtral-operator.fullname" .) .Values.peering.name }}
{{- end }}

{{/* The namespaces the operator serves, as a list; empty means all of them. */}}
{{- define "voxtral-operator.servedNamespaces" -}}
{{- if .Values.watch.namespaces }}
{{- toYaml .Values.watch.namespaces }}
{{- else if eq .Values.rbac.scope "namespace" }}
{{- toYaml (list .Release.Namespace) }}
{{- else }}
{{- toYaml (list) }}
{{- end }}
{{- end }}

{{/* Combinations of values the schema cannot check, each failing with what to do. */}}
{{- define "voxtral-operator.validate" -}}
{{- if eq .Values.image.tag "latest" }}
{{- fail (printf "image.tag=latest: pin a version (empty means the chart's appVersion, %s) or set image.digest" .Chart.AppVersion) }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.peering.enabled) }}
{{- fail "replicaCount > 1 needs peering.enabled=true: without kopf peering every replica would reconcile the same VoxtralServices at once" }}
{{- end }}
{{- if eq .Values.rbac.scope "namespace" }}
{{- range .Values.watch.namespaces }}
{{- if regexMatch "[*?!\\[\\],]" . }}
{{- fail (printf "watch.namespaces: %q is a pattern; rbac.scope=namespace grants Roles in named namespaces only: name them, or use rbac.scope=cluster" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq (int .Values.metrics.port) (int .Values.health.port) }}
{{- fail (printf "metrics.port and health.port are both %v: give them different ports" .Values.metrics.port) }}
{{- end }}
{{- end }}

{{/* The predictor image of the KServe ClusterServingRuntime. */}}
{{- define "voxtral-operator.kserveImage" -}}
{{- $image := .Values.kserve.servingRuntime.image }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) }}
{{- end }}
