{{/* The listener's pieces the StatefulSet and its helm test share. */}}

{{/* The listener's LDAP password and, with TLS, the CA: /var/secrets. */}}
{{- define "umc-invite.listenerSecretsVolume" -}}
{{- $l := .Values.listener }}
- name: listener-secrets
  projected:
    defaultMode: 0440
    sources:
      {{- $admin := include "umc-invite.listenerAdminSecret" . | fromYaml }}
      - secret:
          name: {{ $admin.name }}
          items:
            - key: {{ $admin.key }}
              path: ldap_secret
      {{- if ne (toString $l.tls.mode) "off" }}
      - secret:
          name: {{ include "umc-invite.tpl" (dict "value" (required "listener.tls.existingSecret.name is required unless listener.tls.mode is off" $l.tls.existingSecret.name) "root" .) }}
          items:
            - key: {{ $l.tls.existingSecret.keyMapping.caCert }}
              path: ca_cert
      {{- end }}
{{- end -}}
