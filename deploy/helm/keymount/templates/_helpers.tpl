{{/* Object names: the release name, or "<release>-keymount" when the release name does not say keymount. */}}
{{- define "keymount.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "keymount.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "keymount.labels" -}}
{{ include "keymount.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: keymount
{{- end -}}

{{- define "keymount.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The plugin's directory on the host: the kubelet dials the CSI socket there. */}}
{{- define "keymount.pluginDir" -}}
{{- printf "%s/plugins/%s" (trimSuffix "/" .Values.kubeletDir) .Values.driverName -}}
{{- end -}}

{{- define "keymount.registrationDir" -}}
{{- printf "%s/plugins_registry" (trimSuffix "/" .Values.kubeletDir) -}}
{{- end -}}

{{- define "keymount.podsDir" -}}
{{- printf "%s/pods" (trimSuffix "/" .Values.kubeletDir) -}}
{{- end -}}

{{/*
The audiences of the service-account tokens the kubelet must pass with each publish, derived from the provider
instances that log in as the pod: vault and vault-pki with auth.type kubernetes (the default) or jwt, aws with
auth.type irsa (the default); each uses auth.audience, by default "vault" or "sts.amazonaws.com". Instances that
use the driver's own identity (vault token or approle, aws node) need none. Sorted, without duplicates.
*/}}
{{- define "keymount.tokenAudiences" -}}
{{- $podLogins := dict "vault" (dict "types" (list "kubernetes" "jwt") "default" "kubernetes" "audience" "vault") "vault-pki" (dict "types" (list "kubernetes" "jwt") "default" "kubernetes" "audience" "vault") "aws" (dict "types" (list "irsa") "default" "irsa" "audience" "sts.amazonaws.com") -}}
{{- $audiences := list -}}
{{- range $name, $instance := .Values.providers -}}
{{- $login := get $podLogins $instance.type -}}
{{- if $login -}}
{{- $auth := $instance.auth | default dict -}}
{{- if has ($auth.type | default $login.default) $login.types -}}
{{- $audiences = append $audiences ($auth.audience | default $login.audience) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range .Values.csiDriver.tokenRequests.extraAudiences -}}
{{- $audiences = append $audiences . -}}
{{- end -}}
{{- toJson (uniq $audiences | sortAlpha) -}}
{{- end -}}

{{/* keymount's --config file. */}}
{{- define "keymount.config" -}}
{{- if empty .Values.providers -}}
{{- fail "providers: configure at least one provider instance" -}}
{{- end -}}
{{ dict "providers" .Values.providers | toYaml }}
{{- end -}}
