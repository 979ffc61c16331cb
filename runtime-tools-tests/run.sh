#!/usr/bin/env bash
# Builds the static in-container checker and the runner, then runs the conformance
# suite against RUNTIME (default: this workspace's husk binary).
#
#   RUNTIME=/usr/sbin/runc runtime-tools-tests/run.sh [--verbose] [--results FILE] [FILTER...]
#
# Exits non-zero if any test not in skip-<runtime>.txt failed. crun 1.8 refuses this
# host's hybrid cgroup layout unless /sys/fs/cgroup/unified is hidden, so for crun the
# suite runs in a private mount namespace with a tmpfs over it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/../target}
target=x86_64-unknown-linux-gnu

RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --manifest-path "$here/Cargo.toml" \
    -p runtime-tools-tests --release --target "$target" --bin rtt-checker
cargo build --quiet --manifest-path "$here/Cargo.toml" -p runtime-tools-tests --release --bin rtt-runner

export RTT_CHECKER=$CARGO_TARGET_DIR/$target/release/rtt-checker
runner=$CARGO_TARGET_DIR/release/rtt-runner

if [[ "$(basename "${RUNTIME:-}")" == crun && -z "${RTT_CGROUP_UNIFIED_HIDDEN:-}" ]] \
    && grep -q ' /sys/fs/cgroup/unified ' /proc/self/mountinfo \
    && ! grep -q ' /sys/fs/cgroup cgroup2 ' /proc/self/mountinfo; then
    exec unshare --mount --propagation private -- env RTT_CGROUP_UNIFIED_HIDDEN=1 \
        bash -c 'mount -t tmpfs none /sys/fs/cgroup/unified && exec "$0" "$@"' "$runner" "$@"
fi
exec "$runner" "$@"
