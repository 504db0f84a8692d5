{{/* The sidecar's pieces the StatefulSet and the helm test pod share. */}}

{{/* The Fluent Bit container's environment (the shipped config reads it). */}}
{{- define "umc-invite.sidecarEnv" -}}
{{- $auth := include "umc-invite.sidecarAuth" . | fromYaml -}}
{{- $queue := include "umc-invite.queueDir" . -}}
{{- /* umc.connection.url is the operator's, a template (its default names
nubusRelease's UMC Service); the result, like every other value here, is
checked as data the config reads. */ -}}
{{- $url := include "umc-invite.tpl" (dict "value" (required "umc.connection.url is required" .Values.umc.connection.url) "root" .) -}}
{{- $url = include "umc-invite.confValue" (dict "value" $url "where" "umc.connection.url" "pattern" (include "umc-invite.urlPattern" .) "what" "http(s)://host[:port][/path]") -}}
{{- $language := include "umc-invite.confValue" (dict "value" .Values.umc.language "where" "umc.language" "pattern" (include "umc-invite.languagePattern" .) "what" "a language tag like de-DE, en-US or en") -}}
{{- $user := include "umc-invite.confValue" (dict "value" $auth.user "where" "umc.auth.user" "pattern" "^[^:]*$" "what" "a basic-auth user (no \":\")") -}}
{{- toYaml (list
  (dict "name" "UMC_URL" "value" $url)
  (dict "name" "UMC_AUTH_USER" "value" $user)
  (dict "name" "UMC_AUTH_PASSWORD_FILE" "value" (ternary (printf "/run/secrets/umc-invite/%s" $auth.key) "" (ne $auth.secret "")))
  (dict "name" "UMC_LANGUAGE" "value" $language)
  (dict "name" "UMC_CONCURRENCY" "value" (.Values.umc.concurrency | toString))
  (dict "name" "UMC_RATE_LIMIT" "value" (.Values.umc.rateLimit | toString))
  (dict "name" "QUEUE_DIR" "value" $queue)
  (dict "name" "INTAKE_DIR" "value" (include "umc-invite.intakeDir" .))
  (dict "name" "QUEUE_WINDOW" "value" (.Values.queue.window | toString))
  (dict "name" "STATE_DIR" "value" (include "umc-invite.stateDir" .))
  (dict "name" "HTTP_PORT" "value" (.Values.fluentBit.httpPort | toString))
  (dict "name" "METRICS_LISTEN" "value" (printf ":%v" .Values.metrics.port))) -}}
{{- end -}}

{{- define "umc-invite.sidecarMounts" -}}
{{- $auth := include "umc-invite.sidecarAuth" . | fromYaml -}}
{{- $mounts := list
  (dict "name" "config" "mountPath" (include "umc-invite.configDir" .) "readOnly" true)
  (dict "name" "queue" "mountPath" (include "umc-invite.queueDir" .)) -}}
{{- if $auth.secret -}}
{{- $mounts = append $mounts (dict "name" "umc-password" "mountPath" "/run/secrets/umc-invite" "readOnly" true) -}}
{{- end -}}
{{- toYaml $mounts -}}
{{- end -}}

{{/* The listener's environment: what Nubus's listener base reads
(LDAP_*, NOTIFIER_SERVER, TLS_MODE, CA_CERT_FILE, DEBUG_LEVEL; its
command.sh starts univention-directory-listener with them) and the
module's own. */}}
{{- define "umc-invite.listenerEnv" -}}
{{- $l := .Values.listener -}}
{{- $base := include "umc-invite.listenerBaseDn" . -}}
{{- $env := list
  (dict "name" "LDAP_HOST" "value" (include "umc-invite.tpl" (dict "value" $l.ldap.connection.host "root" .)))
  (dict "name" "LDAP_PORT" "value" (toString $l.ldap.connection.port))
  (dict "name" "LDAP_BASE_DN" "value" $base)
  (dict "name" "LDAP_HOST_DN" "value" (include "umc-invite.listenerHostDn" .))
  (dict "name" "LDAP_PASSWORD_FILE" "value" "/var/secrets/ldap_secret")
  (dict "name" "NOTIFIER_SERVER" "value" (include "umc-invite.tpl" (dict "value" $l.notifier.connection.host "root" .)))
  (dict "name" "TLS_MODE" "value" (toString $l.tls.mode))
  (dict "name" "DEBUG_LEVEL" "value" (toString $l.debugLevel)) -}}
{{- if ne (toString $l.tls.mode) "off" -}}
{{- $env = append $env (dict "name" "CA_CERT_FILE" "value" "/var/secrets/ca_cert") -}}
{{- end -}}
{{- $env = concat $env (list
  (dict "name" "UMC_INVITE_DOMAIN_LISTENER" "value" "true")
  (dict "name" "UMC_INVITE_QUEUE_DIR" "value" (include "umc-invite.queueDir" .))
  (dict "name" "UMC_INVITE_INTAKE_DIR" "value" (include "umc-invite.intakeDir" .))
  (dict "name" "UMC_INVITE_PROBE_MAX_LAG" "value" (toString $l.probes.maxLagSeconds))) -}}
{{- with $l.queueCreatedFrom -}}
{{- $env = append $env (dict "name" "UMC_INVITE_QUEUE_CREATED_FROM" "value" (toString .)) -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{- define "umc-invite.listenerBaseDn" -}}
{{- $base := include "umc-invite.tpl" (dict "value" .Values.listener.ldap.baseDn "root" .) -}}
{{- if not $base -}}{{- fail "listener.ldap.baseDn (or global.ldap.baseDn) is required in sidecar mode: the LDAP base DN, dc=..." -}}{{- end -}}
{{- $base -}}
{{- end -}}

{{- define "umc-invite.listenerHostDn" -}}
{{- /* The base image's command.sh binds as cn=admin,<base> whatever
LDAP_HOST_DN says: any other DN would be a promise the listener ignores. */ -}}
{{- $dn := include "umc-invite.tpl" (dict "value" .Values.listener.ldap.hostDn "root" .) -}}
{{- $admin := printf "cn=admin,%s" (include "umc-invite.listenerBaseDn" .) -}}
{{- if and $dn (ne (lower $dn) (lower $admin)) -}}
{{- fail (printf "listener.ldap.hostDn: %q: the listener image (Nubus's listener base, /command.sh) always binds as %s with the password of listener.ldap.auth.existingSecret; leave hostDn empty (or set it to that DN) and give that account's password" $dn $admin) -}}
{{- end -}}
{{- $admin -}}
{{- end -}}
