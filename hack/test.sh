#!/usr/bin/env bash
# test.sh — the whole test suite, as README.md and .ci/run call it.
#
#   1. cargo build --workspace
#   2. cargo test --workspace          unit and integration tests (need root); the
#                                      integration tests again against runc
#   3. runtime-tools-tests/run.sh      the conformance suite, against husk, then
#                                      against runc (the suite must pass on both)
#   4. integration/clients/run.sh      podman and containerd driving husk, then runc
#                                      (each client only if installed; skip the step
#                                      with SKIP_CLIENT_TESTS=1)
#   5. hack/vm/test-in-cgroup2-vm.sh   the conformance suite (husk, runc) and the cgroup
#                                      integration tests (husk) in a pure cgroup v2 VM
#                                      (qemu; HUSK_VM_TESTS=0 skips it)
#
# Exits non-zero if any step fails; later steps still run after a test failure so
# one run shows everything. cargo's output is passed through unchanged.
# Env: CARGO_TARGET_DIR is honoured (and handed to the integration tests).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { echo "test.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "the tests create containers: run as root (sudo ./hack/test.sh)"

# Under sudo, cargo is usually in the invoking user's ~/.cargo/bin, outside sudo's PATH.
if ! command -v cargo >/dev/null && [ -n "${SUDO_USER:-}" ]; then
    user_home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
    if [ -x "$user_home/.cargo/bin/cargo" ]; then
        export PATH="$user_home/.cargo/bin:$PATH"
        export RUSTUP_HOME="${RUSTUP_HOME:-$user_home/.rustup}"
    fi
fi
command -v cargo >/dev/null || die "cargo not found (install rustup: https://rustup.rs)"

TARGET=${CARGO_TARGET_DIR:-$REPO/target}
case $TARGET in /*) ;; *) TARGET=$REPO/$TARGET ;; esac
export HUSK_TARGET_DIR=$TARGET   # where the integration tests look for husk
HUSK=$TARGET/debug/husk

failed=()

step "cargo build --workspace"
cargo build --workspace || die "build failed"

step "cargo test --workspace"
cargo test --workspace --no-fail-fast || failed+=("cargo test")

# The integration tests are written against the runtime spec and runc's
# behaviour: they must pass with runc too (skips name runc's deviations).
if runc=$(command -v runc); then
    step "integration tests against runc ($runc)"
    RUNTIME=$runc cargo test -p husk-integration --no-fail-fast || failed+=("integration (runc)")
fi

SUITE=runtime-tools-tests/run.sh
if [ -x "$SUITE" ]; then
    step "conformance suite against husk ($HUSK)"
    RUNTIME=$HUSK "$SUITE" || failed+=("conformance (husk)")
    if runc=$(command -v runc); then
        step "conformance suite against runc ($runc)"
        RUNTIME=$runc "$SUITE" || failed+=("conformance (runc)")
    else
        step "runc not installed: conformance suite against runc skipped"
    fi
else
    step "$SUITE not present: conformance suite skipped"
fi

CLIENTS=integration/clients/run.sh
if [ "${SKIP_CLIENT_TESTS:-0}" = 1 ]; then
    step "SKIP_CLIENT_TESTS=1: client tests skipped"
elif ! command -v podman >/dev/null && ! command -v containerd >/dev/null; then
    step "neither podman nor containerd installed: client tests skipped"
else
    clients_start=$SECONDS
    step "client tests (podman, containerd) against husk ($HUSK)"
    "$CLIENTS" "$HUSK" || failed+=("clients (husk)")
    if runc=$(command -v runc); then
        step "client tests (podman, containerd) against runc ($runc)"
        "$CLIENTS" "$runc" || failed+=("clients (runc)")
    fi
    step "client tests took $((SECONDS - clients_start))s"
fi

# The cgroup tests on a pure cgroup v2 host: this host is v1/hybrid or v2, the VM is
# always pure v2 (hack/vm/README.md). HUSK_VM_TESTS=0 skips it (quick local runs).
vm_summary=
if [ "${HUSK_VM_TESTS:-1}" = 0 ]; then
    step "HUSK_VM_TESTS=0: cgroup v2 VM tests skipped"
else
    vm_start=$SECONDS
    step "conformance suite and cgroup integration tests in a pure cgroup v2 VM"
    vm_log=$(mktemp)
    hack/vm/test-in-cgroup2-vm.sh 2>&1 | tee "$vm_log"
    vm_rc=${PIPESTATUS[0]}
    [ "$vm_rc" = 0 ] || failed+=("cgroup v2 VM (exit status $vm_rc)")
    vm_summary=$(grep '^vm summary:' "$vm_log")
    rm -f "$vm_log"
    step "cgroup v2 VM tests took $((SECONDS - vm_start))s"
fi
[ -z "$vm_summary" ] || printf '\n%s\n' "$vm_summary" >&2

if [ ${#failed[@]} -gt 0 ]; then
    msg=""
    for f in "${failed[@]}"; do msg+="${msg:+, }$f"; done
    printf '\ntest.sh: FAILED: %s\n' "$msg" >&2
    exit 1
fi
printf '\ntest.sh: all tests passed\n' >&2
