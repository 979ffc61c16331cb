# lib.sh — shared by podman.sh and containerd.sh (sourced, not run).
# shellcheck shell=bash disable=SC2034
#
# Provides: the check helpers (one "ok NAME" / "FAIL NAME: reason" line each, a
# summary line at the end), the busybox image rootfs, and the leak checks run once
# every container is gone. Callers set T (their private temp dir) before sourcing
# the image/leak helpers.

CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-60}   # seconds per client command

npass=0 nfail=0
pass() { echo "ok $1"; npass=$((npass + 1)); }
fail() { echo "FAIL $1: $2"; nfail=$((nfail + 1)); }
summary() { echo "$npass passed, $nfail failed"; [ "$nfail" -eq 0 ]; }

# run CMD...: runs it under a timeout (shell functions directly), stdin inherited.
# Sets out (stdout without CRs), rc, and err (first non-blank stderr lines).
run() {
    local to=(timeout -k 5 "$CLIENT_TIMEOUT")
    declare -F "$1" >/dev/null && to=()
    out=$("${to[@]}" "$@" 2>"$T/.stderr"); rc=$?
    out=${out//$'\r'/}
    err=$(grep -v '^[[:space:]]*$' "$T/.stderr" | head -n 4 | tr '\n' ' ' | cut -c1-400)
}
ctx() { printf "rc=%s out='%s' err='%s'" "$rc" "$(printf '%s' "$out" | head -c 240 | tr '\n' '|')" "$err"; }

# expect NAME WANT CMD...: CMD exits 0 and prints exactly WANT
expect() {
    local name=$1 want=$2; shift 2
    run "$@"
    if [ "$rc" -eq 0 ] && [ "$out" = "$want" ]; then pass "$name"; else fail "$name" "want '$want'; $(ctx)"; fi
}
# expect_rc NAME RC CMD...: CMD exits with RC
expect_rc() {
    local name=$1 want=$2; shift 2
    run "$@"
    if [ "$rc" -eq "$want" ]; then pass "$name"; else fail "$name" "want exit $want; $(ctx)"; fi
}
# verdict NAME DETAIL CMD...: passes iff CMD (a test, not timed) succeeds
verdict() {
    local name=$1 detail=$2; shift 2
    if "$@"; then pass "$name"; else fail "$name" "$detail"; fi
}
# poll SECONDS CMD...: retry CMD every 0.1s until it succeeds
poll() {
    local end=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done
}
# in an interactive terminal (script(1) supplies the pty): type STDIN into CMD
in_pty() { local cmd; printf -v cmd '%q ' "$@"; script -qec "$cmd" /dev/null; }

# the host's static busybox (Debian's busybox-static), or nothing
static_busybox() {
    local b
    for b in /bin/busybox /usr/bin/busybox; do
        [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1 && { echo "$b"; return 0; }
    done
    return 1
}

# make_rootfs DIR: a minimal image filesystem: busybox + applet links, passwd/group
make_rootfs() {
    local dir=$1 bb a
    bb=$(static_busybox) || return 1
    mkdir -p "$dir"/{bin,etc,tmp,proc,sys,dev,root,run,var,mnt}
    chmod 1777 "$dir/tmp"
    cp "$bb" "$dir/bin/busybox"
    for a in $("$bb" --list); do [ "$a" = busybox ] || ln -s busybox "$dir/bin/$a"; done
    cat >"$dir/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/tmp:/bin/sh
nobody:x:65534:65534:nobody:/:/bin/sh
EOF
    printf 'root:x:0:\nuser:x:1000:\nextra:x:2000:user\nnobody:x:65534:\n' >"$dir/etc/group"
}

# cgroup file of a host PID: cg_read PID V1CONTROLLER V1FILE V2FILE
cg_read() {
    local pid=$1 ctl=$2 rel
    rel=$(awk -F: -v c="$ctl" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$pid/cgroup")
    if [ -n "$rel" ] && [ -e "/sys/fs/cgroup/$ctl$rel/$3" ]; then
        cat "/sys/fs/cgroup/$ctl$rel/$3"
    else
        rel=$(awk -F: '$1 == "0" { print $3 }' "/proc/$pid/cgroup")
        cat "/sys/fs/cgroup$rel/$4"
    fi
}
# the same file read inside a container: the shell snippet defines cgf V1CTL V1FILE V2FILE
CGF='cgf() { cat /sys/fs/cgroup/$1/$2 2>/dev/null || cat /sys/fs/cgroup/$3; }'
# cgroup v2 has cpu.weight, not shares: runtimes map shares 512 to weight 20
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then SHARES512=20; else SHARES512=512; fi

# ---- leak checks: run when the client says every container is gone --------------

# cgroup dirs named NAME (the test's cgroup parent) under any hierarchy that still
# have child cgroups or member processes
cg_leftovers() {
    local name=$1 d
    for d in /sys/fs/cgroup/"$name" /sys/fs/cgroup/*/"$name"; do
        [ -d "$d" ] || continue
        [ "$(stat -f -c %T "$d")" = tmpfs ] && continue   # plain dir on the v1 tmpfs, not a cgroup
        find "$d" -mindepth 1 -type d -print
        find "$d" -name cgroup.procs -exec sh -c 'test -s "$1" && echo "procs in $1"' _ {} \;
    done
}
# mount points at or below DIR
mounts_below() { awk -v t="$1" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo; }
# processes (other than the listed pids and this shell's ancestry) whose command line
# mentions STRING
procs_mentioning() {
    local s=$1 p cmd; shift
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        case " $* $$ $BASHPID $PPID " in *" $p "*) continue ;; esac
        cmd=$(tr "\0" " " 2>/dev/null <"/proc/$p/cmdline") || continue
        case $cmd in *"$s"*) echo "$p: ${cmd:0:160}" ;; esac
    done
}
# processes whose cgroup path contains NAME
procs_in_cgroup() {
    local name=$1 p
    for p in /proc/[0-9]*; do
        grep -q "/$name\(/\|\$\)" "$p/cgroup" 2>/dev/null && echo "${p#/proc/}: $(tr "\0" " " 2>/dev/null <"$p/cmdline" | head -c 120)"
    done
}

# remove cgroup dirs NAME (leaf first) — cleanup only
cg_remove() {
    local d
    for d in /sys/fs/cgroup/"$1" /sys/fs/cgroup/*/"$1"; do
        [ -d "$d" ] || continue
        if [ "$(stat -f -c %T "$d")" = tmpfs ]; then rm -rf "$d"
        else find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; fi
    done
}
# unmount everything at or below DIR, deepest first — cleanup only
umount_below() { mounts_below "$1" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done; }
