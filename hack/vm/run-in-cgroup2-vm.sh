#!/usr/bin/env bash
# run-in-cgroup2-vm.sh — run a command as root in a throwaway QEMU VM whose only cgroup
# hierarchy is cgroup v2 (all controllers enabled), to test husk on a pure-v2 host.
# See hack/vm/README.md.
set -euo pipefail

PROG=${0##*/}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/lib.sh"

usage() {
    cat <<EOF
usage: $PROG [options] -- COMMAND [ARG]...

Boots Debian's kernel (linux-image-amd64, extracted into a cache, not installed) with
a busybox initramfs, mounts cgroup2 at /sys/fs/cgroup and runs COMMAND as root in /,
stdin /dev/null. COMMAND's stdout and stderr go to this script's stdout and stderr.

  --file HOST[:GUEST]   copy a file or directory into the guest (GUEST defaults to
                        HOST's absolute path); a file's shared libraries (ldd) come too
  --timeout S           power the VM off after S seconds (default 900): exit 124
  --memory MIB          guest RAM (default 1024)
  --cpus N              guest CPUs (default: 2, at most the host's)
  --accel auto|kvm|tcg  default auto: KVM if /dev/kvm can boot a guest, else TCG
  --verbose             stream the guest's kernel console to stderr

Exit status: COMMAND's; 124 on timeout; 125 if the harness or the VM failed.
Env: HUSK_VM_CACHE (default \${XDG_CACHE_HOME:-~/.cache}/husk-vm),
     HUSK_VM_KERNEL (boot this kernel image instead of Debian's),
     HUSK_VM_APPEND (more kernel command line, e.g. loglevel=7 with --verbose).
EOF
}

files=()
timeout=900 memory=1024 cpus=2 accel=auto verbose=0
while [ $# -gt 0 ]; do
    case $1 in
        --file) [ $# -ge 2 ] || fail "--file needs HOST[:GUEST]"; files+=("$2"); shift 2 ;;
        --timeout) timeout=${2:-}; shift 2 || true ;;
        --memory) memory=${2:-}; shift 2 || true ;;
        --cpus) cpus=${2:-}; shift 2 || true ;;
        --accel) accel=${2:-}; shift 2 || true ;;
        --verbose) verbose=1; shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; break ;;
        *) usage >&2; exit 125 ;;
    esac
done
[ $# -gt 0 ] || { usage >&2; exit 125; }
for n in "$timeout" "$memory" "$cpus"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || fail "not a positive number: '$n'"
done
case $accel in auto | kvm | tcg) ;; *) fail "--accel: auto, kvm or tcg, not '$accel'" ;; esac
[ "$cpus" -le "$(nproc)" ] || cpus=$(nproc)

# ---- host tools ----------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v busybox >/dev/null || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v xz >/dev/null || need+=(xz-utils)
command -v zstd >/dev/null || need+=(zstd)
install_missing ${need[@]+"${need[@]}"}

# ---- kernel ----------------------------------------------------------------------------
# Debian's current kernel package, downloaded with apt-get and unpacked (only /boot)
# into the cache. If the compressed image carries an xz/zstd/gzip payload, it is
# unpacked to an ELF vmlinux too: QEMU boots that directly (PVH), which saves the
# in-guest decompression — about a second under TCG.
cache=${HUSK_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/husk-vm}
kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1
}
if [ -n "${HUSK_VM_KERNEL:-}" ]; then
    kernel=$HUSK_VM_KERNEL
else
    # apt-cache takes seconds on a busy host: its answer is reused for a day.
    pkg=
    if [ -n "$(find "$cache/current" -mmin -1440 2>/dev/null)" ]; then pkg=$(cat "$cache/current"); fi
    [ -n "$pkg" ] || pkg=$(kernel_pkg)
    [ -n "$pkg" ] || { apt_update; pkg=$(kernel_pkg); }
    [ -n "$pkg" ] || fail "apt-cache cannot resolve linux-image-amd64"
    kdir=$cache/$pkg
    if [ ! -f "$kdir/ok" ]; then
        say "fetching $pkg into $kdir"
        mkdir -p "$cache"
        work=$(mktemp -d "$cache/.fetch.XXXXXX")
        ( cd "$work" && apt-get download -qq "$pkg" >&2 ) ||
            { apt_update && ( cd "$work" && apt-get download -qq "$pkg" >&2 ); } ||
            { rm -rf "$work"; fail "apt-get download $pkg failed"; }
        mkdir "$work/x"
        dpkg-deb --fsys-tarfile "$work"/*.deb | tar -x -C "$work/x" --wildcards './boot/*' ||
            { rm -rf "$work"; fail "cannot unpack $pkg"; }
        for z in "$work"/x/boot/vmlinuz-*; do
            unpack_vmlinux "$z" "$work/x/boot/vmlinux" || say "cannot unpack $z; booting it compressed"
        done
        rm -rf "$kdir"
        mv "$work/x" "$kdir"
        rm -rf "$work"
        touch "$kdir/ok"
    fi
    [ "$(cat "$cache/current" 2>/dev/null)" = "$pkg" ] || echo "$pkg" >"$cache/current"
    kernel=
    for k in "$kdir"/boot/vmlinux "$kdir"/boot/vmlinuz-*; do
        if [ -f "$k" ]; then kernel=$k; break; fi
    done
fi
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then fail "no kernel image (${kernel:-none found})"; fi

# ---- initramfs -----------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/husk-vm.XXXXXX")
qemu_pid=
readers=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
    for p in "${readers[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

root=$tmp/root
mkdir -p "$root"/{bin,dev,etc/husk-vm,proc,root,run,sys,tmp,newroot}
chmod 1777 "$root/tmp"

with_libs() { # copy the ELF interpreter and libraries ldd lists for $1, at their paths
    local lib
    for lib in $(ldd "$1" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
        [ -e "$root$lib" ] && continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}
add() { # HOST[:GUEST]
    local host=${1%%:*} guest
    if [[ $1 == *:* ]]; then guest=${1#*:}; else guest=$(realpath -s "$host"); fi
    [ -e "$host" ] || fail "--file $1: $host does not exist"
    [[ $guest == /* ]] || fail "--file $1: the guest path must be absolute"
    mkdir -p "$root$(dirname "$guest")"
    if [ -d "$host" ]; then
        mkdir -p "$root$guest"
        cp -a "$host/." "$root$guest/"
    else
        cp -L --preserve=mode,timestamps "$host" "$root$guest"
        if [ -x "$host" ]; then with_libs "$host"; fi
    fi
}

bb=$(command -v busybox)
cp -L "$bb" "$root/bin/busybox"
with_libs "$bb"
for f in ${files[@]+"${files[@]}"}; do add "$f"; done

# COMMAND, quoted for the guest's sh: set -- 'arg' 'it'\''s' ...
{
    printf 'set --'
    for a in "$@"; do printf " '%s'" "${a//\'/\'\\\'\'}"; done
    printf '\n'
} >"$root/etc/husk-vm/command"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf '127.0.0.1 localhost husk-vm\n::1 localhost\n' >"$root/etc/hosts"

# The guest's serial ports: ttyS0 kernel console, ttyS1 COMMAND's stdout, ttyS2 its
# stderr, ttyS3 status lines for this script ("booted", "exit N").

# Stage 1 (/init, on the initramfs): pivot_root(2) cannot leave the initramfs rootfs,
# and runtimes pivot_root out of the host's root, so move everything onto a tmpfs.
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
exec </dev/null >/dev/console 2>&1
/bin/busybox stty -F /dev/ttyS3 raw -echo
echo booted >/dev/ttyS3
/bin/busybox mount -t tmpfs -o mode=0755 root /newroot
for e in /* /.[!.]*; do
    case $e in /newroot | /dev | /bin | /init | '/.[!.]*') ;; *) /bin/busybox mv "$e" /newroot/ ;; esac
done
/bin/busybox cp -a /bin /newroot/
/bin/busybox mkdir /newroot/dev
/bin/busybox mount --move /dev /newroot/dev
exec /bin/busybox switch_root /newroot /etc/husk-vm/stage2
EOF

# Stage 2 (on the tmpfs root): the filesystems, cgroup2, then COMMAND.
cat >"$root/etc/husk-vm/stage2" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
mount -t mqueue mqueue /dev/mqueue
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || echo "husk-vm: cannot enable $c"
done
hostname husk-vm
ip link set lo up
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
cd /
(. /etc/husk-vm/command && exec "$@") </dev/null >/dev/ttyS1 2>/dev/ttyS2
echo "exit $?" >/dev/ttyS3
sync
poweroff -f
EOF
chmod 755 "$root/init" "$root/etc/husk-vm/stage2"
( cd "$root" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet ) >"$tmp/initrd" ||
    fail "cannot build the initramfs"

# ---- boot ----------------------------------------------------------------------------
mkfifo "$tmp/out" "$tmp/err"
# Held open for writing while QEMU runs, so the readers see EOF only at the end (and
# do not block forever if QEMU never opens the fifos).
exec 3<>"$tmp/out" 4<>"$tmp/err"
cat "$tmp/out" 3>&- 4>&- &
readers+=($!)
cat "$tmp/err" 3>&- 4>&- >&2 &
readers+=($!)

started=$SECONDS
run_vm() { # $1: kvm|tcg. Returns 3 when KVM did not reach /init within 20 s.
    local cpu=max t0=$SECONDS
    [ "$1" = tcg ] || cpu=host
    : >"$tmp/status"
    : >"$tmp/console"
    # Each port: an isa-serial on a file chardev (the fifos for COMMAND's output).
    qemu-system-x86_64 -accel "$1" -machine q35 -cpu "$cpu" -smp "$cpus" -m "$memory" \
        -nodefaults -no-user-config -display none -monitor none -no-reboot \
        -chardev file,id=con,path="$tmp/console" -device isa-serial,chardev=con,index=0 \
        -chardev file,id=out,path="$tmp/out" -device isa-serial,chardev=out,index=1 \
        -chardev file,id=err,path="$tmp/err" -device isa-serial,chardev=err,index=2 \
        -chardev file,id=st,path="$tmp/status" -device isa-serial,chardev=st,index=3 \
        -kernel "$kernel" -initrd "$tmp/initrd" \
        -append "console=ttyS0 quiet panic=-1 rdinit=/init 8250.nr_uarts=4 ${HUSK_VM_APPEND:-}" \
        </dev/null >>"$tmp/console" 2>&1 &
    qemu_pid=$!
    local tailer=
    if [ $verbose = 1 ]; then
        tail -n +1 -f --pid="$qemu_pid" "$tmp/console" >&2 &
        tailer=$!
    fi
    local booted=0
    while kill -0 "$qemu_pid" 2>/dev/null; do
        if [ $booted = 0 ] && grep -q booted "$tmp/status"; then
            booted=1
            say "$1: guest /init after $((SECONDS - t0))s"
        fi
        if [ "$1" = kvm ] && [ $booted = 0 ] && [ $((SECONDS - t0)) -ge 20 ]; then
            kill "$qemu_pid"
        fi
        if [ $((SECONDS - started)) -ge "$timeout" ]; then
            say "timeout: ${timeout}s"
            kill "$qemu_pid"
        fi
        sleep 0.1
    done
    wait "$qemu_pid" 2>/dev/null || true
    qemu_pid=
    if [ -n "$tailer" ]; then wait "$tailer" || true; fi
    if [ "$1" = kvm ] && ! grep -q booted "$tmp/status"; then return 3; fi
    return 0
}

if [ "$accel" = auto ]; then
    accel=$(default_accel)
fi
if ! run_vm "$accel"; then
    say "KVM: the guest did not start; retrying with TCG"
    accel=tcg
    run_vm tcg
fi
# COMMAND's output is complete once the readers see EOF (QEMU closed the fifos).
exec 3>&- 4>&-
wait "${readers[@]}" 2>/dev/null || true
readers=()

code=$(tr -d '\r' <"$tmp/status" | sed -n 's/^exit \([0-9]*\)$/\1/p' | tail -n1)
say "$accel: VM ran $((SECONDS - started))s"
if [ -n "$code" ]; then exit "$code"; fi
if [ $((SECONDS - started)) -ge "$timeout" ]; then exit 124; fi
if [ $verbose = 0 ]; then
    say "the guest reported no exit status; its console:"
    tail -n 40 "$tmp/console" >&2
fi
exit 125
