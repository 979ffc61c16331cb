#!/usr/bin/env bash
# run-in-systemd-vm.sh — run a command as root in a throwaway QEMU VM that boots Debian
# 12 with systemd as PID 1 (cgroup v2, or v1 with --cgroup v1), to test the systemd
# cgroup driver. See hack/vm/README.md.
set -euo pipefail

PROG=${0##*/}
HERE=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

usage() {
    cat <<EOF
usage: $PROG [options] -- COMMAND [ARG]...

Boots a Debian 12 guest (built once with debootstrap into a cache, never modified by
a run) with systemd as PID 1 and its own kernel, waits for the system to be up
(systemctl is-system-running: running or degraded) and runs COMMAND as root in /,
stdin /dev/null, in husk-vm-command.service. COMMAND's stdout and stderr go to this
script's stdout and stderr.

  --cgroup v2|v1        v2 (default): cgroup2 only; v1: systemd.unified_cgroup_hierarchy=0
  --file HOST[:GUEST]   make a file or directory available in the guest at GUEST
                        (default: HOST's absolute path), on a per-run disk
  --timeout S           kill the VM S seconds after it started (default 1800): exit 124
  --memory MIB          guest RAM (default 2048)
  --cpus N              guest CPUs (default: 2, at most the host's)
  --accel auto|kvm|tcg  default auto: KVM if /dev/kvm can boot a guest, else TCG
  --verbose             stream the guest console to stderr; report the failed units

Exit status: COMMAND's; 124 on timeout; 125 if the harness or the VM failed.
Env: HUSK_VM_CACHE (default \${XDG_CACHE_HOME:-~/.cache}/husk-vm),
     HUSK_VM_BOOT_TIMEOUT (give up booting after S seconds, default 900: exit 125),
     HUSK_VM_APPEND (more kernel command line).
EOF
}

files=()
cgroup=v2 timeout=1800 memory=2048 cpus=2 accel=auto verbose=0
boot_timeout=${HUSK_VM_BOOT_TIMEOUT:-900}
while [ $# -gt 0 ]; do
    case $1 in
        --cgroup) cgroup=${2:-}; shift 2 || true ;;
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
for n in "$timeout" "$memory" "$cpus" "$boot_timeout"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || fail "not a positive number: '$n'"
done
case $cgroup in v1 | v2) ;; *) fail "--cgroup: v2 or v1, not '$cgroup'" ;; esac
case $accel in auto | kvm | tcg) ;; *) fail "--accel: auto, kvm or tcg, not '$accel'" ;; esac
[ "$cpus" -le "$(nproc)" ] || cpus=$(nproc)

trap 'exit 130' INT
trap 'exit 143' TERM

# ---- host tools ----------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v mke2fs >/dev/null || need+=(e2fsprogs)
command -v zstd >/dev/null || need+=(zstd)
command -v xz >/dev/null || need+=(xz-utils)
command -v flock >/dev/null || need+=(util-linux)
install_missing ${need[@]+"${need[@]}"}

# ---- the image -------------------------------------------------------------------------
# Keyed by the hash of systemd-image.sh (its package list and everything it configures):
# a change there builds a new image; old ones stay until the cache is cleaned.
cache=${HUSK_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/husk-vm}
key=$(sha256sum "$HERE/systemd-image.sh" | cut -c1-16)
img=$cache/systemd-bookworm-$key
mkdir -p "$cache"
if [ ! -f "$img/ok" ]; then
    exec 9>"$cache/.systemd-bookworm-$key.lock"
    flock 9
    if [ ! -f "$img/ok" ]; then
        [ "$(id -u)" = 0 ] || command -v sudo >/dev/null || fail "building the image needs root"
        say "building the guest image $img (once; 1-5 minutes)"
        t0=$SECONDS
        work=$(mktemp -d "$cache/.build-$key.XXXXXX")
        # In a session of its own, so that an interrupted build is killed as a whole
        # (debootstrap, dpkg in the chroot) before its directory is removed.
        build_pid=
        # shellcheck disable=SC2317 # called by the trap
        build_cleanup() {
            if [ -n "$build_pid" ]; then
                kill -TERM -- "-$build_pid" 2>/dev/null || kill -TERM "$build_pid" 2>/dev/null || true
                wait "$build_pid" 2>/dev/null || true
            fi
            rm -rf --one-file-system "$work" || true
        }
        trap build_cleanup EXIT
        # (Not through sudo_if: $! must be setsid's pid, the new process group's.)
        if [ "$(id -u)" = 0 ]; then
            setsid bash "$HERE/systemd-image.sh" "$work/out" >"$work/build.log" 2>&1 &
        else
            # shellcheck disable=SC2024 # the log is ours, on purpose
            sudo setsid bash "$HERE/systemd-image.sh" "$work/out" >"$work/build.log" 2>&1 &
        fi
        build_pid=$!
        if [ $verbose = 1 ]; then tail -n +1 -f --pid="$build_pid" "$work/build.log" >&2 & fi
        if ! wait "$build_pid"; then
            build_pid=
            say "building the image failed:"
            if [ $verbose = 0 ]; then tail -n 40 "$work/build.log" >&2; fi
            exit 125
        fi
        build_pid=
        if [ "$(id -u)" != 0 ]; then sudo chown -R "$(id -u):$(id -g)" "$work/out"; fi
        unpack_vmlinux "$work/out/vmlinuz" "$work/out/vmlinux" ||
            say "cannot unpack the guest's vmlinuz; booting it compressed"
        mv "$work/build.log" "$work/out/"
        touch "$work/out/ok"
        rm -rf "$img"
        mv "$work/out" "$img"
        trap - EXIT
        rm -rf --one-file-system "$work"
        say "image: built in $((SECONDS - t0))s ($(du -sm --apparent-size "$img/root.img" | cut -f1) MiB, $(du -sm "$img/root.img" | cut -f1) MiB used)"
    fi
    exec 9>&-
fi
kernel=$img/vmlinux
[ -f "$kernel" ] || kernel=$img/vmlinuz

# ---- the run -------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/husk-sdvm.XXXXXX")
qemu_pid=
readers=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
    for p in ${readers[@]+"${readers[@]}"}; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp" || true
}
trap cleanup EXIT

# The root disk: a qcow2 overlay on the cached image, thrown away with $tmp.
qemu-img create -q -f qcow2 -F raw -b "$img/root.img" "$tmp/root.qcow2" ||
    fail "cannot create the overlay"

# The run disk (serial husk-run), mounted at /run/husk-vm/disk in the guest:
#   husk-vm/run       the guest side, run by husk-vm-command.service
#   husk-vm/command   COMMAND, quoted for sh
#   husk-vm/files     "N GUEST" per --file: files/N is bind-mounted at GUEST
run=$tmp/run
mkdir -p "$run/husk-vm" "$run/files"
i=0
for f in ${files[@]+"${files[@]}"}; do
    host=${f%%:*}
    if [[ $f == *:* ]]; then guest=${f#*:}; else guest=$(realpath -s "$host"); fi
    [ -e "$host" ] || fail "--file $f: $host does not exist"
    [[ $guest == /* ]] || fail "--file $f: the guest path must be absolute"
    [[ $guest != *$'\n'* ]] || fail "--file $f: no newlines in the guest path"
    i=$((i + 1))
    if [ -d "$host" ]; then
        mkdir "$run/files/$i"
        cp -a "$host/." "$run/files/$i/"
    else
        cp -L --preserve=mode,timestamps "$host" "$run/files/$i"
    fi
    printf '%s %s\n' "$i" "$guest" >>"$run/husk-vm/files"
done
: >>"$run/husk-vm/files"
{
    printf 'set --'
    for a in "$@"; do printf " '%s'" "${a//\'/\'\\\'\'}"; done
    printf '\n'
} >"$run/husk-vm/command"

# The guest's serial ports: ttyS0 console, ttyS1 COMMAND's stdout, ttyS2 its stderr,
# ttyS3 status lines for this script: "initrd" (from the initramfs), "state S",
# "failed UNIT"..., "exit N", or "error: ...".
cat >"$run/husk-vm/run" <<'EOF'
# husk-vm guest side, run by /usr/local/libexec/husk-vm/start in husk-vm-command.service.
d=/run/husk-vm/disk
for t in /dev/ttyS1 /dev/ttyS2 /dev/ttyS3; do stty -F $t raw -echo; done
report() { echo "$*" >/dev/ttyS3; }
stop() { sync; systemctl poweroff --force --force; sleep 60; }
state=$(systemctl is-system-running --wait)
report "state $state"
systemctl list-units --failed --plain --no-legend --no-pager | while read -r u _; do report "failed $u"; done
case $state in running | degraded) ;; *) stop ;; esac
while read -r n g; do
    src=$d/files/$n
    if [ -d "$src" ]; then
        mkdir -p "$g"
    else
        mkdir -p "${g%/*}/" && { [ -e "$g" ] || : >"$g"; }
    fi && mount --bind "$src" "$g" || { report "error: --file: cannot mount it at $g"; stop; }
done <$d/husk-vm/files
unset JOURNAL_STREAM INVOCATION_ID SYSTEMD_EXEC_PID
cd /
(. $d/husk-vm/command && exec "$@") </dev/null >/dev/ttyS1 2>/dev/ttyS2
report "exit $?"
stop
EOF

nfiles=$(find "$run" | wc -l)
kib=$(du -sk "$run" | cut -f1)
if ! mke2fs -q -t ext4 -O ^has_journal -L husk-run -N $((nfiles + 1024)) -E root_owner=0:0 \
    -d "$run" "$tmp/run.img" $((kib + kib / 4 + nfiles * 4 + 16384))k >"$tmp/mke2fs.log" 2>&1; then
    cat "$tmp/mke2fs.log" >&2
    fail "cannot build the run disk"
fi
rm -rf "$run"

# ---- boot ----------------------------------------------------------------------------
mkfifo "$tmp/out" "$tmp/err"
# Held open for writing while QEMU runs, so the readers see EOF only at the end (and
# do not block forever if QEMU never opens the fifos).
exec 3<>"$tmp/out" 4<>"$tmp/err"
cat "$tmp/out" 3>&- 4>&- &
readers+=($!)
cat "$tmp/err" 3>&- 4>&- >&2 &
readers+=($!)

append="root=/dev/vda rw console=ttyS0 panic=-1 8250.nr_uarts=4 systemd.getty_auto=0"
if [ $verbose = 0 ]; then append+=" quiet"; fi
if [ "$cgroup" = v1 ]; then
    append+=" systemd.unified_cgroup_hierarchy=0"
else
    append+=" systemd.unified_cgroup_hierarchy=1"
fi
append+=" ${HUSK_VM_APPEND:-}"

status() { # the complete (newline-terminated) status lines so far, without \r
    if [ "$(tail -c1 "$tmp/status" | od -An -tx1 | tr -d ' ')" = 0a ]; then
        tr -d '\r' <"$tmp/status"
    else
        tr -d '\r' <"$tmp/status" | sed '$d'
    fi
}

started=$SECONDS
booted=
run_vm() { # $1: kvm|tcg. Returns 3 when KVM did not reach the initramfs within 30 s.
    local cpu=max t0=$SECONDS state='' exited=''
    [ "$1" = tcg ] || cpu=host
    started=$SECONDS
    : >"$tmp/status"
    : >"$tmp/console"
    qemu-system-x86_64 -accel "$1" -machine q35 -cpu "$cpu" -smp "$cpus" -m "$memory" \
        -nodefaults -no-user-config -display none -monitor none -no-reboot \
        -chardev file,id=con,path="$tmp/console" -device isa-serial,chardev=con,index=0 \
        -chardev file,id=out,path="$tmp/out" -device isa-serial,chardev=out,index=1 \
        -chardev file,id=err,path="$tmp/err" -device isa-serial,chardev=err,index=2 \
        -chardev file,id=st,path="$tmp/status" -device isa-serial,chardev=st,index=3 \
        -drive file="$tmp/root.qcow2",format=qcow2,if=none,id=root,cache=unsafe,discard=unmap \
        -device virtio-blk-pci,drive=root,serial=husk-root,addr=0x4 \
        -drive file="$tmp/run.img",format=raw,if=none,id=run,cache=unsafe \
        -device virtio-blk-pci,drive=run,serial=husk-run,addr=0x5 \
        -device virtio-rng-pci,addr=0x6 \
        -kernel "$kernel" -initrd "$img/initrd.img" -append "$append" \
        </dev/null >>"$tmp/console" 2>&1 &
    qemu_pid=$!
    local tailer=
    if [ $verbose = 1 ]; then
        tail -n +1 -f --pid="$qemu_pid" "$tmp/console" >&2 &
        tailer=$!
    fi
    while kill -0 "$qemu_pid" 2>/dev/null; do
        if [ -z "$state" ]; then
            state=$(status | sed -n 's/^state //p' | head -n1)
            if [ -n "$state" ]; then
                booted=$((SECONDS - t0))
                say "boot: ${booted}s (qemu start to system $state, $1, cgroup $cgroup)"
                if [ $verbose = 1 ]; then
                    sleep 0.5 # the failed units follow the state
                    status | sed -n 's/^failed /failed unit: /p' | while read -r l; do say "$l"; done
                fi
            elif [ $((SECONDS - t0)) -ge "$boot_timeout" ] && [ "$boot_timeout" -lt "$timeout" ]; then
                say "the system was not up after ${boot_timeout}s"
                kill "$qemu_pid"
            fi
        fi
        if [ "$1" = kvm ] && [ $((SECONDS - t0)) -ge 30 ] && ! grep -q initrd "$tmp/status"; then
            kill "$qemu_pid"
        fi
        if [ -z "$exited" ] && status | grep -q '^exit '; then exited=$SECONDS; fi
        # The guest powers off right after "exit N"; do not wait for ever.
        if [ -n "$exited" ] && [ $((SECONDS - exited)) -ge 30 ]; then kill "$qemu_pid"; fi
        if [ $((SECONDS - started)) -ge "$timeout" ]; then
            say "timeout: ${timeout}s"
            kill "$qemu_pid"
        fi
        sleep 0.2
    done
    wait "$qemu_pid" 2>/dev/null || true
    qemu_pid=
    if [ -n "$tailer" ]; then wait "$tailer" || true; fi
    if [ "$1" = kvm ] && ! grep -q initrd "$tmp/status"; then return 3; fi
    return 0
}

if [ "$accel" = auto ]; then accel=$(default_accel); fi
if ! run_vm "$accel"; then
    say "KVM: the guest did not start; retrying with TCG"
    accel=tcg
    run_vm tcg
fi
# COMMAND's output is complete once the readers see EOF (QEMU closed the fifos).
exec 3>&- 4>&-
wait "${readers[@]}" 2>/dev/null || true
readers=()

code=$(status | sed -n 's/^exit \([0-9]*\)$/\1/p' | tail -n1)
[ $verbose = 0 ] || say "$accel: VM ran $((SECONDS - started))s"
if [ -n "$code" ]; then exit "$code"; fi
if [ $((SECONDS - started)) -ge "$timeout" ]; then exit 124; fi
status | grep -v '^failed ' | sed -n 's/^\(state\|error\)/guest: \1/p' | while read -r l; do say "$l"; done
if [ $verbose = 0 ]; then
    say "the guest reported no exit status; its console:"
    tail -n 40 "$tmp/console" >&2
fi
exit 125
