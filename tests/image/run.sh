#!/usr/bin/env bash
# The image test: build the repository's Dockerfile with podman on the local
# stand-in bases (../shared/images/make-bases.sh: no registry is reachable
# here) and run the image as its users do, against the UMC stand-in on
# loopback (the containers share the host's network):
#   (a) as the chart runs it: read-only root without a /tmp, user 65532, all
#       capabilities dropped, no new privileges, the rendered ConfigMap, the
#       password as a Secret, the queue on a volume prepared as fsGroup does;
#   (b) as `docker run` with a fresh named volume and the image's defaults;
#   (c) as build/kubernetes/sidecar.yaml runs it, applied with only its
#       documented edits: its ConfigMap and its container's environment as
#       they are (anonymous calls: no user, no Secret), the UMC Service's
#       address being the stand-in's here;
# and the operator's command inside it. Without the script or root it says
# so and skips (exit 0). Any failed expectation: exit 1.
#   IMAGE      the tag to build        (default localhost/umc-invite:ci)
#   STATE_DIR  the stand-ins' state    (default /var/tmp/stand-in-bases)
#   SHARED_DIR the shared checkout     (default ../shared beside this one)
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
make_bases=${SHARED_DIR:-$(cd .. && pwd)/shared}/images/make-bases.sh
IMAGE=${IMAGE:-localhost/umc-invite:ci}
STATE_DIR=${STATE_DIR:-/var/tmp/stand-in-bases}
GO_IMAGE=localhost/stand-in/golang:1.26-trixie
FLUENT_BIT_IMAGE=localhost/stand-in/fluent-bit:5.1.1
T0=$SECONDS

say() { printf '[image-test %4ss] %s\n' "$((SECONDS - T0))" "$*"; }
if [ ! -f "$make_bases" ]; then
  say "SKIP: no $make_bases (it builds the stand-in bases): the image is not built or run"; exit 0
fi
if [ "$(id -u)" != 0 ]; then
  say "SKIP: not root (the stand-ins and rootful podman need root): the image is not built or run"; exit 0
fi

failures=0
pass() { say "ok   $*"; }
fail() { say "FAIL $*"; failures=$((failures + 1)); }

tmp=$(mktemp -d /var/tmp/umc-invite-image-test.XXXXXX)
id=$(basename "$tmp" | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9-')
ctr_chart=$id-chart ctr_docker=$id-docker ctr_raw=$id-raw vol=$id-queue stub_pid=
cleanup() {
  local rc=$?
  if [ -n "${CONTAINERS_CONF:-}" ]; then
    podman rm -f -t 2 "$ctr_chart" "$ctr_docker" "$ctr_raw" >/dev/null 2>&1 || true
    podman volume rm -f "$vol" >/dev/null 2>&1 || true
  fi
  [ -z "$stub_pid" ] || kill "$stub_pid" 2>/dev/null || true
  rm -rf --one-file-system "$tmp"
  exit "$rc"
}
trap cleanup EXIT

# --- the stand-in bases (cached in $STATE_DIR between runs) ---
t=$SECONDS
for try in 1 2 3 4 5 6 7 8 9 10 11 12; do   # another checkout's make-bases.sh may hold the lock
  if STATE_DIR=$STATE_DIR GO_MODULES_FROM=$repo bash "$make_bases" >"$tmp/make-bases.log" 2>&1; then break; fi
  if grep -q 'another make-bases.sh is using' "$tmp/make-bases.log" && [ "$try" -lt 12 ]; then
    say "make-bases.sh: another run holds $STATE_DIR: waiting"; sleep 15; continue
  fi
  cat "$tmp/make-bases.log"; say "FAIL make-bases.sh"; exit 1
done
grep -E 'skipped|imported|all done' "$tmp/make-bases.log" | sed 's/^/    /'
say "stand-in bases ready in $((SECONDS - t))s"
# shellcheck source=/dev/null
source "$STATE_DIR/env"   # CONTAINERS_CONF: runc, cgroupfs, host network

# --- build ---
old=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
t=$SECONDS
# --layers=false: no intermediate images pile up run after run; Go's cache
# mounts keep a rebuild to seconds all the same.
if ! nice -n 10 podman build --layers=false --pull=never --build-arg GO_IMAGE=$GO_IMAGE --build-arg FLUENT_BIT_IMAGE=$FLUENT_BIT_IMAGE \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" --iidfile "$tmp/iid" -t "$IMAGE" . >"$tmp/build.log" 2>&1; then
  tail -n 40 "$tmp/build.log"; say "FAIL podman build"; exit 1
fi
build_s=$((SECONDS - t))
new=$(cat "$tmp/iid"); new=${new#sha256:}
# The image just built, by its ID: another checkout may retag $IMAGE meanwhile.
if [ -n "$old" ] && [ "$old" != "$new" ]; then podman rmi "$old" >/dev/null 2>&1 || true; fi
size=$(podman image inspect --format '{{.Size}}' "$new")
say "built $IMAGE (${new:0:12}) in ${build_s}s: $((size / 1000000)) MB ($size bytes)"

# --- labels: its own, not Fluent Bit's ---
label() { podman image inspect --format "{{index .Labels \"org.opencontainers.image.$1\"}}" "$new"; }
[ "$(label title)" = umc-invite ] && pass "label title: umc-invite" || fail "label title: $(label title)"
[ "$(label revision)" = "$revision" ] && pass "label revision: $revision" || fail "label revision: $(label revision)"
[ "$(label version)" = "$version" ] && pass "label version: $version" || fail "label version: $(label version)"
for l in description licenses source; do
  if podman image inspect --format '{{json .Labels}}' "$new" | grep -q "\"org.opencontainers.image.$l\""; then
    pass "label $l: \"$(label $l)\""; else fail "label $l: missing"; fi
done
case "$(label description)" in *umc_invite*) ;; *) fail "label description is not this image's: $(label description)" ;; esac

# --- helpers ---
# http_get URL: the body of a 200 answer, else a non-zero exit (python3:
# .ci/run installs it; curl may be missing)
http_get() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_for SECONDS WHAT COMMAND...: until the command succeeds
wait_for() {
  local limit=$1 what=$2 end=$((SECONDS + $1)); shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then fail "$what: not within ${limit}s"; return 1; fi
    sleep 0.2
  done
}
# expect NAME WANT_EXIT GREP_PATTERN COMMAND...: the exit status and a line of its output
expect() {
  local name=$1 want=$2 pattern=$3 out code=0; shift 3
  out=$("$@" 2>&1) || code=$?
  if [ "$code" = "$want" ] && grep -qE -- "$pattern" <<<"$out"; then
    pass "$name: exit $code, /$pattern/"
  else
    fail "$name: exit $code (want $want), output without /$pattern/:"; sed 's/^/      | /' <<<"$out" | head -n 30
  fi
}
invitations() { grep -c "username=\"$1\" method=email .* -> 200" "$tmp/stub.log" || true; }
# invited_as USER AUTH: every 200 for USER came with AUTH (anonymous or "user")
invited_as() { ! grep "username=\"$1\" method=email .* -> 200" "$tmp/stub.log" | grep -qv " auth=$2 -> "; }
invited() { [ "$(invitations "$1")" -ge 1 ]; }
# queue DIR USER [LINE]: as the listener does, under a hidden name, then renamed
queue_user() {
  local dir=$1 user=$2 line=${3:-}
  [ -n "$line" ] || line=$(printf '{"username": "%s"}' "$user")
  printf '%s\n' "$line" >"$dir/.$user.tmp"
  chown 65532:65532 "$dir/.$user.tmp"; chmod 0664 "$dir/.$user.tmp"
  mv "$dir/.$user.tmp" "$dir/$user.send"
}
logs() { say "last lines of $1:"; podman logs --tail 25 "$1" 2>&1 | sed 's/^/      | /'; }
# delivered NAME CONTAINER QUEUE_HOST_DIR USER HTTP_PORT METRICS_PORT SENT
delivered() {
  local name=$1 ctr=$2 q=$3 user=$4 hp=$5 mp=$6 sent=$7 n
  if wait_for 30 "$name: $user invited" invited "$user" &&
    wait_for 10 "$name: $user's queue file removed" test ! -e "$q/incoming/$user.send" -a ! -e "$q/$user.send"; then
    sleep 1   # a second call would come within the next flushes
    n=$(invitations "$user")
    [ "$n" = 1 ] && pass "$name: $user invited once, the queue file removed" || fail "$name: $user invited $n times"
  else
    logs "$ctr"
  fi
  expect "$name: health (/api/v1/health)" 0 '^ok$' http_get "http://127.0.0.1:$hp/api/v1/health"
  expect "$name: /metrics counts the invitation" 0 "^umc_invite_invitations_total\\{[^}]*result=\"sent\"[^}]*\\} $sent\$" \
    http_get "http://127.0.0.1:$mp/metrics"
}

# --- the UMC stand-in on loopback ---
go build -o "$tmp/umc-stub" ./tests/umcstub/cmd/umc-stub
"$tmp/umc-stub" -user self-service-invitation -password ci-password -listen 127.0.0.1:0 -addr-file "$tmp/umc.addr" >"$tmp/stub.log" 2>&1 &
stub_pid=$!
wait_for 10 "UMC stand-in listening" test -s "$tmp/umc.addr" || exit 1
umc=$(cat "$tmp/umc.addr")
say "UMC stand-in at $umc"

# --- the chart's config: the rendered ConfigMap, and its fluent-bit.conf ---
go -C tests/helm build -o "$tmp/render" ./cmd/render
mkdir -p "$tmp/chart/config" "$tmp/chart/secret" "$tmp/chart/queue"
(cd tests/helm && "$tmp/render" -name nubus -namespace nubus -set 'global.ldap.baseDn=dc=example\,dc=org' -show-only templates/configmap.yaml) >"$tmp/chart/configmap.yaml"
awk '/^  fluent-bit.conf: \|/ {on = 1; next} on && /^  [^ ]/ {on = 0} on {sub(/^    /, ""); print}' \
  "$tmp/chart/configmap.yaml" >"$tmp/chart/config/fluent-bit.conf"
grep -q '^\[OUTPUT\]' "$tmp/chart/config/fluent-bit.conf" || { fail "no fluent-bit.conf in the rendered ConfigMap"; exit 1; }
# The Secret, as mounted with defaultMode 0440 and fsGroup 65532.
printf 'ci-password' >"$tmp/chart/secret/password"
chgrp 65532 "$tmp/chart/secret/password"; chmod 0440 "$tmp/chart/secret/password"
# The queue volume as fsGroup prepares it: group 65532, group-writable, setgid.
chgrp 65532 "$tmp/chart/queue"; chmod 2775 "$tmp/chart/queue"

hp=$(free_port) mp=$(free_port)
# The chart's securityContext and environment (build/kubernetes/sidecar.yaml).
chart_run=(--read-only --read-only-tmpfs=false --user 65532:65532 --group-add 65532 --cap-drop ALL
  --security-opt no-new-privileges
  -v "$tmp/chart/config:/fluent-bit/etc/umc-invite:ro" -v "$tmp/chart/secret:/run/secrets/umc-invite:ro"
  -v "$tmp/chart/queue:/var/cache/listener"
  -e UMC_URL="$umc" -e UMC_AUTH_USER=self-service-invitation -e UMC_AUTH_PASSWORD_FILE=/run/secrets/umc-invite/password
  -e UMC_LANGUAGE=de-DE -e QUEUE_DIR=/var/cache/listener -e INTAKE_DIR=/var/cache/listener/incoming
  -e STATE_DIR=/var/cache/listener/.fluent-bit -e HTTP_PORT="$hp" -e METRICS_LISTEN="127.0.0.1:$mp")
# Locked down as the chart, without the chart's mounts: a read-only root, no /tmp.
bare=(--read-only --read-only-tmpfs=false --user 65532:65532 --cap-drop ALL --security-opt no-new-privileges)

# --- the operator's command, before anything runs ---
expect "umc-invite --help (on PATH)" 0 '^usage: umc-invite COMMAND' \
  podman run --rm "${bare[@]}" --entrypoint umc-invite "$new" --help
expect "check: the image's own configs" 0 'fluent-bit.yaml: 1 umc_invite output\(s\): all well' \
  podman run --rm "${bare[@]}" -e UMC_URL=http://umc-server --entrypoint umc-invite "$new" \
  check -c /fluent-bit/etc/umc-invite/fluent-bit.conf -c /fluent-bit/etc/umc-invite/fluent-bit.yaml
expect "check: the chart's init container (rendered config, the pod's mounts and environment)" 0 \
  'fluent-bit.conf: 1 umc_invite output\(s\): all well' \
  podman run --rm "${chart_run[@]}" --entrypoint /fluent-bit/bin/umc-invite "$new" \
  check -c /fluent-bit/etc/umc-invite/fluent-bit.conf
cp "$tmp/chart/configmap.yaml" "$tmp/configmap.yaml"; chmod 0644 "$tmp/configmap.yaml"
offline_env=(-e UMC_URL=http://umc-server -e UMC_AUTH_USER=self-service-invitation
  -e UMC_AUTH_PASSWORD_FILE=/run/secrets/umc-invite/password -v "$tmp/configmap.yaml:/ci/configmap.yaml:ro")
expect "check: the rendered ConfigMap without its Secret" 1 'Auth_Password_File: cannot read' \
  podman run --rm "${bare[@]}" "${offline_env[@]}" --entrypoint umc-invite "$new" check -c /ci/configmap.yaml
expect "check --offline: the rendered ConfigMap, read-only root, no /tmp" 0 \
  'not found here, not checked: Auth_Password_File' \
  podman run --rm "${bare[@]}" "${offline_env[@]}" --entrypoint umc-invite "$new" check --offline -c /ci/configmap.yaml

# --- (a) as the chart runs it ---
say "(a) the chart's way: read-only root, user 65532, no capabilities, the queue on an fsGroup volume"
podman run -d --name "$ctr_chart" "${chart_run[@]}" "$new" \
  -e /fluent-bit/plugins/out_umc_invite.so -c /fluent-bit/etc/umc-invite/fluent-bit.conf >/dev/null
if wait_for 30 "(a) health answers" http_get "http://127.0.0.1:$hp/api/v1/health" &&
  wait_for 10 "(a) the intake made" test -d "$tmp/chart/queue/incoming"; then
  queue_user "$tmp/chart/queue/incoming" ci-alice
  queue_user "$tmp/chart/queue/incoming" ci-garbage '{"no_username": true}'
  delivered "(a)" "$ctr_chart" "$tmp/chart/queue" ci-alice "$hp" "$mp" 1
  invited_as ci-alice '"self-service-invitation"' && pass "(a) credentials given: UMC got them" ||
    fail "(a) ci-alice's invitation did not carry the configured user"
  wait_for 10 "(a) the garbage dead-lettered" test -e "$tmp/chart/queue/failed/ci-garbage.send" || true
  expect "(a) umc-invite dead-letters" 0 'bad_input +- ' \
    podman exec "$ctr_chart" umc-invite dead-letters --dir /var/cache/listener/failed
  expect "(a) umc-invite probe (inviting no one)" 0 'ok +send_token' \
    podman exec "$ctr_chart" umc-invite probe -c /fluent-bit/etc/umc-invite/fluent-bit.conf
  expect "(a) umc-invite requeue (a user, into the intake)" 0 '^ci-carol: queued as /var/cache/listener/incoming/ci-carol.send$' \
    podman exec "$ctr_chart" umc-invite requeue --queue-dir /var/cache/listener ci-carol
  delivered "(a)" "$ctr_chart" "$tmp/chart/queue" ci-carol "$hp" "$mp" 2
  expect "(a) umc-invite check --offline in the running container" 0 'all well' \
    podman exec "$ctr_chart" umc-invite check --offline -c /fluent-bit/etc/umc-invite/fluent-bit.conf
  expect "(a) umc-invite queue (the config's Queue_Dir, no flag): nobody waits" 0 '^nobody waiting$' \
    podman exec "$ctr_chart" umc-invite queue
  [ "$(podman inspect --format '{{.State.Running}}' "$ctr_chart")" = true ] && pass "(a) still running" ||
    { fail "(a) exited"; logs "$ctr_chart"; }
else
  logs "$ctr_chart"
fi
podman rm -f -t 5 "$ctr_chart" >/dev/null

# --- (b) as `docker run` with a fresh named volume ---
say "(b) docker run's way: the image's user and command, a fresh named volume on the queue"
hp=$(free_port) mp=$(free_port)
podman volume create "$vol" >/dev/null
podman run -d --name "$ctr_docker" -v "$vol:/var/cache/listener" \
  -e UMC_URL="$umc" -e HTTP_PORT="$hp" -e METRICS_LISTEN="127.0.0.1:$mp" "$new" >/dev/null
q=$(podman volume inspect --format '{{.Mountpoint}}' "$vol")
if wait_for 30 "(b) health answers" http_get "http://127.0.0.1:$hp/api/v1/health" &&
  wait_for 10 "(b) the intake made" test -d "$q/incoming"; then
  owner=$(stat -c '%u:%g' "$q")
  [ "$owner" = 65532:65532 ] && pass "(b) the fresh volume is 65532's ($owner, $(stat -c %A "$q"))" ||
    fail "(b) the fresh volume is $owner's"
  queue_user "$q/incoming" ci-bob
  delivered "(b)" "$ctr_docker" "$q" ci-bob "$hp" "$mp" 1
  expect "(b) umc-invite dead-letters" 0 '^no dead letters$' \
    podman exec "$ctr_docker" umc-invite dead-letters --dir /var/cache/listener/failed
else
  logs "$ctr_docker"
fi

# --- (c) as build/kubernetes/sidecar.yaml runs it ---
say "(c) the raw manifest's way: its ConfigMap and environment as they are, anonymous"
mkdir -p "$tmp/raw/config" "$tmp/raw/queue"
# (the ConfigMap's block ends at its next key or the next object's "---")
awk '/^  fluent-bit.conf: \|/ {on = 1; next} on && /^[^ ]|^  [^ ]/ {on = 0} on {sub(/^    /, ""); print}' \
  build/kubernetes/sidecar.yaml >"$tmp/raw/config/fluent-bit.conf"
# The umc-invite container's env, as listed in the StatefulSet.
awk '/^        - name: umc-invite$/ {c = 1} c && /^          env:$/ {e = 1; next}
  e && /^            - name: / {n = $3} e && /^              value: / {v = substr($0, index($0, "value: ") + 7); gsub(/^"|"$/, "", v); print n "=" v}
  e && /^          [a-z]/ {exit}' build/kubernetes/sidecar.yaml >"$tmp/raw/env"
grep -qx 'UMC_AUTH_USER=' "$tmp/raw/env" && grep -qx 'UMC_AUTH_PASSWORD_FILE=' "$tmp/raw/env" &&
  ! grep -q '^kind: Secret' build/kubernetes/sidecar.yaml && pass "(c) the manifest calls UMC anonymously: no user, no password file, no Secret" ||
  fail "(c) the manifest's environment names credentials: $(grep UMC_AUTH "$tmp/raw/env" | tr '\n' ' ')"
chgrp 65532 "$tmp/raw/queue"; chmod 2775 "$tmp/raw/queue"
hp=$(free_port) mp=$(free_port)
raw_env=()
while IFS= read -r kv; do
  case $kv in
    UMC_URL=*) kv="UMC_URL=$umc" ;;                  # the Service nubus-umc-server: the stand-in here
    HTTP_PORT=*) kv="HTTP_PORT=$hp" ;;               # ports: the host's network is shared
    METRICS_LISTEN=*) kv="METRICS_LISTEN=127.0.0.1:$mp" ;;
  esac
  raw_env+=(-e "$kv")
done <"$tmp/raw/env"
podman run -d --name "$ctr_raw" --read-only --read-only-tmpfs=false --user 65532:65532 --group-add 65532 --cap-drop ALL \
  --security-opt no-new-privileges -v "$tmp/raw/config:/fluent-bit/etc/umc-invite:ro" -v "$tmp/raw/queue:/var/cache/listener" \
  "${raw_env[@]}" "$new" -e /fluent-bit/plugins/out_umc_invite.so -c /fluent-bit/etc/umc-invite/fluent-bit.conf >/dev/null
if wait_for 30 "(c) health answers" http_get "http://127.0.0.1:$hp/api/v1/health" &&
  wait_for 10 "(c) the intake made" test -d "$tmp/raw/queue/incoming"; then
  queue_user "$tmp/raw/queue/incoming" ci-dave
  delivered "(c)" "$ctr_raw" "$tmp/raw/queue" ci-dave "$hp" "$mp" 1
  invited_as ci-dave anonymous && pass "(c) ci-dave invited by an anonymous call, as Nubus's own sender calls" ||
    fail "(c) ci-dave's invitation carried credentials"
  expect "(c) umc-invite probe on the manifest's config (anonymous)" 0 'ok +auth +no Auth_User: anonymous' \
    podman exec "$ctr_raw" umc-invite probe -c /fluent-bit/etc/umc-invite/fluent-bit.conf
else
  logs "$ctr_raw"
fi
podman rm -f -t 5 "$ctr_raw" >/dev/null

total=$(grep -c ' -> 200$' "$tmp/stub.log" || true)
[ "$total" = 4 ] && pass "UMC got 4 invitations in all (ci-alice, ci-carol, ci-bob, ci-dave)" || fail "UMC got $total invitations, want 4"
say "image: $IMAGE, $((size / 1000000)) MB, built in ${build_s}s; image test in $((SECONDS - T0))s"
if [ "$failures" -gt 0 ]; then say "FAIL: $failures expectation(s) not met"; exit 1; fi
say "PASS"
