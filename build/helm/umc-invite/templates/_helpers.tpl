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
{{- with .Values.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations of every object: additionalAnnotations, tpl. */}}
{{- define "umc-invite.annotations" -}}
{{- with .Values.additionalAnnotations }}
annotations:
  {{- tpl (toYaml .) $ | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "umc-invite.selectorLabels" -}}
app.kubernetes.io/name: {{ include "umc-invite.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* An image reference as Nubus's charts build it: registry (its own,
else global.imageRegistry), repository, tag (default the chart's
appVersion; numbers rendered as strings) and digest. Call with dict "root"
$ "image" <image values>. */}}
{{- define "umc-invite.imageRef" -}}
{{- $img := .image -}}
{{- $registry := coalesce $img.registry .root.Values.global.imageRegistry | default "" | toString | trimSuffix "/" -}}
{{- $tag := .root.Chart.AppVersion | toString -}}
{{- if not (kindIs "invalid" $img.tag) }}{{ if ne (toString $img.tag) "" }}{{ $tag = toString $img.tag }}{{ end }}{{ end -}}
{{- $ref := toString $img.repository -}}
{{- if $registry }}{{ $ref = printf "%s/%s" $registry $ref }}{{ end -}}
{{- if $tag }}{{ $ref = printf "%s:%s" $ref $tag }}{{ end -}}
{{- if $img.digest }}{{ $ref = printf "%s@%s" $ref (toString $img.digest) }}{{ end -}}
{{- $ref -}}
{{- end -}}

{{- define "umc-invite.pullPolicy" -}}
{{- coalesce .image.pullPolicy .root.Values.global.imagePullPolicy "IfNotPresent" -}}
{{- end -}}

{{- define "umc-invite.image" -}}
{{- include "umc-invite.imageRef" (dict "root" . "image" .Values.image) -}}
{{- end -}}

{{/* A value rendered as a template (Nubus's tpl convention), for the
operator's values the chart documents as tpl (the defaults that name
nubusRelease's Services and Secrets), never a tenant's. The result is one
line: a control character in it is refused. Call with dict "value"
<string> "root" $. */}}
{{- define "umc-invite.tpl" -}}
{{- $v := tpl (toString .value) .root -}}
{{- if regexMatch "[\\x00-\\x1f\\x7f]" $v -}}
{{- fail (printf "%q (rendered from %q) holds a control character (a line break?): a value here is one line" $v (toString .value)) -}}
{{- end -}}
{{- $v -}}
{{- end -}}

{{/* A value written into the Fluent Bit config (or the environment it
reads), as data. Fluent Bit reads one key a line and expands ${VARIABLE}
in values: a line break would add a key of the value's own (Match_Regex,
taking every tenant's records), a "$" would read the pod's environment.
So control characters, quotes, "$" and "\" are refused here, whatever the
schema let through, and the value must match "pattern" when given. Call
with dict "value" "where" ["pattern" "what"]. */}}
{{- define "umc-invite.confValue" -}}
{{- $v := toString .value -}}
{{- if regexMatch "[\\x00-\\x1f\\x7f\"'`$\\\\]" $v -}}
{{- fail (printf "%s: %q holds a control character (a line break?), a quote, \"$\" or a backslash: it would be read as more than a value in the Fluent Bit config every output shares" .where $v) -}}
{{- end -}}
{{- if and .pattern (not (regexMatch .pattern $v)) -}}
{{- fail (printf "%s: %q is not %s" .where $v .what) -}}
{{- end -}}
{{- $v -}}
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
{{- if and (not .auth.user) (or .auth.password (and .auth.existingSecret .auth.existingSecret.name)) -}}
{{- fail (printf "%s: a UMC password (auth.password or auth.existingSecret.name) needs auth.user; leave all of them empty to call send_token anonymously, as Nubus's own sender does" .where) -}}
{{- end -}}
{{- if and .auth.existingSecret .auth.existingSecret.name -}}
{{- include "umc-invite.confValue" (dict "value" .auth.existingSecret.name "where" (printf "%s: auth.existingSecret.name" .where) "pattern" "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" "what" "a Secret's name (a DNS subdomain)") -}}
{{- else if .auth.password -}}
{{- .default -}}
{{- else if .auth.user -}}
{{- fail (printf "%s: umc auth user %q needs auth.password or auth.existingSecret.name" .where .auth.user) -}}
{{- end -}}
{{- end -}}

{{/* The sidecar's auth, resolved: dict secret (name or ""), own (the
chart makes it), key, user. */}}
{{- define "umc-invite.sidecarAuth" -}}
{{- $a := .Values.umc.auth -}}
{{- $secret := include "umc-invite.secretName" (dict "auth" $a "default" (include "umc-invite.fullname" .) "where" "umc" "root" .) -}}
{{- $key := "password" -}}
{{- if and $a.existingSecret $a.existingSecret.keyMapping $a.existingSecret.keyMapping.password -}}{{- $key = $a.existingSecret.keyMapping.password -}}{{- end -}}
{{- toYaml (dict "secret" $secret "own" (and (ne $secret "") (not (and $a.existingSecret $a.existingSecret.name))) "key" $key "user" (toString (default "" $a.user))) -}}
{{- end -}}

{{/* What the plugin takes as UMC_URL and Language (umc/config/validate.go),
narrowed to what stays one value in the config. */}}
{{- define "umc-invite.urlPattern" -}}^https?://[^\s"'`$\\?#@]+${{- end -}}
{{- define "umc-invite.languagePattern" -}}^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*${{- end -}}

{{/* The egress ports to a UMC, as JSON {"ports": [...]}: networkPolicy's
ports, and the port its url names (else its scheme's, 443 or 80) when they
lack it. Added, not instead: a NetworkPolicy matches the pod's port behind
a Service (Nubus's umc-server listens on 8090 behind port 80), which the
url does not show. Call with dict "url" <url> "ports" <list>. */}}
{{- define "umc-invite.umcEgressPorts" -}}
{{- $u := urlParse .url -}}
{{- $port := trimPrefix ":" (regexFind ":[0-9]+$" $u.host) -}}
{{- if not $port }}{{ $port = ternary "443" "80" (eq (lower $u.scheme) "https") }}{{ end -}}
{{- $ports := concat (default list .ports) list -}}
{{- $known := list -}}
{{- range $ports }}{{ $known = append $known (toString .) }}{{ end -}}
{{- if not (has $port $known) }}{{ $ports = append $ports (atoi $port) }}{{ end -}}
{{- toJson (dict "ports" $ports) -}}
{{- end -}}

{{/* tenants, defaults applied, as YAML: a list of dicts. */}}
{{- define "umc-invite.tenants" -}}
{{- $root := . -}}
{{- $urlRe := include "umc-invite.urlPattern" . -}}
{{- $languageRe := include "umc-invite.languagePattern" . -}}
{{- $seen := dict -}}
{{- $out := list -}}
{{- range $i, $t := .Values.tenants -}}
{{- if not $t.name -}}{{- fail (printf "tenants[%d]: name is required" $i) -}}{{- end -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $t.name) -}}{{- fail (printf "tenants[%d]: name %q must be a DNS label (lower case, digits, -)" $i $t.name) -}}{{- end -}}
{{- if gt (len $t.name) 40 -}}{{- fail (printf "tenants[%d]: name %q is longer than 40 characters" $i $t.name) -}}{{- end -}}
{{- if hasKey $seen $t.name -}}{{- fail (printf "tenants: %q twice" $t.name) -}}{{- end -}}
{{- $_ := set $seen $t.name true -}}
{{- if not $t.url -}}{{- fail (printf "tenants[%d] (%s): url is required" $i $t.name) -}}{{- end -}}
{{- if not $t.gid -}}{{- fail (printf "tenants[%d] (%s): gid is required: the tenant's own group, which alone may write its intake (docs/security.md, Tenants)" $i $t.name) -}}{{- end -}}
{{- $gid := int64 $t.gid -}}
{{- if eq $gid (int64 (include "umc-invite.fluentBitUser" $root | fromYaml).gid) -}}{{- fail (printf "tenants[%d] (%s): gid %d is Fluent Bit's own group: give each tenant a group of its own" $i $t.name $gid) -}}{{- end -}}
{{- if hasKey $seen (printf "gid %d" $gid) -}}{{- fail (printf "tenants: gid %d twice: each tenant needs a group of its own, or its producers write the other's intake" $gid) -}}{{- end -}}
{{- $_ := set $seen (printf "gid %d" $gid) true -}}
{{- $auth := mergeOverwrite (deepCopy $root.Values.umc.auth) (default dict $t.auth) -}}
{{- if and $t.auth (or $t.auth.password (and $t.auth.existingSecret $t.auth.existingSecret.name)) -}}
{{- /* a tenant's own secret replaces the defaults' */ -}}
{{- $auth = mergeOverwrite (dict "user" $root.Values.umc.auth.user "password" "" "existingSecret" (dict "name" "" "keyMapping" (dict "password" "password"))) (deepCopy $t.auth) -}}
{{- end -}}
{{- $secret := include "umc-invite.secretName" (dict "auth" $auth "default" (printf "%s-%s" (include "umc-invite.fullname" $root) $t.name) "where" (printf "tenant %s" $t.name) "root" $root) -}}
{{- $existing := and $auth.existingSecret $auth.existingSecret.name -}}
{{- $key := "password" -}}
{{- if and $auth.existingSecret $auth.existingSecret.keyMapping $auth.existingSecret.keyMapping.password -}}{{- $key = $auth.existingSecret.keyMapping.password -}}{{- end -}}
{{- /* Every value that reaches the shared config is data, checked here:
never a template (a tenant's url could read another tenant's password
from .Values), never more than one value (a line break adds a key). */ -}}
{{- $where := printf "tenants[%d] (%s)" $i $t.name -}}
{{- $number := "^(0|[1-9][0-9]*)$" -}}
{{- $out = append $out (dict
  "name" $t.name
  "gid" $gid
  "url" (include "umc-invite.confValue" (dict "value" $t.url "where" (printf "%s: url" $where) "pattern" $urlRe "what" "http(s)://host[:port][/path]: the tenant's UMC, as it is (not a template)"))
  "language" (include "umc-invite.confValue" (dict "value" (default $root.Values.umc.language $t.language) "where" (printf "%s: language" $where) "pattern" $languageRe "what" "a language tag like de-DE, en-US or en"))
  "user" (include "umc-invite.confValue" (dict "value" (default "" $auth.user) "where" (printf "%s: auth.user" $where) "pattern" "^[^:]*$" "what" "a basic-auth user (no \":\")"))
  "password" (default "" $auth.password)
  "secret" $secret
  "secretOwn" (and (ne $secret "") (not $existing))
  "key" (include "umc-invite.confValue" (dict "value" $key "where" (printf "%s: auth.existingSecret.keyMapping.password" $where) "pattern" "^[-._a-zA-Z0-9]+$" "what" "a Secret's key (letters, digits, -, _ and .)"))
  "concurrency" (include "umc-invite.confValue" (dict "value" (default $root.Values.umc.concurrency $t.concurrency) "where" (printf "%s: concurrency" $where) "pattern" $number "what" "a number"))
  "rateLimit" (include "umc-invite.confValue" (dict "value" (ternary $t.rateLimit $root.Values.umc.rateLimit (hasKey $t "rateLimit")) "where" (printf "%s: rateLimit" $where) "pattern" $number "what" "a number"))
  "window" (include "umc-invite.confValue" (dict "value" (default $root.Values.queue.window $t.window) "where" (printf "%s: window" $where) "pattern" $number "what" "a number"))
  "workers" (include "umc-invite.confValue" (dict "value" (default $root.Values.fluentBit.workers $t.workers) "where" (printf "%s: workers" $where) "pattern" $number "what" "a number"))
) -}}
{{- end -}}
{{- toYaml (dict "tenants" $out) -}}
{{- end -}}

{{/* A Kubernetes quantity as a number of Mi (memory) or m (cpu), a
float. Call with dict "value" "what" "memory" (bool). */}}
{{- define "umc-invite.quantity" -}}
{{- $v := toString .value -}}
{{- $units := ternary (dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000) (dict "" 1000 "m" 1) .memory -}}
{{- $m := regexFindAll "^([0-9]+(?:\\.[0-9]+)?)([a-zA-Z]*)$" $v 1 -}}
{{- $num := regexReplaceAll "^([0-9]+(?:\\.[0-9]+)?)([a-zA-Z]*)$" $v "${1}" -}}
{{- $suffix := regexReplaceAll "^([0-9]+(?:\\.[0-9]+)?)([a-zA-Z]*)$" $v "${2}" -}}
{{- if or (not $m) (not (hasKey $units $suffix)) -}}
{{- fail (printf "%s: %q is not a quantity the chart can add up: give a number with one of %s (e.g. %s)" .what $v (ternary "Ki, Mi, Gi, Ti, k, M, G, T or none (bytes)" "m or none (cores)" .memory) (ternary "512Mi, 1Gi" "500m, 1, 0.5" .memory)) -}}
{{- end -}}
{{- $f := mulf (float64 $num) (get $units $suffix) -}}
{{- if .memory -}}{{- divf $f 1048576 -}}{{- else -}}{{- $f -}}{{- end -}}
{{- end -}}

{{/* The DaemonSet's Fluent Bit resources: daemonset.resourcesBase, plus
per tenant resourcesPerTenant and, in memory, its window times
daemonset.memoryPerQueueFile. Kubernetes quantities in, Mi and m out
(rounded up). */}}
{{- define "umc-invite.daemonsetResources" -}}
{{- $root := . -}}
{{- $tenants := (include "umc-invite.tenants" . | fromYaml).tenants -}}
{{- $n := len $tenants -}}
{{- $windows := 0 -}}
{{- range $tenants }}{{ $windows = add $windows (int .window) }}{{ end -}}
{{- $perFile := include "umc-invite.quantity" (dict "value" .Values.daemonset.memoryPerQueueFile "what" "daemonset.memoryPerQueueFile" "memory" true) -}}
{{- $base := .Values.daemonset.resourcesBase -}}
{{- $per := .Values.daemonset.resourcesPerTenant -}}
{{- $out := dict -}}
{{- range $kind := list "requests" "limits" -}}
{{- $sum := dict -}}
{{- $b := default dict (get $base $kind) -}}
{{- $p := default dict (get $per $kind) -}}
{{- range $res := list "cpu" "memory" -}}
{{- $mem := eq $res "memory" -}}
{{- $bv := toString (default "" (get $b $res)) -}}
{{- $pv := toString (default "" (get $p $res)) -}}
{{- if or $bv $pv -}}
{{- $total := 0.0 -}}
{{- if $bv }}{{ $total = addf $total (include "umc-invite.quantity" (dict "value" $bv "what" (printf "daemonset.resourcesBase.%s.%s" $kind $res) "memory" $mem)) }}{{ end -}}
{{- if $pv }}{{ $total = addf $total (mulf $n (include "umc-invite.quantity" (dict "value" $pv "what" (printf "daemonset.resourcesPerTenant.%s.%s" $kind $res) "memory" $mem))) }}{{ end -}}
{{- if $mem }}{{ $total = addf $total (mulf $windows $perFile) }}{{ end -}}
{{- $_ := set $sum $res (printf "%d%s" (int (ceil $total)) (ternary "Mi" "m" $mem)) -}}
{{- end -}}
{{- end -}}
{{- if $sum }}{{ $_ := set $out $kind $sum }}{{ end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* The rollout rule (docs/operations.md, Rollouts): the pod's grace covers Fluent
Bit's Grace (10 s, _fluent-bit.conf.tpl), the plugin's Flush_Timeout
(60 s) and Timeout (30 s), with 10 s margin. */}}
{{- define "umc-invite.grace" -}}
{{- $min := 110 -}}
{{- $g := int .Values.terminationGracePeriodSeconds -}}
{{- if lt $g $min -}}
{{- fail (printf "terminationGracePeriodSeconds: %d is under %d: after SIGTERM Fluent Bit may start flushes for its Grace (10 s), a flush starts calls until Flush_Timeout (60 s) and a call lasts up to Timeout (30 s); a kubelet SIGKILL before 100 s (+ 10 s margin) cuts calls UMC may serve, and those users are invited twice at the next start (docs/operations.md, Rollouts)" $g $min) -}}
{{- end -}}
{{- $g -}}
{{- end -}}

{{/* The listener's LDAP admin Secret, as YAML: dict name, key. Its own
listener.ldap.auth.existingSecret first; else Nubus's
global.ldap.auth.admin.existingSecret (every Nubus chart takes the admin
password from there, so a Nubus installed with a Secret of its own names
it there); else <nubusRelease>-ldap-server-admin, Nubus's default. */}}
{{- define "umc-invite.listenerAdminSecret" -}}
{{- $own := .Values.listener.ldap.auth.existingSecret -}}
{{- $global := dig "ldap" "auth" "admin" "existingSecret" dict (.Values.global | default dict) -}}
{{- $name := "" -}}
{{- $key := "" -}}
{{- if $own.name -}}
{{- $name = tpl (toString $own.name) . -}}
{{- else if $global.name -}}
{{- $name = tpl (toString $global.name) . -}}
{{- $key = tpl (toString (dig "keyMapping" "password" "" $global)) . -}}
{{- else -}}
{{- $name = printf "%s-ldap-server-admin" (.Values.nubusRelease | default .Release.Name) -}}
{{- end -}}
{{- $key = (dig "keyMapping" "password" "" $own) | default $key | default "password" -}}
{{- toYaml (dict "name" $name "key" $key) -}}
{{- end -}}

{{/* Fluent Bit's user and group, as YAML: dict uid, gid. The sidecar's
are securityContext's (65532, the image's USER: only the pod's own
listener writes its queue). The DaemonSet's are daemonset.runAsUser and
runAsGroup, not 65532: that is the default non-root user of distroless
images, and a producer built on one would own every tenant's directories
(docs/security.md, Tenants). An upgrade that would change the uid of a
DaemonSet already running is refused: the state (.fluent-bit) and dead
letters (failed/) on each node are the old uid's, and the new one could
read neither. */}}
{{- define "umc-invite.fluentBitUser" -}}
{{- if eq .Values.mode "daemonset" -}}
{{- $uid := int64 .Values.daemonset.runAsUser -}}
{{- $gid := int64 .Values.daemonset.runAsGroup -}}
{{- $running := lookup "apps/v1" "DaemonSet" .Release.Namespace (include "umc-invite.fullname" .) -}}
{{- range (dig "spec" "template" "spec" "containers" list $running) -}}
{{- $was := dig "securityContext" "runAsUser" 0 . | int64 -}}
{{- if and (eq .name "umc-invite") $was (ne $was $uid) -}}
{{- fail (printf "daemonset.runAsUser: Fluent Bit runs as uid %d on every node and would run as %d: its tail databases, chunks (<hostPath>/.fluent-bit) and dead letters (<hostPath>/<tenant>/failed) are uid %d's, which the new uid cannot read. Either set daemonset.runAsUser and runAsGroup to %d (then no producer may run as uid %d), or delete the DaemonSet and on each node run chown -R -h %d:%d <hostPath>/.fluent-bit <hostPath>/*/failed && chown -h %d <hostPath>/*/*.send before upgrading (docs/security.md, Upgrading)" $was $uid $was $was $was $uid $gid $uid) -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "uid" $uid "gid" $gid) -}}
{{- else -}}
{{- toYaml (dict "uid" (int64 (default 65532 .Values.securityContext.runAsUser)) "gid" (int64 (default 65532 .Values.securityContext.runAsGroup))) -}}
{{- end -}}
{{- end -}}

{{/* The Fluent Bit containers' securityContext: securityContext, run as
umc-invite.fluentBitUser. */}}
{{- define "umc-invite.securityContext" -}}
{{- $sc := deepCopy (default dict .Values.securityContext) -}}
{{- if eq .Values.mode "daemonset" -}}
{{- $user := include "umc-invite.fluentBitUser" . | fromYaml -}}
{{- $_ := set $sc "runAsUser" (int64 $user.uid) -}}
{{- $_ := set $sc "runAsGroup" (int64 $user.gid) -}}
{{- end -}}
{{- with $sc }}{{ toYaml . }}{{ end -}}
{{- end -}}
