#!/usr/bin/env bash
# test-in-cgroup2-vm.sh — run the conformance suite (runtime-tools-tests/) inside a
# pure cgroup v2 VM (hack/vm/run-in-cgroup2-vm.sh), against husk and runc.
#
#   hack/vm/test-in-cgroup2-vm.sh [--runtime husk|runc|PATH]... [--verbose] [FILTER...]
#
# Default runtimes: husk (this workspace's debug build) and runc (if installed).
# FILTERs and --verbose are passed to rtt-runner (FILTER: run only the tests whose name
# contains one of them; --verbose: show the checker's TAP and the runtime's output).
# Prints the suite's TAP per runtime, then one "vm summary:" line per runtime.
# Exit status: 0 if every runtime passed (failures listed in its skip list do not
# count), 1 if a test failed, 124 on timeout, 125 if the VM or the harness failed.
# Env: CARGO_TARGET_DIR; HUSK_VM_TIMEOUT (s, default 2400); HUSK_VM_MEMORY (MiB,
# default 2048); any of run-in-cgroup2-vm.sh's (HUSK_VM_CACHE, HUSK_VM_KERNEL).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM=$REPO/hack/vm/run-in-cgroup2-vm.sh
say() { printf 'test-in-cgroup2-vm.sh: %s\n' "$*" >&2; }
fail() { say "$*"; exit 125; }

runtimes=()
filters=()
while [ $# -gt 0 ]; do
    case $1 in
        --runtime) [ $# -ge 2 ] || fail "--runtime needs a value"; runtimes+=("$2"); shift 2 ;;
        -v | --verbose) filters+=(--verbose); shift ;;
        -h | --help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
        -*) fail "unknown option $1" ;;
        *) filters+=("$1"); shift ;;
    esac
done
if [ ${#runtimes[@]} -eq 0 ]; then
    runtimes=(husk)
    if command -v runc >/dev/null; then runtimes+=(runc); fi
fi

command -v cargo >/dev/null || fail "cargo not found"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
case $TARGET in /*) ;; *) TARGET=$REPO/$TARGET ;; esac
export CARGO_TARGET_DIR=$TARGET
triple=x86_64-unknown-linux-gnu

say "building husk (debug), rtt-checker (static) and rtt-runner"
cargo build --quiet --manifest-path "$REPO/Cargo.toml" -p husk || fail "cargo build husk failed"
RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --manifest-path "$REPO/Cargo.toml" \
    -p runtime-tools-tests --release --target "$triple" --bin rtt-checker || fail "building rtt-checker failed"
cargo build --quiet --manifest-path "$REPO/Cargo.toml" -p runtime-tools-tests --release --bin rtt-runner ||
    fail "building rtt-runner failed"

# The guest layout: everything of the suite under /husk, runc where the host has it.
files=(
    --file "$TARGET/debug/husk:/husk/bin/husk"
    --file "$TARGET/release/rtt-runner:/husk/bin/rtt-runner"
    --file "$TARGET/$triple/release/rtt-checker:/husk/bin/rtt-checker"
    # The runner's namespace holders need util-linux unshare (--kill-child, --cgroup,
    # --time); busybox's lacks them. /usr/bin comes before busybox's /bin in PATH.
    --file "$(command -v unshare):/usr/bin/unshare"
)
for f in "$REPO"/runtime-tools-tests/skip-*.txt; do files+=(--file "$f:/husk/skip/${f##*/}"); done
[ -x /bin/busybox ] || fail "/bin/busybox missing: the test containers' rootfs (apt-get install busybox-static)"
ldd /bin/busybox >/dev/null 2>&1 && fail "/bin/busybox is dynamically linked: install busybox-static"

guest_runtimes=()
for r in "${runtimes[@]}"; do
    case $r in
        husk) guest_runtimes+=(/husk/bin/husk) ;;
        */*)
            [ -x "$r" ] || fail "no runtime at $r"
            p=$(realpath -s "$r")
            files+=(--file "$p")
            guest_runtimes+=("$p") ;;
        *)
            p=$(command -v "$r") || fail "runtime $r not found in PATH"
            files+=(--file "$p")
            guest_runtimes+=("$p") ;;
    esac
done

# The guest side: the runner once per runtime, then the summaries.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/husk-vmtest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/suite.sh" <<'EOF'
# Runs in the guest: sh /husk/suite.sh RUNTIME... [-- FILTER...]
runtimes=
while [ $# -gt 0 ] && [ "$1" != -- ]; do runtimes="$runtimes $1"; shift; done
[ $# -gt 0 ] && shift
export RTT_CHECKER=/husk/bin/rtt-checker
status=0
summary=
echo "# guest: $(uname -r); cgroup: $(grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f9-)"
echo "# guest: cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
for rt in $runtimes; do
    name=${rt##*/}
    echo "# ===== conformance suite against $name ($rt) in the cgroup v2 VM"
    { RUNTIME=$rt /husk/bin/rtt-runner --skip-file "/husk/skip/skip-$name.txt" "$@"; echo $? >/tmp/rc; } 2>&1 |
        tee /tmp/tap
    rc=$(cat /tmp/rc)
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' /tmp/tap | tail -n1)
    summary="$summary
vm summary: $name: ${line:-no summary}, exit status $rc"
    [ $rc = 0 ] || status=1
done
echo "$summary" | sed '/^$/d'
exit $status
EOF

say "booting the VM: ${guest_runtimes[*]}"
rc=0
"$VM" "${files[@]}" --file "$tmp/suite.sh:/husk/suite.sh" \
    --timeout "${HUSK_VM_TIMEOUT:-2400}" --memory "${HUSK_VM_MEMORY:-2048}" \
    -- sh /husk/suite.sh "${guest_runtimes[@]}" -- ${filters[@]+"${filters[@]}"} || rc=$?
case $rc in
    0) say "all runtimes passed" ;;
    124) say "timeout (HUSK_VM_TIMEOUT=${HUSK_VM_TIMEOUT:-2400})" ;;
    125) say "the VM harness failed" ;;
    *) say "the suite failed (exit status $rc)" ;;
esac
exit "$rc"
