//! The runtime on a pure cgroup v2 host: this machine is hybrid (v1 controllers), so the
//! checks run in a throwaway VM (qemu TCG, Debian's kernel, busybox initramfs) built and
//! booted by `integration-tests/vm/run-vm.sh`; the checks themselves are the guest scripts
//! in integration-tests/vm (cgroups, operations, AppArmor, SELinux). See
//! integration-tests/vm/README.md.
//!
//! A missing qemu or guest kernel fails the test, with the packages to install
//! (scripts/test-all.sh installs them); `CELLA_SKIP_VM=1` skips it on purpose.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use integration_tests::{requires, Req, Runtime};

fn vm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vm")
}

/// Why the VM cannot run here, if it cannot.
fn vm_prerequisites_missing() -> Option<String> {
    let on_path = |name: &str| {
        std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .any(|d| Path::new(d).join(name).is_file())
    };
    let mut missing = Vec::new();
    if !on_path("qemu-system-x86_64") {
        missing.push("qemu-system-x86_64 (package qemu-system-x86)");
    }
    let has_kernel = fs::read_dir("/boot").is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("vmlinuz-"))
    });
    if !has_kernel {
        missing.push("a guest kernel in /boot (package linux-image-amd64)");
    }
    if !on_path("cpio") {
        missing.push("cpio (package cpio)");
    }
    if !Path::new("/usr/sbin/apparmor_parser").is_file() && !on_path("apparmor_parser") {
        missing.push("apparmor_parser (package apparmor)");
    }
    if !Path::new("/usr/sbin/load_policy").is_file()
        || !Path::new("/etc/selinux/default/policy/policy.33").is_file()
    {
        missing
            .push("load_policy and the SELinux reference policy (package selinux-policy-default)");
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// One VM at a time: two emulated guests on a 2-core host would only slow each other.
static ONE_VM: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Boots the VM once with `scripts` (files of integration-tests/vm) run in order as test.sh,
/// `append` added to the kernel command line, and fails with the guest's output unless every
/// script passed. Returns false when the test is skipped.
fn boot(what: &str, scripts: &[&str], append: &str) -> bool {
    if std::env::var_os("CELLA_SKIP_VM").is_some_and(|v| v == "1") {
        eprintln!("SKIPPED: CELLA_SKIP_VM=1");
        return false;
    }
    if !requires(&[Req::Root]) {
        return false;
    }
    if let Some(missing) = vm_prerequisites_missing() {
        panic!(
            "the cgroup v2 VM cannot run, missing: {missing}; install them \
             (scripts/test-all.sh does) or set CELLA_SKIP_VM=1 to skip this test"
        );
    }
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let rt = Runtime::new();

    let share = tempfile::Builder::new()
        .prefix("cella-test-vm-")
        .tempdir()
        .unwrap();
    fs::copy(
        vm_dir().join("guest-lib.sh"),
        share.path().join("guest-lib.sh"),
    )
    .unwrap();
    let mut test_sh = String::from("#!/bin/sh\nrc=0\n");
    for script in scripts {
        fs::copy(vm_dir().join(script), share.path().join(script)).unwrap();
        test_sh.push_str(&format!("sh /mnt/{script} || rc=1\n"));
    }
    test_sh.push_str("exit $rc\n");
    fs::write(share.path().join("test.sh"), test_sh).unwrap();
    rootfs_tools::busybox_rootfs(&share.path().join("rootfs")).expect("busybox rootfs");

    let start = Instant::now();
    let out = Command::new(vm_dir().join("run-vm.sh"))
        .arg(share.path())
        .env("CELLA", rt.bin())
        .env("CELLA_VM_APPEND", append)
        .output()
        .expect("run integration-tests/vm/run-vm.sh");
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("not ok")).collect();
    let summary = if failures.is_empty() {
        "no check failed: the VM itself did not run to its end".to_string()
    } else {
        format!(
            "{} check(s) failed:\n{}",
            failures.len(),
            failures.join("\n")
        )
    };
    assert!(
        out.status.success(),
        "{what} in the VM against {} ended with {} after {elapsed:.1?}; {summary}\n\
         --- guest output ---\n{stdout}--- run-vm.sh ---\n{stderr}",
        rt.bin().display(),
        out.status,
    );
    // Visible with --nocapture: which checks ran, and how long the VM took.
    println!("{stdout}{stderr}{what} VM: {elapsed:.1?}");
    true
}

/// The cgroup checks, ps/pause/update/events, then AppArmor profiles (the guest kernel has
/// AppArmor on; the host has none), in one boot.
#[test]
fn cgroup_v2_guest_checks_pass() {
    boot(
        "cgroup v2 checks",
        &["guest-tests.sh", "ops-guest.sh", "lsm-guest.sh"],
        "",
    );
}

/// SELinux labels: a second boot with SELinux as the major LSM (permissive, Debian's
/// reference policy loaded in the guest).
#[test]
fn selinux_guest_checks_pass() {
    boot(
        "SELinux checks",
        &["selinux-guest.sh"],
        "security=selinux selinux=1 enforcing=0",
    );
}
