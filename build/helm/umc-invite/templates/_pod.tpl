{{/* Pieces both workloads share. */}}

{{- define "umc-invite.validate" -}}
{{- if not (has .Values.mode (list "sidecar" "daemonset")) -}}
{{- fail (printf "mode %q: want sidecar or daemonset" .Values.mode) -}}
{{- end -}}
{{- if and (eq .Values.mode "daemonset") (not .Values.tenants) -}}
{{- fail "mode daemonset needs at least one entry in tenants" -}}
{{- end -}}
{{- if and (eq .Values.mode "sidecar") .Values.tenants -}}
{{- fail "tenants are for mode daemonset; the sidecar serves one UMC (umc.*)" -}}
{{- end -}}
{{- if eq (int .Values.fluentBit.httpPort) (int .Values.metrics.port) -}}
{{- fail "fluentBit.httpPort and metrics.port must differ" -}}
{{- end -}}
{{- end -}}

{{/* The pod's metadata and the spec fields before the containers. */}}
{{- define "umc-invite.podMeta" -}}
metadata:
  labels:
    {{- include "umc-invite.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # kubectl exec/logs without -c reach Fluent Bit and umc-invite.
    kubectl.kubernetes.io/default-container: umc-invite
    {{- if not .Values.existingConfigMap }}
    # Fluent Bit reads its config at start: a change rolls the pods
    # (instead of Fluent Bit's chart's hot reload). No checksum of a
    # Secret: its other bytes are predictable, so a checksum readable by
    # anyone who may read the pod would let them guess the password back.
    # The plugin reads its password file again when it changes.
    checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with .Values.additionalAnnotations }}
    {{- tpl (toYaml .) $ | nindent 4 }}
    {{- end }}
{{- end -}}

{{- define "umc-invite.podSpecCommon" -}}
{{- $secrets := concat (default list .Values.global.imagePullSecrets) (default list .Values.imagePullSecrets) }}
{{- with $secrets }}
imagePullSecrets:
  {{- range . }}
  {{- if kindIs "string" . }}
  - name: {{ . | quote }}
  {{- else }}
  - name: {{ .name | quote }}
  {{- end }}
  {{- end }}
{{- end }}
# No container talks to the Kubernetes API: no token in any of them.
automountServiceAccountToken: false
{{- $podSecurity := deepCopy (default dict .Values.podSecurityContext) }}
{{- if eq .Values.mode "daemonset" }}
{{- /* Each tenant's directories are its own group's: Fluent Bit is in all of them. */}}
{{- $groups := default list $podSecurity.supplementalGroups }}
{{- range (include "umc-invite.tenants" . | fromYaml).tenants }}
{{- $groups = append $groups (int64 .gid) }}
{{- end }}
{{- $_ := set $podSecurity "supplementalGroups" $groups }}
{{- /* The Secrets' group: the password files (0440) are Fluent Bit's. */}}
{{- $_ := set $podSecurity "fsGroup" (int64 (include "umc-invite.fluentBitUser" . | fromYaml).gid) }}
{{- end }}
{{- with $podSecurity }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
terminationGracePeriodSeconds: {{ include "umc-invite.grace" . }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The Fluent Bit container. Call with dict "root" $ "env" <list>
"mounts" <list>. */}}
{{- define "umc-invite.container" -}}
{{- $v := .root.Values -}}
- name: umc-invite
  image: {{ include "umc-invite.image" .root | quote }}
  imagePullPolicy: {{ include "umc-invite.pullPolicy" (dict "root" .root "image" $v.image) }}
  args:
    - -e
    - {{ include "umc-invite.plugin" .root }}
    - -c
    - {{ include "umc-invite.configDir" .root }}/fluent-bit.conf
  env:
    {{- toYaml .env | nindent 4 }}
    {{- with $v.extraEnvVars }}
    {{- tpl (toYaml .) $.root | nindent 4 }}
    {{- end }}
  ports:
    - name: http
      containerPort: {{ $v.fluentBit.httpPort }}
      protocol: TCP
    - name: metrics
      containerPort: {{ $v.metrics.port }}
      protocol: TCP
  {{- with $v.readinessProbe }}
  readinessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.livenessProbe }}
  livenessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with include "umc-invite.securityContext" .root }}
  securityContext:
    {{- . | nindent 4 }}
  {{- end }}
  volumeMounts:
    {{- toYaml .mounts | nindent 4 }}
    {{- with $v.extraVolumeMounts }}
    {{- tpl (toYaml .) $.root | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* `umc-invite check` on the rendered config, with the container's own
environment and mounts, before Fluent Bit starts. */}}
{{- define "umc-invite.checkContainer" -}}
{{- $v := .root.Values -}}
{{- if $v.check.enabled }}
- name: check
  image: {{ include "umc-invite.image" .root | quote }}
  imagePullPolicy: {{ include "umc-invite.pullPolicy" (dict "root" .root "image" $v.image) }}
  command:
    - umc-invite
  args:
    - check
    - -c
    - {{ include "umc-invite.configDir" .root }}/fluent-bit.conf
  env:
    {{- toYaml .env | nindent 4 }}
    {{- with $v.extraEnvVars }}
    {{- tpl (toYaml .) $.root | nindent 4 }}
    {{- end }}
  {{- with .resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with include "umc-invite.securityContext" .root }}
  securityContext:
    {{- . | nindent 4 }}
  {{- end }}
  volumeMounts:
    {{- toYaml .mounts | nindent 4 }}
    {{- with $v.extraVolumeMounts }}
    {{- tpl (toYaml .) $.root | nindent 4 }}
    {{- end }}
{{- end }}
{{- end -}}

{{- define "umc-invite.configVolume" -}}
- name: config
  configMap:
    name: {{ include "umc-invite.configMapName" . }}
{{- end -}}
