#!/usr/bin/env bash
# demo.sh — build husk and run a first container with it.
#
# On a fresh Debian/Ubuntu machine: installs what is missing (busybox-static for the
# container's root filesystem, build-essential when there is no C compiler,
# pkg-config and libseccomp-dev to link libseccomp), builds
# husk in release mode, makes a bundle in a temporary directory (`husk spec` + a
# busybox rootfs), runs it with `husk run`, cleans up and exits with the container's
# exit status. Root is needed for apt-get and for the container; as a normal user the
# script builds as you and uses sudo for the rest.
#
# Env: HUSK  use this husk binary instead of building one
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { echo "demo.sh: $*" >&2; exit 1; }

SUDO=()
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "run as root, or install sudo"
    SUDO=(sudo)
fi

# --- dependencies
missing=()
if ! [ -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then missing+=(busybox-static); fi
if [ -z "${HUSK:-}" ] && ! command -v cc >/dev/null; then missing+=(build-essential); fi
if [ -z "${HUSK:-}" ] && ! command -v pkg-config >/dev/null; then missing+=(pkg-config); fi
if [ -z "${HUSK:-}" ] && ! pkg-config --exists libseccomp 2>/dev/null; then missing+=(libseccomp-dev); fi
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "please install: ${missing[*]}"
    say "installing ${missing[*]}"
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- build
if [ -n "${HUSK:-}" ]; then
    husk=$(realpath "$HUSK")
else
    [ -x "$HOME/.cargo/bin/cargo" ] && PATH=$HOME/.cargo/bin:$PATH
    if ! command -v cargo >/dev/null; then
        cat >&2 <<'EOF'
demo.sh: cargo not found. Install Rust with rustup, then run this script again:
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh
    . "$HOME/.cargo/env"
EOF
        exit 1
    fi
    say "cargo build --release"
    (cd "$REPO" && cargo build --release)
    husk=${CARGO_TARGET_DIR:-$REPO/target}/release/husk
    case $husk in /*) ;; *) husk=$REPO/$husk ;; esac
fi

# --- bundle
id=demo-$$
bundle=$(mktemp -d /tmp/husk-demo.XXXXXX)
# shellcheck disable=SC2317  # (called by the EXIT trap)
cleanup() {
    local rc=$?
    "${SUDO[@]}" "$husk" delete --force "$id" >/dev/null 2>&1 || true
    "${SUDO[@]}" rm -rf --one-file-system "$bundle"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

say "bundle in $bundle: husk spec + hack/mkrootfs.sh"
"$husk" spec --bundle "$bundle"
[ -f "$bundle/config.json" ] || die "husk spec wrote no config.json"
"${SUDO[@]}" "$REPO/hack/mkrootfs.sh" "$bundle/rootfs"

# The default spec runs an interactive `sh` on a terminal; run a script instead.
# `husk spec` writes one array element per line, so args ["sh"] is the line "sh".
script='echo hello from husk; hostname; id; cat /proc/self/status | grep -E \\"NoNewPrivs|CapEff\\"'
sed -i -e 's/"terminal": true/"terminal": false/' \
       -e "s#^\\([[:space:]]*\\)\"sh\"\$#\\1\"sh\", \"-c\", \"$script\"#" "$bundle/config.json"
if ! grep -q '"terminal": false' "$bundle/config.json" || ! grep -q 'hello from husk' "$bundle/config.json"; then
    die "could not edit $bundle/config.json"
fi
if command -v python3 >/dev/null; then
    python3 -m json.tool "$bundle/config.json" >/dev/null || die "edited config.json is not valid JSON"
fi

# --- run
say "husk run $id"
rc=0
"${SUDO[@]}" "$husk" run --bundle "$bundle" "$id" </dev/null || rc=$?
if [ "$rc" = 0 ]; then
    say "the container exited with status 0"
else
    say "the container (or husk) exited with status $rc"
fi
exit "$rc"
