#!/usr/bin/env bash
# containerd.sh RUNTIME — containerd's runc v2 shim driving RUNTIME, through ctr.
#
# Starts a private containerd (own root, state and sockets under a temp dir; CRI and
# the other snapshotters disabled), imports an OCI image archive made here from the
# host's static busybox, and runs every task with
#   ctr run --runc-binary RUNTIME --runc-root $T/rtroot --snapshotter native
# so the shim calls RUNTIME exactly as it calls runc. Containers live in a containerd
# namespace named husk<pid>, which is also their cgroup parent (/husk<pid>/<id>).
# Prints "ok NAME" / "FAIL NAME: reason" per check and "N passed, M failed"; exits
# non-zero if anything failed. Everything is removed on exit, also after a failure.
# Env: CLIENT_TIMEOUT (seconds per ctr command, 60), KEEP=1 keeps the temp dir.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

RT=${1:?usage: containerd.sh /path/to/runtime}
RT=$(realpath -e "$RT" 2>/dev/null) && [ -x "$RT" ] || { echo "containerd.sh: runtime '$1' not executable" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "containerd.sh: needs root" >&2; exit 2; }
for c in containerd ctr containerd-shim-runc-v2 script jq sha256sum; do
    command -v $c >/dev/null || { echo "containerd.sh: $c not installed" >&2; exit 2; }
done
static_busybox >/dev/null || { echo "containerd.sh: no static busybox (apt-get install busybox-static)" >&2; exit 2; }

T=$(mktemp -d /tmp/husk-containerd.XXXXXX)
cd "$T" || exit 2
NS=husk$$
SOCK=$T/containerd.sock
RTROOT=$T/rtroot
cgroup_tops=$(ls /sys/fs/cgroup)
had_run_containerd=0; [ -d /run/containerd ] && had_run_containerd=1   # shim sockets go there
mkdir -p "$T"/{share,fifo} "$RTROOT"
cat >"$T/config.toml" <<EOF
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.overlayfs",
]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
CTR=(ctr --address "$SOCK" --namespace "$NS")
SHIM=(--runc-binary "$RT" --runc-root "$RTROOT" --snapshotter native --fifo-dir "$T/fifo")
EXEC=("${CTR[@]}" task exec --fifo-dir "$T/fifo")
IMG=localhost/husk-test:latest
daemon='' watcher=''

cleanup() {
    local id f d
    if [ -n "$daemon" ]; then
        for id in $("${CTR[@]}" task ls -q 2>/dev/null); do
            "${CTR[@]}" task kill -s SIGKILL "$id" >/dev/null 2>&1
            poll 5 task_gone_or_stopped "$id"
            "${CTR[@]}" task rm -f "$id" >/dev/null 2>&1
        done
        for id in $("${CTR[@]}" container ls -q 2>/dev/null); do "${CTR[@]}" container rm "$id" >/dev/null 2>&1; done
        "${CTR[@]}" image rm "$IMG" >/dev/null 2>&1
    fi
    [ -n "$watcher" ] && kill "$watcher" 2>/dev/null
    [ -n "$daemon" ] && { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; }
    for f in "$T"/state/io.containerd.runtime.v2.task/"$NS"/*/shim.pid; do   # shims of tasks that would not go
        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    done
    umount_below "$T"
    cg_remove "$NS"
    for d in /sys/fs/cgroup/*; do
        grep -qxF "${d##*/}" <<<"$cgroup_tops" || mountpoint -q "$d" || rmdir "$d" 2>/dev/null
    done
    rmdir "/run/containerd/runc/$NS" 2>/dev/null
    [ $had_run_containerd = 0 ] && rm -rf /run/containerd
    if [ "${KEEP:-0}" = 1 ]; then echo "containerd.sh: kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

status() { "${CTR[@]}" task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
status_is() { [ "$(status "$1")" = "$2" ]; }
task_gone_or_stopped() { local s; s=$(status "$1"); [ -z "$s" ] || [ "$s" = STOPPED ]; }
task_pid() { "${CTR[@]}" task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }
logged() { grep -q "$2" "$T/$1.log" 2>/dev/null; }
# remove a task (killed first) and its container
discard() {
    "${CTR[@]}" task kill -s SIGKILL "$1" >/dev/null 2>&1
    poll 10 task_gone_or_stopped "$1"
    "${CTR[@]}" task rm "$1" >/dev/null 2>&1
    "${CTR[@]}" container rm "$1" >/dev/null 2>&1
}

# ---- daemon -----------------------------------------------------------------------
containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 &
daemon=$!
if ! poll 30 "${CTR[@]}" version; then fail daemon "$(tail -n 3 "$T/containerd.log" | tr '\n' ' ')"; summary; exit 1; fi
pass daemon
"${CTR[@]}" events >"$T/events.log" 2>&1 &
watcher=$!

# ---- image: an OCI image layout with one layer, as a tar archive --------------------
make_rootfs "$T/rootfs"
L=$T/layout
mkdir -p "$L/blobs/sha256"
# add_blob FILE MEDIATYPE -> prints the descriptor JSON
add_blob() {
    local sum size
    sum=$(sha256sum "$1" | cut -d' ' -f1); size=$(stat -c %s "$1")
    cp "$1" "$L/blobs/sha256/$sum"
    jq -cn --arg m "$2" --arg d "sha256:$sum" --argjson s "$size" '{mediaType: $m, digest: $d, size: $s}'
}
tar -C "$T/rootfs" -cf "$T/layer.tar" .
layer=$(add_blob "$T/layer.tar" application/vnd.oci.image.layer.v1.tar)
jq -n --argjson l "$layer" '{architecture: "amd64", os: "linux",
    config: {Env: ["PATH=/bin"], Cmd: ["/bin/sh"]}, rootfs: {type: "layers", diff_ids: [$l.digest]}}' >"$T/imgconfig.json"
config=$(add_blob "$T/imgconfig.json" application/vnd.oci.image.config.v1+json)
jq -n --argjson c "$config" --argjson l "$layer" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: $c, layers: [$l]}' >"$T/manifest.json"
manifest=$(add_blob "$T/manifest.json" application/vnd.oci.image.manifest.v1+json)
jq -n --argjson m "$manifest" --arg n "$IMG" \
    '{schemaVersion: 2, manifests: [$m + {annotations: {"io.containerd.image.name": $n}}]}' >"$L/index.json"
echo '{"imageLayoutVersion": "1.0.0"}' >"$L/oci-layout"
tar -C "$L" -cf "$T/image.tar" .
run "${CTR[@]}" image import --snapshotter native "$T/image.tar"
if [ "$rc" -ne 0 ]; then fail image "$(ctx)"; summary; exit 1; fi
pass image

n=0   # one-shot task ids: o1, o2, ...
R() { "${CTR[@]}" run --rm "${SHIM[@]}" "$@"; }

# ---- one-shot containers ----------------------------------------------------------
expect    run-stdout        hi-there        R $IMG o$((n += 1)) echo hi-there
expect_rc run-exit-code     7               R $IMG o$((n += 1)) sh -c 'exit 7'
# ctr keeps the task's stdin open after EOF: read a known number of lines
expect    run-stdin         line-1,line-2   R $IMG o$((n += 1)) sh -c 'head -n 2 | paste -s -d, -' < <(printf 'line-1\nline-2\n')
run in_pty "${CTR[@]}" run --rm -t "${SHIM[@]}" $IMG o$((n += 1)) sh <<<'test -t 0 && test -t 1 && echo typed-$((6*7)); exit 9'
verdict   run-tty           "$(ctx)" eval '[ "$rc" = 9 ] && grep -qx typed-42 <<<"$out"'
expect    run-env-cwd       v1:/var         R --env K=v1 --cwd /var $IMG o$((n += 1)) sh -c 'echo $K:$PWD'
expect    run-pid1          1               R $IMG o$((n += 1)) sh -c 'echo $$'
expect    readonly-rootfs   ro              R --read-only $IMG o$((n += 1)) sh -c 'touch /f 2>/dev/null && echo rw || echo ro'
echo host-data >"$T/share/in"
expect    bind-mount        host-data       R --mount "type=bind,src=$T/share,dst=/mnt/share,options=rbind:rw" $IMG o$((n += 1)) \
          sh -c 'cat /mnt/share/in; echo ctr-data >/mnt/share/out'
verdict   bind-mount-write  "host sees '$(cat "$T/share/out" 2>/dev/null)'" [ "$(cat "$T/share/out" 2>/dev/null)" = ctr-data ]
expect    bind-mount-ro     denied          R --mount "type=bind,src=$T/share,dst=/mnt/share,options=rbind:ro" $IMG o$((n += 1)) \
          sh -c 'touch /mnt/share/x 2>/dev/null || echo denied'
expect    tmpfs-mount       tmpfs:rw        R --mount "type=tmpfs,src=tmpfs,dst=/scratch,options=size=1m" $IMG o$((n += 1)) sh -c \
          'awk "\$2 == \"/scratch\" { print \$3 }" /proc/mounts | tr "\n" :; touch /scratch/f && echo rw'
# CAP_NET_ADMIN (bit 12) added, CAP_CHOWN (bit 0) and CAP_KILL (bit 5) dropped
expect    caps              1:0:0           R --cap-add CAP_NET_ADMIN --cap-drop CAP_CHOWN --cap-drop CAP_KILL $IMG o$((n += 1)) sh -c \
          'c=0x$(grep ^CapEff: /proc/self/status | cut -f2); echo $(((c >> 12) & 1)):$((c & 1)):$(((c >> 5) & 1))'
expect    caps-default-no-sysadmin denied   R $IMG o$((n += 1)) sh -c 'mount -t tmpfs x /mnt 2>/dev/null && echo mounted || echo denied'
expect    privileged        mounted         R --privileged $IMG o$((n += 1)) sh -c 'mount -t tmpfs x /mnt && echo mounted'
expect    seccomp-default   2               R --seccomp $IMG o$((n += 1)) sh -c 'grep ^Seccomp: /proc/self/status | cut -f2'
expect    seccomp-none      0               R $IMG o$((n += 1)) sh -c 'grep ^Seccomp: /proc/self/status | cut -f2'
expect    no-new-privs      1               R $IMG o$((n += 1)) sh -c 'grep ^NoNewPrivs: /proc/self/status | cut -f2'
expect    allow-new-privs   0               R --allow-new-privs $IMG o$((n += 1)) sh -c 'grep ^NoNewPrivs: /proc/self/status | cut -f2'
expect_rc oom-killed        137             R --memory-limit 16777216 $IMG o$((n += 1)) dd if=/dev/zero of=/dev/null bs=48M count=1

# limits, read on the host (ctr's default spec has no /sys/fs/cgroup mount)
# limit NAME WANT V1CTL V1FILE V2FILE RUN-FLAGS...
limit() {
    local name=$1 want=$2 ctl=$3 f1=$4 f2=$5 c; shift 5
    c=o$((n += 1))
    run "${CTR[@]}" run -d "${SHIM[@]}" "$@" $IMG $c sleep 600
    [ "$rc" -eq 0 ] && run cg_read "$(task_pid $c)" "$ctl" "$f1" "$f2"
    if [ "${out%% *}" = "$want" ]; then pass "$name"; else fail "$name" "want '$want'; $(ctx)"; fi
    discard $c
}
limit     limit-memory      100663296       memory memory.limit_in_bytes memory.max --memory-limit 100663296
limit     limit-cpu-quota   25000           cpu cpu.cfs_quota_us cpu.max --cpus 0.25
limit     limit-cpu-shares  $SHARES512      cpu cpu.shares cpu.weight --cpu-shares 512

# a full runtime spec (ctr run --config): user + groups, hostname, pids limit, tmpfs,
# and a rootfs that containerd does not manage
"${CTR[@]}" oci spec | jq --arg root "$T/rootfs" --arg cg "/$NS/spec" '
    .root = {path: $root, readonly: true}
  | .process.args = ["sh", "-c", "echo $(id -u):$(id -G | tr \" \" ,):$(hostname):$(cat /proc/self/cgroup | grep -c pids); sleep 600"]
  | .process.user = {uid: 1000, gid: 1000, additionalGids: [2000]}
  | .process.env = ["PATH=/bin"]
  | .hostname = "ctrhost"
  | .linux.cgroupsPath = $cg
  | .linux.resources.pids = {limit: 42}
  | .mounts += [{destination: "/scratch", type: "tmpfs", source: "tmpfs", options: ["nosuid", "size=1m"]}]
  ' >"$T/spec.json"
run "${CTR[@]}" run -d "${SHIM[@]}" --log-uri "file://$T/spec.log" --config "$T/spec.json" spec
verdict   spec-run          "$(ctx)" eval '[ "$rc" = 0 ] && poll 10 logged spec :'
run cat "$T/spec.log"
verdict   spec-user-hostname "$(ctx)" grep -q '^1000:1000,2000:ctrhost:' <<<"$out"
run cg_read "$(task_pid spec)" pids pids.max pids.max
verdict   limit-pids        "$(ctx)" [ "$out" = 42 ]
discard spec

# ---- one task through its life ------------------------------------------------------
BODY='trap "echo sig-usr2" USR2; trap "echo sig-term; exit 0" TERM; echo up; while :; do sleep 0.1; done'
run "${CTR[@]}" run -d "${SHIM[@]}" --memory-limit 100663296 --log-uri "file://$T/life.log" $IMG life sh -c "$BODY"
verdict   detached-logs     "$(ctx)" eval '[ "$rc" = 0 ] && poll 15 logged life up'
verdict   task-list         "status=$(status life)" status_is life RUNNING
PID=$(task_pid life)
expect    exec              from-exec       "${EXEC[@]}" --exec-id e1 life echo from-exec
expect    exec-user-cwd     1000:/tmp       "${EXEC[@]}" --exec-id e2 --user 1000 --cwd /tmp life sh -c 'echo $(id -u):$PWD'
expect_rc exec-exit-code    23              "${EXEC[@]}" --exec-id e3 life sh -c 'exit 23'
expect    exec-stdin        in-exec         "${EXEC[@]}" --exec-id e4 life head -n 1 <<<in-exec
run in_pty "${EXEC[@]}" -t --exec-id e5 life sh <<<'test -t 0 && test -t 1 && echo typed-$((6*7)); exit 11'
verdict   exec-tty          "$(ctx)" eval '[ "$rc" = 11 ] && grep -qx typed-42 <<<"$out"'
run "${EXEC[@]}" -d --exec-id e6 life sh -c 'sleep 0.3; echo done >/tmp/detached'
verdict   exec-detached     "$(ctx)" eval '[ "$rc" = 0 ] && poll 10 "${EXEC[@]}" --exec-id e7 life grep -q done /tmp/detached'
run "${CTR[@]}" task ps life            # the shim runs "RUNTIME ps --format json"
verdict   task-ps           "$(ctx)" eval '[ -n "$PID" ] && awk "{ print \$1 }" <<<"$out" | grep -qx "$PID"'
run "${CTR[@]}" task metrics life
verdict   metrics           "$(ctx)" grep -q 100663296 <<<"$out"
run cg_read "$PID" memory memory.limit_in_bytes memory.max
verdict   limit-memory-host "$(ctx)" [ "$out" = 100663296 ]
run "${CTR[@]}" task pause life
verdict   pause             "$(ctx) status=$(status life)" eval '[ "$rc" = 0 ] && status_is life PAUSED'
run cg_read "$PID" freezer freezer.state cgroup.freeze
verdict   pause-frozen      "$(ctx)" eval '[ "$out" = FROZEN ] || [ "$out" = 1 ]'
run "${CTR[@]}" task resume life
verdict   resume            "$(ctx) status=$(status life)" eval '[ "$rc" = 0 ] && status_is life RUNNING'
run cg_read "$PID" freezer freezer.state cgroup.freeze
verdict   resume-thawed     "$(ctx)" eval '[ "$out" = THAWED ] || [ "$out" = 0 ]'
expect    exec-after-resume alive           "${EXEC[@]}" --exec-id e8 life echo alive
run "${CTR[@]}" task kill -s SIGUSR2 life
verdict   kill-signal       "$(ctx)" eval '[ "$rc" = 0 ] && poll 10 logged life sig-usr2'
run "${CTR[@]}" task kill life          # SIGTERM
verdict   kill-sigterm      "$(ctx) status=$(status life)" eval '[ "$rc" = 0 ] && poll 15 status_is life STOPPED && logged life sig-term'
run "${CTR[@]}" task rm life
verdict   task-delete       "$(ctx)" eval '[ "$rc" = 0 ] && [ -z "$(status life)" ]'
run "${CTR[@]}" container rm life
verdict   container-delete  "$(ctx)" eval '[ "$rc" = 0 ] && ! "${CTR[@]}" container ls -q | grep -qx life'

# SIGKILL: exit status 137 reported by delete
run "${CTR[@]}" run -d "${SHIM[@]}" $IMG killed sleep 600
run "${CTR[@]}" task kill -s SIGKILL killed
verdict   kill-sigkill      "$(ctx) status=$(status killed)" eval '[ "$rc" = 0 ] && poll 15 status_is killed STOPPED'
run "${CTR[@]}" task rm killed
verdict   exit-status       "$(ctx)" grep -q 137 <<<"$out $err"
"${CTR[@]}" container rm killed >/dev/null 2>&1
# a paused task is force-deleted
run "${CTR[@]}" run -d "${SHIM[@]}" $IMG frozen sleep 600
run "${CTR[@]}" task pause frozen
run "${CTR[@]}" task rm -f frozen
verdict   delete-force-paused "$(ctx)" eval '[ "$rc" = 0 ] && [ -z "$(status frozen)" ]'
"${CTR[@]}" container rm frozen >/dev/null 2>&1

sleep 0.5
has_events() { local e; for e in "$@"; do grep -q "$e" "$T/events.log" || { echo "$e"; return 1; }; done; }
verdict   events            "missing: $(has_events /tasks/create /tasks/start /tasks/exec-added /tasks/exec-started /tasks/paused /tasks/resumed /tasks/exit /tasks/delete)" \
          has_events /tasks/create /tasks/start /tasks/exec-added /tasks/exec-started /tasks/paused /tasks/resumed /tasks/exit /tasks/delete

# ---- nothing left behind -------------------------------------------------------------
verdict   clean-tasks       "left: $("${CTR[@]}" task ls -q | tr '\n' ' ')" eval '[ -z "$("${CTR[@]}" task ls -q)" ]'
left=$(ls -A "$RTROOT/$NS" 2>/dev/null)
verdict   clean-runtime-state "left in $RTROOT/$NS: $(echo $left)" [ -z "$left" ]
shims() { procs_mentioning "$SOCK" "$daemon" "$watcher"; }
poll 10 eval '[ -z "$(shims)" ]'
left=$(shims; procs_in_cgroup "$NS")
verdict   clean-processes   "left: $(echo $left)" [ -z "$left" ]
left=$(cg_leftovers "$NS")
verdict   clean-cgroups     "left: $(echo $left)" [ -z "$left" ]
left=$(mounts_below "$T")
verdict   clean-mounts      "left: $(echo $left)" [ -z "$left" ]

summary
