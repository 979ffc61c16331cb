#!/usr/bin/env bash
# mkrootfs.sh DIR — make a minimal busybox root filesystem in DIR.
#
# DIR/bin/busybox is Debian's static busybox (package busybox-static, installed with
# apt-get when missing and we are root); every applet of `busybox --list` gets a
# symlink in DIR/bin; the usual empty mount points and a tiny /etc/passwd and
# /etc/group are created. Running it again on the same DIR changes nothing that is
# already right (existing passwd/group files are kept).
#
# Env: BUSYBOX  static busybox to copy (default /bin/busybox)
set -euo pipefail

die() { echo "mkrootfs.sh: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: mkrootfs.sh DIR"
DIR=$1
BUSYBOX=${BUSYBOX:-/bin/busybox}

is_static() { [ -x "$1" ] && ! ldd "$1" >/dev/null 2>&1; }

if ! is_static "$BUSYBOX"; then
    [ "$BUSYBOX" = /bin/busybox ] || die "$BUSYBOX is not a static executable"
    [ "$(id -u)" = 0 ] || die "need a static /bin/busybox: run 'apt-get install busybox-static' as root"
    command -v apt-get >/dev/null || die "need a static /bin/busybox (Debian/Ubuntu package busybox-static)"
    echo "mkrootfs.sh: installing busybox-static" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null ||
        die "apt-get install busybox-static failed (try 'apt-get update' first)"
    is_static "$BUSYBOX" || die "$BUSYBOX is still not a static executable"
fi

mkdir -p "$DIR"/{bin,proc,sys,dev,tmp,etc,root}
chmod 0755 "$DIR" "$DIR"/{bin,proc,sys,dev,etc}
chmod 1777 "$DIR/tmp"
chmod 0700 "$DIR/root"

# Copy the binary only when it differs (keeps mtime and inode on re-runs).
if ! cmp -s "$BUSYBOX" "$DIR/bin/busybox"; then
    install -m 0755 "$BUSYBOX" "$DIR/bin/busybox"
fi

# One relative symlink per applet: bin/sh -> busybox, ...
while read -r applet; do
    case $applet in ''|busybox|*/*) continue ;; esac
    if [ "$(readlink "$DIR/bin/$applet" 2>/dev/null)" != busybox ]; then
        ln -sfn busybox "$DIR/bin/$applet"
    fi
done < <("$DIR/bin/busybox" --list)

[ -e "$DIR/etc/passwd" ] || cat >"$DIR/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
[ -e "$DIR/etc/group" ] || cat >"$DIR/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
nogroup:x:65534:
GROUP
exit 0
