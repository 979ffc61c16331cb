#!/usr/bin/env bash
# systemd-image.sh OUTDIR — build the Debian 12 (bookworm) guest that
# run-in-systemd-vm.sh boots, with systemd as PID 1. Needs root (debootstrap, chroot).
#
# OUTDIR gets:
#   root.img      ext4 image of the root filesystem (raw; booted through an overlay, so
#                 a run never modifies it)
#   vmlinuz, initrd.img   the guest's own kernel (linux-image-amd64) and initramfs
#   manifest.txt  the installed packages (dpkg -l) and the units enabled at boot
#
# run-in-systemd-vm.sh caches OUTDIR under a key that is the hash of this file, so
# changing anything here (the package list, the configuration) builds a new image.
# What differs per run (COMMAND, --file) is not in the image: it comes on a second
# disk that /usr/local/libexec/husk-vm/start mounts and hands over to.
set -euo pipefail

SUITE=bookworm
MIRROR=http://deb.debian.org/debian
SECURITY=http://deb.debian.org/debian-security

# Installed with apt-get --no-install-recommends in the debootstrapped minbase, so
# dependencies (and their alternatives) resolve as on any Debian system.
PACKAGES=(
    # the init system and what it talks to
    systemd systemd-sysv dbus udev kmod
    # the kernel (modules: overlay, veth, bridge, 9p, nf_tables...) and its initramfs
    linux-image-amd64 initramfs-tools
    # runtimes and engines
    runc crun conmon podman golang-github-containers-common netavark aardvark-dns
    iptables catatonit uidmap slirp4netns fuse-overlayfs containerd criu
    # security
    apparmor libseccomp2
    # tools tests use
    iproute2 procps util-linux psmisc busybox-static jq e2fsprogs libcap2-bin strace
    less xz-utils zstd
)

die() { echo "systemd-image.sh: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: systemd-image.sh OUTDIR"
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"
# All of it in a private mount namespace: whatever debootstrap or the chroot mount
# (proc, sys, dev) goes away with it, even when the build is interrupted.
if [ "${HUSK_VM_BUILD_NS:-}" != $$ ]; then
    HUSK_VM_BUILD_NS=$$ exec unshare --mount --propagation private -- "$BASH" "$0" "$@"
fi
out=$1
mkdir -p "$out"
tree=$out/tree
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

if ! command -v debootstrap >/dev/null || ! command -v mke2fs >/dev/null; then
    echo "+ apt-get install debootstrap e2fsprogs"
    apt-get install -y -qq --no-install-recommends debootstrap e2fsprogs ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap e2fsprogs; } ||
        die "cannot install debootstrap"
fi

echo "+ debootstrap --variant=minbase $SUITE $MIRROR"
debootstrap --variant=minbase --components=main "$SUITE" "$tree" "$MIRROR" ||
    die "debootstrap failed (see $tree/debootstrap/debootstrap.log)"

cat >"$tree/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY $SUITE-security main
EOF
# No daemons started while installing.
printf '#!/bin/sh\nexit 101\n' >"$tree/usr/sbin/policy-rc.d"
chmod 755 "$tree/usr/sbin/policy-rc.d"

# The initramfs: only what mounts root=/dev/vda (virtio-blk, ext4); the rest of the
# modules load from the root filesystem. An init-top script says "initrd" on the
# status port, so the host sees that the kernel started.
mkdir -p "$tree/etc/initramfs-tools/conf.d" "$tree/etc/initramfs-tools/scripts/init-top"
cat >"$tree/etc/initramfs-tools/conf.d/husk-vm.conf" <<'EOF'
MODULES=list
COMPRESS=zstd
RESUME=none
EOF
cat >"$tree/etc/initramfs-tools/scripts/init-top/husk-vm" <<'EOF'
#!/bin/sh
[ "$1" = prereqs ] && exit 0
[ -c /dev/ttyS3 ] && echo initrd >/dev/ttyS3
exit 0
EOF
chmod 755 "$tree/etc/initramfs-tools/scripts/init-top/husk-vm"

# The chroot's mounts in a namespace of their own: gone before mke2fs reads the tree.
unshare --mount --propagation private -- chroot "$tree" /bin/sh -s "${PACKAGES[@]}" <<'EOF'
set -eu
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev 2>/dev/null || mount -t tmpfs -o mode=0755 dev /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
echo "+ apt-get update"
apt-get update -qq
# initramfs-tools first: its conffile /etc/initramfs-tools/modules is edited before
# the kernel's postinst builds the initramfs.
echo "+ apt-get install initramfs-tools zstd"
apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold initramfs-tools zstd
printf 'virtio_pci\nvirtio_blk\next4\n' >>/etc/initramfs-tools/modules
echo "+ apt-get install $*"
apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold "$@"
apt-get clean
EOF
rm -f "$tree/usr/sbin/policy-rc.d"
rm -rf "$tree"/var/lib/apt/lists/* "$tree"/var/cache/apt/*.bin "$tree"/var/log/*.log \
    "$tree"/var/log/apt/* "$tree/debootstrap"

# ---- configuration ---------------------------------------------------------------
echo husk-vm >"$tree/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 husk-vm\n::1 localhost ip6-localhost ip6-loopback\n' >"$tree/etc/hosts"
# root=/dev/vda is mounted rw by the kernel: no fsck, no remount.
printf '/dev/vda / ext4 rw,relatime 0 0\n' >"$tree/etc/fstab"
# A fixed machine-id: no first boot (systemd-firstboot would prompt on the console).
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$tree/etc/machine-id"
echo >>"$tree/etc/machine-id"
ln -sf /usr/share/zoneinfo/Etc/UTC "$tree/etc/localtime"
# root without a password (there is no getty and no network anyway).
chroot "$tree" passwd -d root >/dev/null
# podman: netavark (what it picks anyway), said explicitly, so it does not look at the
# CNI config the podman package ships (CNI's plugins are not installed) and warn.
mkdir -p "$tree/etc/containers/containers.conf.d"
printf '[network]\nnetwork_backend = "netavark"\n' >"$tree/etc/containers/containers.conf.d/husk-vm.conf"
mkdir -p "$tree/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=64M\n' >"$tree/etc/systemd/journald.conf.d/husk-vm.conf"

# Not at boot, to keep it short: periodic jobs (nothing to do in a throwaway VM),
# podman's auto-update (8 s under TCG) and API service (podman.socket stays), getty
# on tty1 (there is no screen), and containerd, which a test starts when it wants it
# (systemctl start containerd).
for u in containerd.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer logrotate.timer man-db.timer \
    podman-auto-update.timer podman-auto-update.service podman-restart.service \
    podman.service getty@.service; do
    if [ -e "$tree/lib/systemd/system/$u" ]; then systemctl --root="$tree" disable -q "$u" || true; fi
done
systemctl --root="$tree" mask -q systemd-firstboot.service

# The unit that runs COMMAND. It only mounts the run disk (serial husk-run) and
# executes its husk-vm/run, which the host script writes for each run.
mkdir -p "$tree/usr/local/libexec/husk-vm"
cat >"$tree/usr/local/libexec/husk-vm/start" <<'EOF'
#!/bin/sh
# husk-vm-command.service: mount the run disk and hand over to its husk-vm/run.
d=/run/husk-vm/disk
dev=
for b in /sys/block/vd*; do
    if [ "$(cat "$b/serial" 2>/dev/null)" = husk-run ]; then dev=/dev/${b##*/}; fi
done
stty -F /dev/ttyS3 raw -echo 2>/dev/null
mkdir -p "$d"
if [ -z "$dev" ] || ! mount -t ext4 "$dev" "$d"; then
    echo "error: cannot mount the run disk (${dev:-not found})" >/dev/ttyS3
    systemctl poweroff --force --force
fi
exec /bin/sh "$d/husk-vm/run"
EOF
chmod 755 "$tree/usr/local/libexec/husk-vm/start"
cat >"$tree/etc/systemd/system/husk-vm-command.service" <<'EOF'
[Unit]
Description=husk-vm: run the host's COMMAND once the system is up
Documentation=file:/usr/local/libexec/husk-vm/start

[Service]
Type=simple
ExecStart=/usr/local/libexec/husk-vm/start
WorkingDirectory=/
StandardInput=null
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
# COMMAND is a plain service process: no delegated subtree, no limits a shell on a
# host would not have, SIGPIPE as usual, and an OOM kill of one of its processes
# does not stop the unit.
Delegate=no
TasksMax=infinity
LimitNOFILE=1048576
LimitMEMLOCK=infinity
IgnoreSIGPIPE=no
OOMPolicy=continue

[Install]
WantedBy=multi-user.target
EOF
systemctl --root="$tree" enable -q husk-vm-command.service

# ---- outputs -----------------------------------------------------------------------
k=
for f in "$tree"/boot/vmlinuz-*; do k=$f; done # linux-image-amd64 installs one
[ -f "$k" ] || die "no kernel in $tree/boot"
v=${k##*/vmlinuz-}
[ -f "$tree/boot/initrd.img-$v" ] || die "no initrd.img-$v"
cp "$k" "$out/vmlinuz"
cp "$tree/boot/initrd.img-$v" "$out/initrd.img"
{
    echo "# kernel $v"
    echo "# units enabled at boot"
    systemctl --root="$tree" list-unit-files --state=enabled --no-legend --no-pager 2>/dev/null |
        awk '{ print "#   " $1 }' || true
    # shellcheck disable=SC2016 # dpkg-query's format
    chroot "$tree" dpkg-query -W -f '${Package} ${Version}\n'
} >"$out/manifest.txt"

# The root filesystem: the tree plus 4 GiB free (container images, test bundles),
# in a sparse file.
used=$(du -sxm "$tree" | cut -f1)
size=$((used + used / 4 + 4096))
echo "+ mke2fs -d ($used MiB used, ${size} MiB image)"
rm -f "$out/root.img"
mke2fs -q -t ext4 -L husk-root -E root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0 \
    -d "$tree" "$out/root.img" "${size}M"
rm -rf --one-file-system "$tree"
chmod 0444 "$out/root.img"
