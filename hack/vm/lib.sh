# shellcheck shell=bash
# lib.sh — helpers shared by run-in-cgroup2-vm.sh and run-in-systemd-vm.sh (sourced).
# The caller sets PROG (for messages) and runs with set -euo pipefail.

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
fail() { say "$*"; exit 125; }

sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_update() {
    [ $apt_updated = 1 ] && return 0
    apt_updated=1
    sudo_if apt-get update -qq >&2
}

# install_missing PKG...: apt-get install PKG... (apt-get update first if that fails).
install_missing() {
    [ $# -gt 0 ] || return 0
    say "apt-get install $*"
    export DEBIAN_FRONTEND=noninteractive
    sudo_if apt-get install -y -qq --no-install-recommends "$@" >&2 ||
        { apt_update && sudo_if apt-get install -y -qq --no-install-recommends "$@" >&2; } ||
        fail "cannot install $*"
}

# unpack_vmlinux BZIMAGE OUT: if the compressed kernel image carries an xz/zstd/gzip
# payload, unpack it to an ELF vmlinux, which QEMU boots directly (PVH): that saves
# the in-guest decompression, about a second under TCG. Best effort.
unpack_vmlinux() {
    local magic tool off
    for magic in xz zstd gzip; do
        case $magic in
            xz) tool="xz -dc"; off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$1" | head -n1 | cut -d: -f1) ;;
            zstd) tool="zstd -dcq"; off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$1" | head -n1 | cut -d: -f1) ;;
            gzip) tool="gzip -dc"; off=$(LC_ALL=C grep -obUaP '\x1f\x8b\x08' "$1" | head -n1 | cut -d: -f1) ;;
        esac
        [ -n "$off" ] || continue
        # The payload is followed by padding and trailing data: decompressors complain.
        tail -c +$((off + 1)) "$1" | $tool >"$2" 2>/dev/null || true
        if [ "$(head -c4 "$2" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then return 0; fi
    done
    rm -f "$2"
    return 1
}

# default_accel: kvm when /dev/kvm is usable, else tcg. kvm_pvm (KVM without hardware
# virtualisation, in some cloud VMs) only runs PVM-enabled guest kernels: tcg.
default_accel() {
    if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then echo kvm; else echo tcg; fi
}
