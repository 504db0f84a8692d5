{{/*
The DaemonSet's init container script (root, CHOWN, DAC_OVERRIDE and FOWNER
only; on every start of the pod): makes each tenant's directories and
gives them to Fluent Bit's user and the tenant's own group. It never follows a link: a directory is changed only
through the working directory it entered (cd -P), and only when that is
the directory at its path (pwd -P), so a link planted by a producer, or
swapped in meanwhile, changes nothing. A tenant whose directories are not
directories is skipped and reported; its output reports it too, and every
other tenant starts. Nothing inside a directory is touched.

  <root>                    root's (kubelet's)
  <root>/.fluent-bit        uid:uid 0700  tail DBs and chunks: Fluent Bit's only
  <root>/<tenant>           uid:gid 0710  the queue: the tenant's group may only pass
  <root>/<tenant>/incoming  uid:gid 2770  the intake: the tenant's producers write here
  <root>/<tenant>/failed    uid:uid 0700  dead letters: Fluent Bit's only
Call with dict "root" <hostPath> "uid" <uid> "tenants" <list of name, gid>.
*/}}
{{- define "umc-invite.prepareScript" -}}
root={{ .root | quote }}
uid={{ .uid }}
# prepare DIR OWNER MODE: DIR a directory of its own (made if missing),
# never through a link.
prepare() {
  if [ -L "$1" ] || { [ -e "$1" ] && [ ! -d "$1" ]; }; then
    echo "prepare-queues: $1 is not a directory (a link or a file): left as it is"
    return 1
  fi
  mkdir "$1" 2>/dev/null
  if ! ( cd -P "$1" 2>/dev/null && [ "$(pwd -P)" = "$1" ] && chown -h "$2" . && chmod "$3" . ); then
    echo "prepare-queues: $1 is not a directory of its own (replaced while it was prepared?): left as it is"
    return 1
  fi
}
prepare "$root/.fluent-bit" "$uid:$uid" u=rwx,go=,ug-s || exit 1
skipped=""
{{- range .tenants }}
if ! { prepare "$root/{{ .name }}" "$uid:{{ .gid }}" u=rwx,g=x,o=,ug-s &&
  prepare "$root/{{ .name }}/incoming" "$uid:{{ .gid }}" u=rwx,g=rwxs,o= &&
  prepare "$root/{{ .name }}/failed" "$uid:$uid" u=rwx,go=,ug-s; }; then
  skipped="$skipped {{ .name }}"
fi
{{- end }}
if [ -n "$skipped" ]; then
  echo "prepare-queues: tenants skipped:$skipped (their outputs stay disabled until their directories are fixed; the others start)"
fi
exit 0
{{- end -}}
