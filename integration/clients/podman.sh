#!/usr/bin/env bash
# podman.sh RUNTIME — rootful podman (+ conmon) driving RUNTIME, fully private.
#
# podman runs with its own --root/--runroot under a temp dir (vfs storage driver,
# cgroupfs manager, no network, file event log) and uses an image imported from a
# tarball of the host's static busybox: no registry, no daemon, nothing outside the
# temp dir and one cgroup parent. podman gives the runtime no --root (and drops
# --runtime-flag in conmon's cleanup command), so RUNTIME keeps its state in its default
# root, /run/<basename> (override: RUNTIME_ROOT); the leak check looks there for the
# ids of this run's containers, taken from podman's event log.
# Prints "ok NAME" / "FAIL NAME: reason" per check and "N passed, M failed"; exits
# non-zero if anything failed. Everything is removed on exit, also after a failure.
# Env: CLIENT_TIMEOUT (seconds per podman command, 60), KEEP=1 keeps the temp dir.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

RT=${1:?usage: podman.sh /path/to/runtime}
RT=$(realpath -e "$RT" 2>/dev/null) && [ -x "$RT" ] || { echo "podman.sh: runtime '$1' not executable" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "podman.sh: needs root" >&2; exit 2; }
for c in podman conmon script; do
    command -v $c >/dev/null || { echo "podman.sh: $c not installed" >&2; exit 2; }
done
static_busybox >/dev/null || { echo "podman.sh: no static busybox (apt-get install busybox-static)" >&2; exit 2; }

T=$(mktemp -d /tmp/husk-podman.XXXXXX)
cd "$T" || exit 2                  # conmon writes into its working directory
CGP=husk-podman-$$                 # cgroup parent of every container
RTROOT=${RUNTIME_ROOT:-/run/$(basename "$RT")}   # the runtime's default --root
cgroup_tops=$(ls /sys/fs/cgroup)
fresh_global=
for d in /var/lib/containers /run/containers; do [ -e $d ] || fresh_global+=" $d"; done

mkdir -p "$T"/{tmp,netcfg,share}
cat >"$T/containers.conf" <<EOF
[containers]
netns = "none"
# podman's default nofile/nproc of 1048576 needs more than root's hard limit in CI
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$T/events.log"
tmp_dir = "$T/tmp"
# runtimes named here get --log-format=json --log FILE, as runc and crun do
runtime_supports_json = ["runc", "crun", "$(basename "$RT")"]
[network]
network_config_dir = "$T/netcfg"
EOF
export CONTAINERS_CONF=$T/containers.conf
PM=(podman --root "$T/storage" --runroot "$T/runroot" --storage-driver vfs
    --runtime "$RT")
pm() { "${PM[@]}" "$@"; }

cleanup() {
    pm rm --all --force --time 0 >/dev/null 2>&1
    pm rmi --all --force >/dev/null 2>&1
    umount_below "$T"
    cg_remove "$CGP"
    local d
    for d in /sys/fs/cgroup/*; do   # top-level dirs a runtime made on the v1 tmpfs
        grep -qxF "${d##*/}" <<<"$cgroup_tops" || mountpoint -q "$d" || rmdir "$d" 2>/dev/null
    done
    for d in $fresh_global; do      # podman 4.3 creates these even with private dirs
        rm -rf "$d"
    done
    if [ "${KEEP:-0}" = 1 ]; then echo "podman.sh: kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

state() { pm inspect --format '{{.State.Status}}' "$1" 2>/dev/null; }
state_is() { [ "$(state "$1")" = "$2" ]; }
exit_code() { pm inspect --format '{{.State.ExitCode}}' "$1" 2>/dev/null; }
init_pid() { pm inspect --format '{{.State.Pid}}' "$1" 2>/dev/null; }
logged() { pm logs "$1" 2>&1 | grep -q "$2"; }

# ---- image ------------------------------------------------------------------------
make_rootfs "$T/rootfs"
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
IMG=localhost/husk-test:latest
run pm import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' "$T/rootfs.tar" $IMG
if [ "$rc" -ne 0 ]; then fail image "$(ctx)"; summary; exit 1; fi
pass image

R=("${PM[@]}" run --rm --pull=never --cgroup-parent "/$CGP")

# ---- one-shot containers ----------------------------------------------------------
expect    run-stdout        hi-there        "${R[@]}" $IMG echo hi-there
expect_rc run-exit-code     7               "${R[@]}" $IMG sh -c 'exit 7'
expect_rc run-missing-cmd   127             "${R[@]}" $IMG /no/such/binary
expect    run-stdin         line-1,line-2   "${R[@]}" -i $IMG sh -c 'paste -s -d, -' < <(printf 'line-1\nline-2\n')
expect    run-tty           tty:tty         "${R[@]}" -t $IMG sh -c 'test -t 0 && a=tty; test -t 1 && b=tty; echo $a:$b'
run in_pty "${R[@]}" -it $IMG sh <<<'echo typed-$((6*7)); exit 9'
verdict   run-tty-interactive "$(ctx)" eval '[ "$rc" = 9 ] && grep -qx typed-42 <<<"$out"'
expect    run-env-workdir   v1:/var         "${R[@]}" -e K=v1 -w /var $IMG sh -c 'echo $K:$PWD'
expect    run-user          1000:1000:1000,2000 "${R[@]}" -u 1000:1000 --group-add 2000 $IMG \
          sh -c 'echo $(id -u):$(id -g):$(id -G | tr " " ,)'
expect    run-hostname      podhost         "${R[@]}" --hostname podhost $IMG hostname
expect    run-pid1          1               "${R[@]}" $IMG sh -c 'echo $$'
expect    readonly-rootfs   ro:rw           "${R[@]}" --read-only $IMG sh -c \
          'touch /f 2>/dev/null && a=rw || a=ro; touch /tmp/f && b=rw; echo $a:$b'
echo host-data >"$T/share/in"
expect    bind-mount        host-data       "${R[@]}" -v "$T/share:/mnt/share" $IMG sh -c 'cat /mnt/share/in; echo ctr-data >/mnt/share/out'
verdict   bind-mount-write  "host sees '$(cat "$T/share/out" 2>/dev/null)'" [ "$(cat "$T/share/out" 2>/dev/null)" = ctr-data ]
expect    bind-mount-ro     denied          "${R[@]}" -v "$T/share:/mnt/share:ro" $IMG sh -c 'touch /mnt/share/x 2>/dev/null || echo denied'
expect    tmpfs-mount       tmpfs:rw        "${R[@]}" --tmpfs /scratch:size=1m $IMG sh -c \
          'awk "\$2 == \"/scratch\" { print \$3 }" /proc/mounts | tr "\n" :; touch /scratch/f && echo rw'
# CapEff with everything dropped but CAP_KILL (bit 5) and CAP_NET_RAW (bit 13)
expect    caps              0000000000002020 "${R[@]}" --cap-drop all --cap-add kill --cap-add net_raw $IMG \
          sh -c 'grep ^CapEff: /proc/self/status | cut -f2'
expect    caps-default-no-sysadmin denied   "${R[@]}" $IMG sh -c 'mount -t tmpfs x /mnt 2>/dev/null && echo mounted || echo denied'
expect    privileged        0:mounted       "${R[@]}" --privileged $IMG sh -c \
          'printf %s: $(grep ^Seccomp: /proc/self/status | cut -f2); mount -t tmpfs x /mnt && echo mounted'
expect    seccomp-default   2               "${R[@]}" $IMG sh -c 'grep ^Seccomp: /proc/self/status | cut -f2'
expect    seccomp-unconfined 0              "${R[@]}" --security-opt seccomp=unconfined $IMG sh -c 'grep ^Seccomp: /proc/self/status | cut -f2'
expect    no-new-privs      1               "${R[@]}" --security-opt no-new-privileges $IMG sh -c 'grep ^NoNewPrivs: /proc/self/status | cut -f2'
expect    masked-paths      masked          "${R[@]}" $IMG sh -c '[ ! -s /proc/kcore ] && grep -q " /proc/sys proc ro" /proc/mounts && echo masked'
expect    ulimit            256             "${R[@]}" --ulimit nofile=256:256 --ulimit nproc=4096:4096 $IMG sh -c 'ulimit -n'
expect    limit-memory      100663296       "${R[@]}" --memory 96m $IMG sh -c "$CGF; cgf memory memory.limit_in_bytes memory.max"
expect    limit-pids        42              "${R[@]}" --pids-limit 42 $IMG sh -c "$CGF; cgf pids pids.max pids.max"
expect    limit-cpu-quota   25000           "${R[@]}" --cpus 0.25 $IMG sh -c "$CGF; cgf cpu cpu.cfs_quota_us cpu.max | cut -d' ' -f1"
expect    limit-cpu-shares  $SHARES512      "${R[@]}" --cpu-shares 512 $IMG sh -c "$CGF; cgf cpu cpu.shares cpu.weight"
expect_rc oom-killed        137             "${R[@]}" --memory 16m --memory-swap 16m $IMG sh -c 'dd if=/dev/zero of=/dev/null bs=48M count=1'

# ---- one container through its life -------------------------------------------------
BODY='trap "echo sig-usr2" USR2; trap "echo sig-term; exit 0" TERM; echo up; while :; do sleep 0.1; done'
run pm run -d --name life --pull=never --cgroup-parent "/$CGP" --memory 96m --pids-limit 50 $IMG sh -c "$BODY"
verdict   detached          "$(ctx)" eval '[ "$rc" = 0 ] && poll 15 logged life up'
run pm ps --format '{{.Names}}:{{.Status}}'
verdict   ps                "$(ctx)" grep -q '^life:Up ' <<<"$out"
expect    logs              up              pm logs life
PID=$(init_pid life)
run cg_read "$PID" memory memory.limit_in_bytes memory.max
verdict   limit-memory-host "$(ctx)" [ "$out" = 100663296 ]
run cg_read "$PID" pids pids.max pids.max
verdict   limit-pids-host   "$(ctx)" [ "$out" = 50 ]
expect    exec              from-exec       pm exec life echo from-exec
expect    exec-user-env-cwd 1000:v2:/tmp    pm exec -u 1000 -e K=v2 -w /tmp life sh -c 'echo $(id -u):$K:$PWD'
expect_rc exec-exit-code    23              pm exec life sh -c 'exit 23'
expect    exec-stdin        in-exec         pm exec -i life cat <<<in-exec
expect    exec-tty          tty             pm exec -t life sh -c 'test -t 0 && test -t 1 && echo tty'
run in_pty "${PM[@]}" exec -it life sh <<<'echo typed-$((6*7)); exit 11'
verdict   exec-tty-interactive "$(ctx)" eval '[ "$rc" = 11 ] && grep -qx typed-42 <<<"$out"'
run pm exec -d life sh -c 'sleep 0.3; echo done >/tmp/detached'
verdict   exec-detached     "$(ctx)" eval '[ "$rc" = 0 ] && poll 10 pm exec life grep -q done /tmp/detached'
run pm top life pid args
verdict   top               "$(ctx)" eval 'grep -q "while" <<<"$out" && grep -q "sleep" <<<"$out"'
run pm stats --no-stream --format '{{.Name}} {{.MemUsage}} {{.PIDs}}' life
verdict   stats             "$(ctx)" eval 'grep -q "^life .*/ 100.7MB [0-9]" <<<"$out"'
run pm update --memory 128m --memory-swap 256m life
run cg_read "$PID" memory memory.limit_in_bytes memory.max
verdict   update-memory     "$(ctx)" [ "$out" = 134217728 ]
run pm pause life
verdict   pause             "$(ctx) state=$(state life)" eval '[ "$rc" = 0 ] && state_is life paused'
run cg_read "$PID" freezer freezer.state cgroup.freeze
verdict   pause-frozen      "$(ctx)" eval '[ "$out" = FROZEN ] || [ "$out" = 1 ]'
run pm unpause life
verdict   unpause           "$(ctx) state=$(state life)" eval '[ "$rc" = 0 ] && state_is life running'
run cg_read "$PID" freezer freezer.state cgroup.freeze
verdict   unpause-thawed    "$(ctx)" eval '[ "$out" = THAWED ] || [ "$out" = 0 ]'
expect    exec-after-unpause alive          pm exec life echo alive
run pm kill --signal USR2 life
verdict   kill-signal       "$(ctx)" eval '[ "$rc" = 0 ] && poll 10 logged life sig-usr2'
t0=$SECONDS
run pm stop --time 30 life
verdict   stop              "$(ctx) took $((SECONDS - t0))s exit=$(exit_code life)" \
          eval '[ "$rc" = 0 ] && [ $((SECONDS - t0)) -lt 15 ] && logged life sig-term && [ "$(exit_code life)" = 0 ]'
run pm start life
verdict   restart           "$(ctx)" eval '[ "$rc" = 0 ] && state_is life running'
run pm kill life
verdict   kill              "$(ctx) exit=$(exit_code life)" eval '[ "$rc" = 0 ] && poll 15 state_is life exited && [ "$(exit_code life)" = 137 ]'
run pm events --stream=false --filter container=life --format '{{.Status}}'
has_all() { local e; for e in "$@"; do grep -qx "$e" <<<"$out" || return 1; done; }
verdict   events            "$(ctx)" has_all create start exec pause unpause kill died
run pm rm life
verdict   rm                "$(ctx)" eval '[ "$rc" = 0 ] && [ -z "$(pm ps --all --quiet)" ]'

# a paused container is force-removed, and a stuck one is stopped with SIGKILL
run pm run -d --name stuck --pull=never --cgroup-parent "/$CGP" $IMG sh -c 'trap "" TERM; while :; do sleep 0.1; done'
t0=$SECONDS
run pm stop --time 1 stuck
verdict   stop-timeout-kill "$(ctx) exit=$(exit_code stuck)" eval '[ "$rc" = 0 ] && [ "$(exit_code stuck)" = 137 ] && [ $((SECONDS - t0)) -lt 15 ]'
run pm start stuck
run pm pause stuck
run pm rm --force --time 0 stuck
verdict   rm-force-paused   "$(ctx)" eval '[ "$rc" = 0 ] && [ -z "$(pm ps --all --quiet)" ]'

# ---- nothing left behind -------------------------------------------------------------
sleep 0.3
ids=$(grep -o '"ID":"[0-9a-f]\{64\}"' "$T/events.log" | cut -d'"' -f4 | sort -u)
left=$(for id in $ids; do [ -e "$RTROOT/$id" ] && echo "$id"; done)
verdict   clean-runtime-state "$(wc -w <<<"$ids") containers, state left in $RTROOT: $(echo $left)" \
          eval '[ -n "$ids" ] && [ -z "$left" ]'
# podman keeps a "conmon" cgroup below the parent for conmon itself: not the runtime's
left=$(cg_leftovers "$CGP" | grep -v '/conmon$')
verdict   clean-cgroups     "left: $(echo $left)" [ -z "$left" ]
left=$(mounts_below "$T")
verdict   clean-mounts      "left: $(echo $left)" [ -z "$left" ]
left=$(procs_mentioning "$T"; procs_in_cgroup "$CGP")
verdict   clean-processes   "left: $(echo $left)" [ -z "$left" ]

summary
