{{/* Names, labels and the image reference shared by every template. */}}
{{- define "sessiongate.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sessiongate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sessiongate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "sessiongate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* selectorLabels: (dict "ctx" $ "component" "bff") */}}
{{- define "sessiongate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sessiongate.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sessiongate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "sessiongate.xdsSecretName" -}}
{{- default (printf "%s-xds" (include "sessiongate.fullname" .)) .Values.xdsServer.existingSecret -}}
{{- end -}}

{{- define "sessiongate.bffSecretName" -}}
{{- default (printf "%s-bff" (include "sessiongate.fullname" .)) .Values.bff.existingSecret -}}
{{- end -}}

{{- define "sessiongate.redisSecretName" -}}
{{- default (printf "%s-redis" (include "sessiongate.fullname" .)) .Values.redis.existingSecret -}}
{{- end -}}

{{/*
Generated secrets, one set per release: taken from the Secret of a previous install
when there is one (lookup), so an upgrade keeps tokens and keys — a new encryption key
would make every session and every sealed client secret unreadable.
*/}}
{{- define "sessiongate.generated" -}}
{{- $name := printf "%s-xds" (include "sessiongate.fullname" .) -}}
{{- $prev := (lookup "v1" "Secret" .Release.Namespace $name) | default dict -}}
{{- $data := (get $prev "data") | default dict -}}
{{- $bffPrev := (lookup "v1" "Secret" .Release.Namespace (printf "%s-bff" (include "sessiongate.fullname" .))) | default dict -}}
{{- $bffData := (get $bffPrev "data") | default dict -}}
{{- $bffYaml := dict -}}
{{- if hasKey $bffData "bff.yaml" -}}{{- $bffYaml = (index $bffData "bff.yaml") | b64dec | fromYaml -}}{{- end -}}
{{- $bffKeys := (get (get $bffYaml "keys" | default dict) "keys") | default dict -}}
api-token: {{ (get $data "api-token" | b64dec) | default (randAlphaNum 40) | quote }}
bff-token: {{ (get $data "bff-token" | b64dec) | default (randAlphaNum 40) | quote }}
secret-keys: {{ (get $data "secret-keys" | b64dec) | default (printf "k1:%s" (randBytes 32)) | quote }}
bff-internal-key: {{ (get $data "bff-internal-key" | b64dec) | default (randAlphaNum 40) | quote }}
session-key: {{ (get $bffKeys "k1") | default (randBytes 32) | quote }}
{{- end -}}
