#!/usr/bin/env bash
# bench.sh — husk against runc and crun on short-lived containers, in ONE hyperfine run.
#
# Workloads (busybox bundle, config = `runc spec` with terminal off and /bin/true):
#   run        RUNTIME run ID                       (create + start + wait + delete in one call)
#   lifecycle  RUNTIME create; RUNTIME start; wait until the process is gone; RUNTIME delete
#
# Every iteration uses a fresh container id, every runtime its own --root. Results:
# hyperfine's report on stderr, then on stdout a markdown table of medians (ms) for
# docs/performance.md.
#
# Env:
#   RUNS            iterations per command (default 30)
#   WARMUP          warm-up iterations per command (default 3)
#   HUSK            husk binary (default: target/release/husk of this checkout)
#   BENCH_RUNTIMES  runtimes to compare, first is the baseline of the ratios
#                   (default "husk runc crun"); names or paths
#   BENCH_TMP       where the state and bundle go (default /run, a tmpfs)
#   BENCH_SYSTEMD   1: each runtime also with --systemd-cgroup ("husk+systemd"), to
#                   show the systemd driver's cost (needs systemd as PID 1)
#
# `hack/bench.sh --in-systemd-vm [--cgroup v2|v1]` runs it with BENCH_SYSTEMD=1
# inside the systemd VM (hack/vm/run-in-systemd-vm.sh; TCG there, so compare the
# rows with each other, not with the host's numbers). husk is on a read-only bind
# there (no CVE seal: its memfd copy would cost seconds under emulation).
#
# Needs root and util-linux's unshare; installs hyperfine and busybox-static with
# apt-get when missing. The host is left as it was: containers, their cgroups and the
# temporary directory are removed on exit, also on failure or Ctrl-C.
set -euo pipefail

if [ "${1:-}" = --in-systemd-vm ]; then
    shift
    REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    HUSK=${HUSK:-$REPO/target/release/husk}
    [ -x "$HUSK" ] || { echo "bench.sh: no husk at $HUSK (cargo build --release)" >&2; exit 1; }
    command -v hyperfine >/dev/null ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
    exec "$REPO/hack/vm/run-in-systemd-vm.sh" "$@" \
        --file "$REPO/hack:/husk-bench/hack" --file "$HUSK:/husk-bench/husk" \
        --file "$(command -v hyperfine):/usr/local/bin/hyperfine" -- \
        sh -c 'mount -o remount,ro,bind /husk-bench/husk && exec "$@"' sh \
        env HUSK=/husk-bench/husk BENCH_SYSTEMD=1 BENCH_TMP=/dev/shm RUNS="${RUNS:-20}" WARMUP="${WARMUP:-2}" \
        BENCH_RUNTIMES="${BENCH_RUNTIMES:-husk runc crun}" bash /husk-bench/hack/bench.sh
fi

RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HUSK=${HUSK:-$REPO/target/release/husk}
BENCH_RUNTIMES=${BENCH_RUNTIMES:-husk runc crun}

die() { echo "bench.sh: $*" >&2; exit 1; }
note() { echo "bench.sh: $*" >&2; }

[ "$(id -u)" = 0 ] || die "run as root (containers need it)"
if ! command -v hyperfine >/dev/null; then
    note "installing hyperfine"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null ||
        die "cannot install hyperfine (apt-get install hyperfine)"
fi

# crun 1.8 refuses to run on a hybrid cgroup host (cgroup v1 controllers plus cgroup2
# mounted at /sys/fs/cgroup/unified). Give every runtime the same pure-v1 view: run
# this script again in a private mount namespace where an empty tmpfs hides the
# cgroup2 mount. The host's mounts are not touched.
if [ "${BENCH_IN_PRIVATE_MOUNTS:-}" != 1 ] &&
   [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
    note "hybrid cgroups: benchmarking in a private mount namespace without /sys/fs/cgroup/unified"
    BENCH_IN_PRIVATE_MOUNTS=1 exec unshare --mount --propagation private -- "$BASH" "$0" "$@"
fi
if [ "${BENCH_IN_PRIVATE_MOUNTS:-}" = 1 ] &&
   [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
    [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] ||
        die "BENCH_IN_PRIVATE_MOUNTS=1 but this is the host's mount namespace"
    # Writable and not tiny: crun still makes <id>/cgroup.procs in it per container
    # (a plain file here, never removed), and fails once the tmpfs is full.
    mount -t tmpfs -o mode=0755 husk-bench /sys/fs/cgroup/unified
fi

# Runtimes: label (basename), absolute path and global flags.
LABELS=() PATHS=() FLAGS=()
for r in $BENCH_RUNTIMES; do
    case $r in
    husk) p=$HUSK ;;
    */*) p=$r ;;
    *) p=$(command -v "$r") || die "runtime '$r' not found (set BENCH_RUNTIMES)" ;;
    esac
    if ! [ -x "$p" ]; then
        [ "$r" = husk ] && die "no husk binary at $p: cargo build --release, set HUSK, or BENCH_RUNTIMES=\"runc crun\""
        die "runtime '$r' ($p) is not executable"
    fi
    p=$(realpath "$p")
    LABELS+=("$(basename "$p")") PATHS+=("$p") FLAGS+=("")
    if [ "${BENCH_SYSTEMD:-0}" = 1 ]; then
        LABELS+=("$(basename "$p")+systemd") PATHS+=("$p") FLAGS+=("--systemd-cgroup")
    fi
done
[ ${#PATHS[@]} -gt 0 ] || die "BENCH_RUNTIMES is empty"

# State and bundle on tmpfs, like every runtime's default root (/run/runc, /run/crun,
# /run/husk): a disk-backed /tmp would time the disk's journal, not the runtimes.
WORK=$(mktemp -d "${BENCH_TMP:-/run}/husk-bench.XXXXXX")
PREFIX=hb$$    # every container id starts with it; runtimes name cgroups after ids

cleanup() {
    local rc=$? i d
    set +e
    for i in "${!PATHS[@]}"; do
        for d in "$WORK/root-$i"/*/; do
            [ -d "$d" ] || continue
            "${PATHS[$i]}" ${FLAGS[$i]} --root "$WORK/root-$i" delete --force "$(basename "$d")" >/dev/null 2>&1
        done
    done
    if [ "${BENCH_SYSTEMD:-0}" = 1 ] && command -v systemctl >/dev/null; then
        systemctl stop "*$PREFIX-*.scope" >/dev/null 2>&1
    fi
    find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -depth -type d -name "$PREFIX-*" \
        -exec rmdir {} + 2>/dev/null
    rm -rf --one-file-system "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- the bundle
B=$WORK/bundle
mkdir -p "$B"
"$REPO/hack/mkrootfs.sh" "$B/rootfs"
for p in "${PATHS[@]}"; do      # any runtime's `spec` will do; they all write runc's
    (cd "$B" && "$p" spec >/dev/null 2>&1) && break
done
[ -f "$B/config.json" ] || die "no runtime could write a default config.json"
# terminal off, args ["sh"] -> ["/bin/true"] (the default spec's exact layout);
# ociVersion 1.0.2, which every runtime compared here accepts (crun 1.8 refuses 1.3.0)
sed -i -e 's/"terminal": true/"terminal": false/' \
       -e 's/"ociVersion": "[^"]*"/"ociVersion": "1.0.2"/' \
       -e 's|^\([[:space:]]*\)"sh"$|\1"/bin/true"|' "$B/config.json"
if ! grep -q '"terminal": false' "$B/config.json" || ! grep -q '"/bin/true"' "$B/config.json"; then
    die "could not edit $B/config.json"
fi

# --- every runtime must run the bundle before we time it
for i in "${!PATHS[@]}"; do
    mkdir -p "$WORK/root-$i"
    # shellcheck disable=SC2086 # FLAGS[i] is zero or one word
    "${PATHS[$i]}" ${FLAGS[$i]} --root "$WORK/root-$i" run --bundle "$B" "$PREFIX-$i-check" </dev/null ||
        die "${LABELS[$i]} cannot run the benchmark bundle"
done

# --- commands. They run under `bash -c`; \$\$-\$RANDOM makes each iteration's id unique.
# Waiting for the end: the container's init is not our child, so poll its /proc entry
# until it is gone or a zombie (pid 1 need not reap promptly). The pid file may lack a
# trailing newline, hence `read || [ -n ]`.
NAMES=() CMDS=()
for w in run lifecycle; do
    for i in "${!PATHS[@]}"; do
        rt="${PATHS[$i]} ${FLAGS[$i]} --root $WORK/root-$i"
        id="$PREFIX-$i-\$\$-\$RANDOM"
        case $w in
        run) cmd="$rt run --bundle $B $id" ;;
        lifecycle)
            cmd="id=$id pf=$WORK/pid-$i-\$\$"
            cmd+=" && $rt create --bundle $B --pid-file \$pf \$id"
            cmd+=" && $rt start \$id"
            cmd+=" && { read -r pid || [ -n \"\$pid\" ]; } <\$pf"
            cmd+=" && while read -r _ _ s _ </proc/\$pid/stat 2>/dev/null && [ \"\$s\" != Z ]; do :; done"
            cmd+=" && $rt delete \$id && rm -f \$pf" ;;
        esac
        NAMES+=(-n "$w ${LABELS[$i]}") CMDS+=("$cmd")
    done
done

note "hyperfine: ${#CMDS[@]} commands, $RUNS runs each, $WARMUP warm-up"
hyperfine --shell=bash --style basic --warmup "$WARMUP" --runs "$RUNS" \
    --export-csv "$WORK/results.csv" "${NAMES[@]}" "${CMDS[@]}" </dev/null >&2

# --- summary. CSV columns: command,mean,stddev,median,user,system,min,max (seconds)
median() { awk -F, -v n="$1 $2" '$1 == n { printf "%.1f", $4 * 1000 }' "$WORK/results.csv"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

{
    echo
    printf '%-10s' workload; printf ' %12s' "${LABELS[@]}"; echo "   (median ms)"
    for w in run lifecycle; do
        printf '%-10s' "$w"
        for l in "${LABELS[@]}"; do printf ' %12s' "$(median "$w" "$l")"; done
        echo
    done
    echo
} >&2

header="| workload |" rule="|---|"
for l in "${LABELS[@]}"; do header+=" $l (ms) |"; rule+="---:|"; done
[ ${#LABELS[@]} -gt 1 ] && for l in "${LABELS[@]:1}"; do header+=" $l / ${LABELS[0]} |"; rule+="---:|"; done
echo "$header"
echo "$rule"
for w in run lifecycle; do
    case $w in
    run) row="| \`run\` /bin/true |" ;;
    lifecycle) row="| create, start, wait, delete |" ;;
    esac
    base=$(median "$w" "${LABELS[0]}")
    for l in "${LABELS[@]}"; do row+=" $(median "$w" "$l") |"; done
    [ ${#LABELS[@]} -gt 1 ] && for l in "${LABELS[@]:1}"; do row+=" $(ratio "$(median "$w" "$l")" "$base")x |"; done
    echo "$row"
done
versions=""
for i in "${!PATHS[@]}"; do
    v=$("${PATHS[$i]}" --version 2>/dev/null | head -n1) || true
    versions+="${versions:+, }${v:-${LABELS[$i]}}"
done
echo
echo "Medians of $RUNS runs after $WARMUP warm-up ($(hyperfine --version)), one hyperfine" \
     "invocation; $(uname -sr), $(nproc) CPUs; $versions."
if [ "${BENCH_IN_PRIVATE_MOUNTS:-}" = 1 ]; then
    echo "Hybrid cgroup host: measured with /sys/fs/cgroup/unified hidden (pure cgroup v1)."
fi
