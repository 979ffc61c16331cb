#!/usr/bin/env bash
# podman-rootless.sh RUNTIME — rootless podman (an ordinary user with subuid/subgid
# ranges; podman's own user namespace, vfs storage, no network) driving RUNTIME:
# run, exec, stop, rm. One "ok NAME" / "FAIL NAME: reason" line per check.
#
# The user is integration/src/rootless.rs's (husk-rootless, made here if missing,
# ranges 300000:65536). Its podman storage lives in a private temp HOME, removed at
# the end (podman unshare rm, as the files belong to its subordinate ids).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
RT=${1:?usage: podman-rootless.sh RUNTIME}
U=husk-rootless
[ "$(id -u)" = 0 ] || { echo "podman-rootless.sh: run as root (it makes the test user)"; exit 1; }
id -u "$U" >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh "$U"
for f in /etc/subuid /etc/subgid; do
    grep -q "^$U:" "$f" 2>/dev/null || echo "$U:300000:65536" >>"$f"
done
uid=$(id -u "$U")

T=$(mktemp -d /tmp/husk-podman-rootless.XXXXXX)
chmod 755 "$T"
home=$T/home run_dir=$T/run
mkdir -p "$home" "$run_dir"
chown "$U:" "$home" "$run_dir"; chmod 700 "$run_dir"
# The runtime must be reachable by the user: a copy in the temp dir.
cp "$RT" "$T/runtime"; chmod 755 "$T/runtime"
as_user() {
    # podman reads HOME/XDG_* for its storage and runtime dirs
    setpriv --reuid="$uid" --regid="$(id -g "$U")" --init-groups -- \
        env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$home" USER="$U" \
        XDG_RUNTIME_DIR="$run_dir" XDG_CONFIG_HOME="$home/.config" "$@"
}
P=(as_user podman --runtime "$T/runtime" --storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
cleanup() {
    as_user podman --storage-driver vfs rm -af >/dev/null 2>&1
    as_user podman --storage-driver vfs system reset -f >/dev/null 2>&1
    as_user podman unshare rm -rf "$home/.local" >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT

make_rootfs "$T/rootfs" || { fail image "no static busybox"; summary; exit 1; }
tar -C "$T/rootfs" -cf "$T/image.tar" .
chmod 644 "$T/image.tar"
run "${P[@]}" import "$T/image.tar" localhost/husk-rootless:latest
[ "$rc" -eq 0 ] && pass import || fail import "$(ctx)"

expect run-id "0 0 0 $uid" "${P[@]}" run --rm --network none localhost/husk-rootless:latest \
    sh -c 'echo "$(id -u) $(id -g) $(awk "{print \$1, \$2}" /proc/self/uid_map | head -1)"'
expect_rc run-exit-code 7 "${P[@]}" run --rm --network none localhost/husk-rootless:latest sh -c 'exit 7'
run "${P[@]}" run -d --name rl1 --network none localhost/husk-rootless:latest sleep 300
[ "$rc" -eq 0 ] && pass run-detached || fail run-detached "$(ctx)"
expect exec "hello" "${P[@]}" exec rl1 echo hello
expect exec-user "1000" "${P[@]}" exec --user 1000 rl1 id -u
expect_rc stop 0 "${P[@]}" stop -t 2 rl1
expect state-exited "exited" "${P[@]}" inspect -f '{{.State.Status}}' rl1
expect_rc rm 0 "${P[@]}" rm rl1
left=$(procs_mentioning "$T/runtime")
[ -z "$left" ] && pass nothing-left || fail nothing-left "$left"
summary
