{{/* The listener's pieces the StatefulSet and its helm test share. */}}

{{/* The listener's LDAP password and, with TLS, the CA: /var/secrets. */}}
{{- define "umc-invite.listenerSecretsVolume" -}}
{{- $l := .Values.listener }}
- name: listener-secrets
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ include "umc-invite.tpl" (dict "value" (required "listener.ldap.auth.existingSecret.name is required" $l.ldap.auth.existingSecret.name) "root" .) }}
          items:
            - key: {{ $l.ldap.auth.existingSecret.keyMapping.password }}
              path: ldap_secret
      {{- if ne (toString $l.tls.mode) "off" }}
      - secret:
          name: {{ include "umc-invite.tpl" (dict "value" (required "listener.tls.existingSecret.name is required unless listener.tls.mode is off" $l.tls.existingSecret.name) "root" .) }}
          items:
            - key: {{ $l.tls.existingSecret.keyMapping.caCert }}
              path: ca_cert
      {{- end }}
{{- end -}}
