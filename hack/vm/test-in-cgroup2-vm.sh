#!/usr/bin/env bash
# test-in-cgroup2-vm.sh — husk's cgroup tests inside a pure cgroup v2 VM
# (hack/vm/run-in-cgroup2-vm.sh), in one boot:
#
#   1. the conformance suite (runtime-tools-tests/) against each runtime;
#   2. the cgroup integration tests (integration/tests/{cgroups,cgroups_resources,
#      update,pause,events,oom,ps,kill,exec,exec_cpu_affinity}.rs) against husk —
#      the same tests that run on the host's v1/hybrid layout in `cargo test`.
#
#   hack/vm/test-in-cgroup2-vm.sh [--runtime husk|runc|PATH]... [--only conformance|integration]
#                                 [--debug] [--verbose] [FILTER...]
#
# --runtime: the conformance suite's runtimes (default: husk, and runc if installed);
#   the integration tests always run against husk (skipped when husk is not among them).
# --only: run one of the two parts. --debug: the debug build of husk instead of release.
# FILTERs: conformance tests whose name contains one of them, and integration test
#   names (cargo's filter); --verbose: the conformance checker's TAP and runtime output.
# In the guest husk lives on a read-only bind mount, so its CVE-2019-5736 seal is a
# no-op there (the seal is tested on the host; under emulation its copy costs seconds).
# Prints each part's output, then "vm summary:" lines. Exit status: 0 if every part
# passed (tests in a runtime's skip list do not count), 1 if a test failed, 124 on
# timeout, 125 if the VM or the harness failed.
# Env: CARGO_TARGET_DIR; HUSK_VM_TIMEOUT (s, default 2400); HUSK_VM_MEMORY (MiB,
# default 2048); any of run-in-cgroup2-vm.sh's (HUSK_VM_CACHE, HUSK_VM_KERNEL).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM=$REPO/hack/vm/run-in-cgroup2-vm.sh
# The integration test binaries that exercise cgroups (integration/tests/<name>.rs).
INTEGRATION_TESTS=(cgroups cgroups_resources update pause events oom ps kill exec exec_cpu_affinity)
say() { printf 'test-in-cgroup2-vm.sh: %s\n' "$*" >&2; }
fail() { say "$*"; exit 125; }

runtimes=()
filters=()
verbose=()
only=
profile=release
while [ $# -gt 0 ]; do
    case $1 in
        --runtime) [ $# -ge 2 ] || fail "--runtime needs a value"; runtimes+=("$2"); shift 2 ;;
        --only)
            [ $# -ge 2 ] || fail "--only needs conformance or integration"
            case $2 in conformance | integration) only=$2 ;; *) fail "--only: conformance or integration, not '$2'" ;; esac
            shift 2 ;;
        --debug) profile=debug; shift ;;
        -v | --verbose) verbose=(--verbose); shift ;;
        -h | --help) sed -n '2,24s/^# \{0,1\}//p' "$0"; exit 0 ;;
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
cargo_q() { cargo "$@" --quiet --manifest-path "$REPO/Cargo.toml"; }

profile_flag=()
[ $profile = release ] && profile_flag=(--release)
say "building husk ($profile)"
cargo_q build -p husk "${profile_flag[@]}" || fail "cargo build husk failed"

files=(--file "$TARGET/$profile/husk:/husk/bin/husk")
[ -x /bin/busybox ] || fail "/bin/busybox missing: the test containers' rootfs (apt-get install busybox-static)"
ldd /bin/busybox >/dev/null 2>&1 && fail "/bin/busybox is dynamically linked: install busybox-static"

run_conformance=1 run_integration=1
[ "$only" = integration ] && run_conformance=0
[ "$only" = conformance ] && run_integration=0

guest_runtimes=()
if [ $run_conformance = 1 ]; then
    say "building rtt-checker (static) and rtt-runner"
    RUSTFLAGS='-C target-feature=+crt-static' cargo_q build -p runtime-tools-tests --release \
        --target "$triple" --bin rtt-checker || fail "building rtt-checker failed"
    cargo_q build -p runtime-tools-tests --release --bin rtt-runner || fail "building rtt-runner failed"
    files+=(
        --file "$TARGET/release/rtt-runner:/husk/bin/rtt-runner"
        --file "$TARGET/$triple/release/rtt-checker:/husk/bin/rtt-checker"
        # The runner's namespace holders need util-linux unshare (--kill-child, --cgroup,
        # --time); busybox's lacks them. /usr/bin comes before busybox's /bin in PATH.
        --file "$(command -v unshare):/usr/bin/unshare"
    )
    for f in "$REPO"/runtime-tools-tests/skip-*.txt; do files+=(--file "$f:/husk/skip/${f##*/}"); done
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
fi

has_husk=0
for r in "${runtimes[@]}"; do [ "$r" = husk ] && has_husk=1; done
[ $has_husk = 1 ] || run_integration=0
guest_tests=()
if [ $run_integration = 1 ]; then
    say "building the integration tests: ${INTEGRATION_TESTS[*]}"
    test_args=()
    for t in "${INTEGRATION_TESTS[@]}"; do test_args+=(--test "$t"); done
    json=$(cargo test --manifest-path "$REPO/Cargo.toml" -p husk-integration "${test_args[@]}" \
        --no-run --message-format=json 2>/dev/null) || fail "building the integration tests failed"
    for exe in $(printf '%s\n' "$json" | grep -o '"executable":"[^"]*"' | cut -d'"' -f4); do
        name=${exe##*/}
        name=${name%-*}
        files+=(--file "$exe:/husk/tests/$name")
        guest_tests+=("$name")
    done
    # `husk ps` runs the host's ps -ef; busybox's ps has no -ef columns.
    files+=(--file "$(command -v ps):/usr/bin/ps")
    [ ${#guest_tests[@]} -eq ${#INTEGRATION_TESTS[@]} ] ||
        fail "expected ${#INTEGRATION_TESTS[@]} test binaries, cargo built: ${guest_tests[*]:-none}"
fi

# The guest side: husk read-only, the suite once per runtime, the tests, summaries.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/husk-vmtest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/suite.sh" <<'EOF'
# Runs in the guest: sh /husk/suite.sh "RUNTIME..." "TEST..." "VERBOSE" [FILTER...]
runtimes=$1 tests=$2 verbose=$3
shift 3
status=0
summary=
echo "# guest: $(uname -r); cgroup: $(grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f9-)"
echo "# guest: cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
mount --bind /husk/bin /husk/bin && mount -o remount,bind,ro /husk/bin ||
    { echo "# guest: cannot make /husk/bin read-only"; exit 125; }
export RTT_CHECKER=/husk/bin/rtt-checker
for rt in $runtimes; do
    name=${rt##*/}
    echo "# ===== conformance suite against $name ($rt) in the cgroup v2 VM"
    { RUNTIME=$rt /husk/bin/rtt-runner --skip-file "/husk/skip/skip-$name.txt" $verbose "$@"; echo $? >/tmp/rc; } 2>&1 |
        tee /tmp/tap
    rc=$(cat /tmp/rc)
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' /tmp/tap | tail -n1)
    summary="$summary
vm summary: conformance $name: ${line:-no summary}, exit status $rc"
    [ $rc = 0 ] || status=1
done
passed=0 failed=0 ignored=0 failing=
for t in $tests; do
    echo "# ===== integration tests $t against husk in the cgroup v2 VM"
    { RUNTIME=/husk/bin/husk /husk/tests/$t --test-threads=2 "$@"; echo $? >/tmp/rc; } 2>&1 | tee /tmp/out
    rc=$(cat /tmp/rc)
    counts=$(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' /tmp/out | tail -n1)
    if [ -n "$counts" ]; then
        read -r p f i <<COUNTS
$counts
COUNTS
        passed=$((passed + p)) failed=$((failed + f)) ignored=$((ignored + i))
    fi
    [ $rc = 0 ] || { status=1; failing="$failing $t"; }
done
if [ -n "$tests" ]; then
    summary="$summary
vm summary: integration husk: $passed passed, $failed failed, $ignored ignored${failing:+ (failing:$failing)}"
fi
echo "$summary" | sed '/^$/d'
exit $status
EOF

say "booting the VM: conformance: ${guest_runtimes[*]:-none}; integration: ${guest_tests[*]:-none}"
rc=0
"$VM" "${files[@]}" --file "$tmp/suite.sh:/husk/suite.sh" \
    --timeout "${HUSK_VM_TIMEOUT:-2400}" --memory "${HUSK_VM_MEMORY:-2048}" \
    -- sh /husk/suite.sh "${guest_runtimes[*]}" "${guest_tests[*]}" "${verbose[*]}" \
    ${filters[@]+"${filters[@]}"} || rc=$?
case $rc in
    0) say "all passed" ;;
    124) say "timeout (HUSK_VM_TIMEOUT=${HUSK_VM_TIMEOUT:-2400})" ;;
    125) say "the VM harness failed" ;;
    *) say "tests failed (exit status $rc)" ;;
esac
exit "$rc"
