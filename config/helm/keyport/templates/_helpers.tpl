{{- define "keyport.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "keyport.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "keyport.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "keyport.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "keyport.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keyport.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "keyport.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "keyport.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "keyport.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "keyport.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "keyport.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The namespaces a scoped install binds the ClusterRole in: the watched
     ones, without repeats. The release namespace has the Role. */}}
{{- define "keyport.rbacNamespaces" -}}
{{- .Values.watchNamespaces | uniq | toJson }}
{{- end }}

{{/* The rules of the generated role of kind (ClusterRole or Role) in
     files/role.yaml, as YAML; it fails when there are none. */}}
{{- define "keyport.generatedRules" -}}
{{- $rules := list }}
{{- range regexSplit "(?m)^---\\s*$" (.Files.Get "files/role.yaml") -1 }}
{{- $doc := fromYaml . }}
{{- if eq (get $doc "kind") $.kind }}
{{- $rules = $doc.rules }}
{{- end }}
{{- end }}
{{- if not $rules }}
{{- fail (printf "files/role.yaml (config/rbac/role.yaml) holds no %s with rules" .kind) }}
{{- end }}
{{- toYaml $rules }}
{{- end }}
