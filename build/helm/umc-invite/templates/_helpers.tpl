{{/* Names and labels, as in Fluent Bit's chart. */}}
{{- define "umc-invite.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "umc-invite.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "umc-invite.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "umc-invite.labels" -}}
helm.sh/chart: {{ include "umc-invite.chart" . }}
{{ include "umc-invite.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/component: {{ .Values.mode }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "umc-invite.selectorLabels" -}}
app.kubernetes.io/name: {{ include "umc-invite.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "umc-invite.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "umc-invite.configMapName" -}}
{{- default (printf "%s-config" (include "umc-invite.fullname" .)) .Values.existingConfigMap -}}
{{- end -}}

{{/* Where the config is mounted: the image's own config directory, so the
image's default command and `umc-invite check` find it. */}}
{{- define "umc-invite.configDir" -}}/fluent-bit/etc/umc-invite{{- end -}}

{{/* Where the image installs the plugin. */}}
{{- define "umc-invite.plugin" -}}/fluent-bit/plugins/out_umc_invite.so{{- end -}}

{{- define "umc-invite.queueDir" -}}
{{- .Values.queue.dir | trimSuffix "/" -}}
{{- end -}}
{{- define "umc-invite.intakeDir" -}}
{{- default (printf "%s/incoming" (include "umc-invite.queueDir" .)) .Values.queue.intakeDir -}}
{{- end -}}
{{- define "umc-invite.stateDir" -}}
{{- default (printf "%s/.fluent-bit" (include "umc-invite.queueDir" .)) .Values.queue.stateDir -}}
{{- end -}}
{{- define "umc-invite.root" -}}
{{- .Values.daemonset.hostPath | trimSuffix "/" -}}
{{- end -}}

{{/* The Secret of an auth block: "" (no auth), or name and key. Call with
dict "auth" <auth> "default" <name the chart gives its own Secret>. */}}
{{- define "umc-invite.secretName" -}}
{{- if .auth.existingSecret -}}
{{- .auth.existingSecret -}}
{{- else if .auth.password -}}
{{- .default -}}
{{- else if .auth.user -}}
{{- fail (printf "%s: umc auth user %q needs auth.password or auth.existingSecret" .where .auth.user) -}}
{{- end -}}
{{- end -}}

{{/* tenants, defaults applied, as YAML: a list of dicts. */}}
{{- define "umc-invite.tenants" -}}
{{- $root := . -}}
{{- $seen := dict -}}
{{- $out := list -}}
{{- range $i, $t := .Values.tenants -}}
{{- if not $t.name -}}{{- fail (printf "tenants[%d]: name is required" $i) -}}{{- end -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $t.name) -}}{{- fail (printf "tenants[%d]: name %q must be a DNS label (lower case, digits, -)" $i $t.name) -}}{{- end -}}
{{- if gt (len $t.name) 40 -}}{{- fail (printf "tenants[%d]: name %q is longer than 40 characters" $i $t.name) -}}{{- end -}}
{{- if hasKey $seen $t.name -}}{{- fail (printf "tenants: %q twice" $t.name) -}}{{- end -}}
{{- $_ := set $seen $t.name true -}}
{{- if not $t.url -}}{{- fail (printf "tenants[%d] (%s): url is required" $i $t.name) -}}{{- end -}}
{{- $auth := mergeOverwrite (deepCopy $root.Values.umc.auth) (default dict $t.auth) -}}
{{- if and $t.auth (or $t.auth.password $t.auth.existingSecret) -}}
{{- /* a tenant's own secret replaces the defaults' */ -}}
{{- $auth = mergeOverwrite (dict "user" $root.Values.umc.auth.user "password" "" "existingSecret" "" "existingSecretKey" "password") $t.auth -}}
{{- end -}}
{{- $secret := include "umc-invite.secretName" (dict "auth" $auth "default" (printf "%s-%s" (include "umc-invite.fullname" $root) $t.name) "where" (printf "tenant %s" $t.name)) -}}
{{- $out = append $out (dict
  "name" $t.name
  "url" $t.url
  "language" (default $root.Values.umc.language $t.language)
  "user" (default "" $auth.user)
  "password" (default "" $auth.password)
  "secret" $secret
  "secretOwn" (and $secret (not $auth.existingSecret))
  "key" (default "password" $auth.existingSecretKey)
  "concurrency" (default $root.Values.umc.concurrency $t.concurrency)
  "rateLimit" (ternary $t.rateLimit $root.Values.umc.rateLimit (hasKey $t "rateLimit"))
  "window" (default $root.Values.queue.window $t.window)
  "workers" (default $root.Values.fluentBit.workers $t.workers)
) -}}
{{- end -}}
{{- toYaml (dict "tenants" $out) -}}
{{- end -}}
