#!/usr/bin/env bash
# Boots a throwaway VM with pure cgroup v2 and runs a test script in it.
#
#   integration-tests/vm/run-vm.sh DIR
#
# DIR holds test.sh and whatever it needs (bundles, rootfs...). The guest sees DIR at /mnt
# (9p, read-write), runs `sh /mnt/test.sh` there as root with cwd /mnt and the runtime under
# test at /bin/cella, and this script prints what test.sh wrote (stdout and stderr, byte-exact
# through a serial port) and exits with test.sh's exit code. The VM is Debian's
# linux-image-amd64 kernel under qemu's TCG (KVM does not work on this machine), with a
# busybox-static initramfs; nothing of the host is shared except DIR.
#
# Environment:
#   CELLA            runtime put at /bin/cella (default ${CARGO_TARGET_DIR:-target}/debug/cella;
#                    any runc-compatible binary works, e.g. /usr/sbin/runc)
#   CELLA_VM_KERNEL  kernel version from /lib/modules (default: newest with a /boot/vmlinuz)
#   CELLA_VM_CACHE   where the extracted kernel and the initramfs are cached
#                    (default ${CARGO_TARGET_DIR:-target}/vm-cache)
#   CELLA_VM_TIMEOUT hard limit for the whole VM run in seconds (default 300)
#   CELLA_VM_MEMORY  guest memory in MiB (default 1024)
#   CELLA_VM_APPEND  more kernel arguments (e.g. "security=selinux selinux=1 enforcing=0")
#   CELLA_VM_CONSOLE keep the kernel console in this file
#
# Exit codes: test.sh's own, or 90 when the VM could not run test.sh (its console is printed),
# 91 when it timed out, 2 for a usage or host setup error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

die() {
    echo "run-vm: error: $*" >&2
    exit 2
}
note() {
    [[ -n ${CELLA_VM_QUIET:-} ]] || echo "run-vm: $*" >&2
}

(($# == 1)) || die "usage: $0 DIR (a directory holding test.sh)"
share=$(cd "$1" && pwd) || die "no directory $1"
[[ -f $share/test.sh ]] || die "$share/test.sh is missing"

target=${CARGO_TARGET_DIR:-$repo/target}
cella=${CELLA:-$target/debug/cella}
cache=${CELLA_VM_CACHE:-$target/vm-cache}
limit=${CELLA_VM_TIMEOUT:-300}
memory=${CELLA_VM_MEMORY:-1024}

command -v qemu-system-x86_64 >/dev/null \
    || die "qemu-system-x86_64 is missing: apt-get install qemu-system-x86"
command -v cpio >/dev/null || die "cpio is missing: apt-get install cpio"
command -v xz >/dev/null || die "xz is missing: apt-get install xz-utils"
/bin/busybox --list >/dev/null 2>&1 \
    || die "/bin/busybox is missing: apt-get install busybox-static"
ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is not static: apt-get install busybox-static"
[[ -x $cella ]] || die "runtime $cella is missing: cargo build --bin cella, or set CELLA"

# The guest kernel: the newest one of linux-image-amd64 with its modules.
kver=${CELLA_VM_KERNEL:-}
if [[ -z $kver ]]; then
    for v in $(find /lib/modules -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V -r); do
        if [[ -f /boot/vmlinuz-$v && -f /lib/modules/$v/modules.dep ]]; then
            kver=$v
            break
        fi
    done
fi
[[ -n $kver && -f /boot/vmlinuz-$kver ]] \
    || die "no guest kernel in /boot with modules: apt-get install linux-image-amd64"

mkdir -p "$cache"

# PVH boot needs the ELF vmlinux: unpack the xz payload of the bzImage once. Booting the
# compressed image instead costs about 2.4 s of decompression under TCG on every run.
vmlinuz=/boot/vmlinuz-$kver
vmlinux=$cache/vmlinux-$kver-$(sha256sum "$vmlinuz" | cut -c1-16)
if [[ ! -f $vmlinux ]]; then
    note "extracting $vmlinux"
    offsets=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1)
    offset=${offsets%%$'\n'*}
    [[ -n $offset ]] || die "$vmlinuz has no xz payload (not CONFIG_KERNEL_XZ?)"
    # Through a file: xz stops reading at the end of the stream, which would kill a pipe.
    tail -c +$((offset + 1)) "$vmlinuz" >"$vmlinux.xz.$$"
    xz -dc --single-stream "$vmlinux.xz.$$" >"$vmlinux.tmp.$$"
    rm -f "$vmlinux.xz.$$"
    [[ $(head -c4 "$vmlinux.tmp.$$" | od -An -c | tr -d ' ') == '177ELF' ]] \
        || die "what came out of $vmlinuz is not an ELF vmlinux"
    mv "$vmlinux.tmp.$$" "$vmlinux"
fi

# Modules for the 9p share, in load order (dependencies first), resolved with modinfo.
modules=()
add_module() {
    local name=$1 dep file
    for dep in "${modules[@]}"; do
        [[ $(basename "$dep" .ko) == "${name//-/_}" ]] && return 0
    done
    for dep in $(modinfo -k "$kver" -F depends "$name" | tr ',' ' '); do
        add_module "$dep"
    done
    file=$(modinfo -k "$kver" -F filename "$name")
    [[ $file == /* && $file == *.ko ]] || die "module $name of $kver: $file (built-in or compressed?)"
    modules+=("$file")
}
for m in virtio_pci 9pnet_virtio 9p; do
    add_module "$m"
done

# Host programs the guest scripts use when the host has them: apparmor_parser (package
# apparmor) loads the AppArmor profiles of lsm-guest.sh; load_policy (policycoreutils) loads
# the host's SELinux reference policy (selinux-policy-default) for selinux-guest.sh.
extras=()
for prog in apparmor_parser load_policy; do
    path=$(PATH=/usr/sbin:/sbin:$PATH command -v "$prog" || true)
    [[ -n $path ]] && extras+=("$path")
done

selinux_policy=/etc/selinux/default/policy/policy.33

# The shared libraries and their loader ("not a dynamic executable" gives none).
libs=()
while read -r lib; do
    [[ -n $lib ]] && libs+=("$lib")
done < <(for bin in "$cella" "${extras[@]}"; do ldd "$bin" 2>/dev/null || true; done \
    | grep -oE '/[^ ]+' | sort -u)

# The initramfs is cached by the content of everything that goes into it.
key=$(
    {
        echo "$kver"
        sha256sum "$here/init" /bin/busybox "$cella" "${extras[@]}" "${modules[@]}"
        [[ -f $selinux_policy ]] && sha256sum "$selinux_policy"
        for lib in "${libs[@]}"; do
            echo "$lib"
            sha256sum "$(readlink -f "$lib")"
        done
    } | sha256sum | cut -c1-16
)
initramfs=$cache/initramfs-$key.cpio
if [[ ! -f $initramfs ]]; then
    note "building $initramfs"
    stage=$(mktemp -d "$cache/stage.XXXXXX")
    trap 'rm -rf "$stage"' EXIT
    mkdir -p "$stage"/{bin,dev,etc,lib/modules,mnt,proc,root,run,sys,tmp,var}
    ln -s bin "$stage/sbin"
    mkdir -p "$stage/usr"
    ln -s ../bin "$stage/usr/bin"
    ln -s ../bin "$stage/usr/sbin"
    cp /bin/busybox "$stage/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [[ $applet == busybox ]] || ln -s busybox "$stage/bin/$applet"
    done
    # A stripped copy: the debug binary is 80 MB, mostly debug info nobody reads in the VM.
    if command -v strip >/dev/null; then
        strip -o "$stage/bin/cella" "$cella"
    else
        cp "$cella" "$stage/bin/cella"
    fi
    for prog in "${extras[@]}"; do
        cp "$prog" "$stage/bin/"
    done
    if [[ -f $selinux_policy ]]; then
        mkdir -p "$stage/etc/selinux/default/policy"
        printf 'SELINUX=permissive\nSELINUXTYPE=default\n' >"$stage/etc/selinux/config"
        cp "$selinux_policy" "$stage/etc/selinux/default/policy/"
    fi
    for lib in "${libs[@]}"; do
        mkdir -p "$stage$(dirname "$lib")"
        cp -L "$lib" "$stage$lib"
    done
    for m in "${modules[@]}"; do
        cp "$m" "$stage/lib/modules/"
        basename "$m" >>"$stage/lib/modules/load-order"
    done
    cp "$here/init" "$stage/init"
    chmod 755 "$stage/init"
    echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
    echo "root:x:0:" >"$stage/etc/group"
    # Uncompressed: the kernel copies it faster than it would inflate gzip under TCG.
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
        >"$initramfs.tmp.$$"
    mv "$initramfs.tmp.$$" "$initramfs"
    rm -rf "$stage"
    trap - EXIT
    # Keep the three newest images; each build of the runtime makes a new one.
    find "$cache" -maxdepth 1 -name 'initramfs-*.cpio' -printf '%T@ %p\n' | sort -rn \
        | tail -n +4 | cut -d' ' -f2- | xargs -r rm -f
fi

# Per-run files: the serial logs and the exit code written by the guest.
rm -f "$share/.vm-exit-code"
run=$(mktemp -d "${TMPDIR:-/tmp}/cella-vm-run.XXXXXX")
trap 'rm -rf "$run"' EXIT
: >"$run/console.log"
: >"$run/output.log"

note "booting $kver (TCG), sharing $share"
start=$(date +%s%N)
rc=0
timeout --kill-after=10 "$limit" qemu-system-x86_64 \
    -accel tcg,thread=single -m "$memory" -smp 2 -nodefaults -no-user-config -no-reboot \
    -display none -monitor none \
    -kernel "$vmlinux" -initrd "$initramfs" \
    -append "console=ttyS0 quiet panic=-1 rdinit=/init i8042.noaux i8042.nokbd ${CELLA_VM_APPEND:-}" \
    -serial "file:$run/console.log" -serial "file:$run/output.log" \
    -virtfs "local,path=$share,mount_tag=cella-share,security_model=passthrough,id=cella-share" \
    </dev/null || rc=$?
elapsed=$((($(date +%s%N) - start) / 1000000))

cat "$run/output.log"
# CELLA_VM_CONSOLE=FILE keeps the kernel console (stalls and warnings show there).
[[ -z ${CELLA_VM_CONSOLE:-} ]] || cp "$run/console.log" "$CELLA_VM_CONSOLE"
if ((rc == 124 || rc == 137)); then
    echo "run-vm: the VM timed out after ${limit}s; its console:" >&2
    cat "$run/console.log" >&2
    exit 91
fi
if ((rc != 0)); then
    echo "run-vm: qemu failed (exit $rc); the VM's console:" >&2
    cat "$run/console.log" >&2
    exit 90
fi
if [[ ! -f $share/.vm-exit-code ]]; then
    echo "run-vm: the VM stopped without running test.sh to its end; its console:" >&2
    cat "$run/console.log" >&2
    exit 90
fi
if [[ -z ${CELLA_VM_QUIET:-} ]]; then
    grep -a '^cella-vm:' "$run/console.log" | sed 's/^cella-vm:/run-vm: guest:/' >&2 || true
fi
code=$(cat "$share/.vm-exit-code")
rm -f "$share/.vm-exit-code"
note "VM done in ${elapsed} ms, test.sh exited $code"
[[ $code =~ ^[0-9]+$ ]] || exit 90
exit "$code"
