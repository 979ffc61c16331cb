#!/usr/bin/env bash
# run.sh RUNTIME [CLIENT...] — the real-client tests against one runtime binary.
#
# CLIENT is podman, podman-rootless and/or containerd (default: all). A client that is not installed
# is skipped with a note (missing packages are not an error: hack/test.sh runs this on
# machines without them). Prints each client's checks, its duration, and a total.
# Exits non-zero if any check of any client failed.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RT=${1:?usage: run.sh RUNTIME [podman] [podman-rootless] [containerd]}
shift
clients=("$@")
[ ${#clients[@]} -gt 0 ] || clients=(podman podman-rootless containerd)

installed() {
    case $1 in
        podman) command -v podman >/dev/null && command -v conmon >/dev/null ;;
        podman-rootless) installed podman && command -v newuidmap >/dev/null &&
                         command -v setpriv >/dev/null ;;
        containerd) command -v containerd >/dev/null && command -v ctr >/dev/null &&
                    command -v containerd-shim-runc-v2 >/dev/null ;;
        *) echo "run.sh: unknown client '$1'" >&2; return 1 ;;
    esac
}

failed=() start=$SECONDS
for c in "${clients[@]}"; do
    if ! installed "$c"; then
        echo "--- $c: not installed, skipped"
        continue
    fi
    echo "--- $c against $RT"
    t0=$SECONDS
    "$here/$c.sh" "$RT" || failed+=("$c")
    echo "--- $c: $((SECONDS - t0))s"
done
echo "--- client tests against $(basename "$RT"): $((SECONDS - start))s${failed:+, FAILED: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
