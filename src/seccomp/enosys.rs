//! The -ENOSYS stub runc puts in front of a restrictive filter.
//!
//! A profile written before a syscall existed would give that syscall its default action
//! (EPERM, or a kill). C libraries probe new syscalls (clone3, faccessat2, openat2...) and
//! fall back to older ones only on ENOSYS, so a profile that denies by default would break
//! them. As runc does, syscalls whose number is above the largest one the profile names (per
//! architecture listed in `architectures`) get ENOSYS, as on a kernel that lacks them.
//!
//! Not added when the default action lets syscalls through (ALLOW, LOG, TRACE: a tracer
//! handles new syscalls itself), or when it already answers ENOSYS.

use libseccomp::{ScmpArch, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction};

/// x32 syscalls run under AUDIT_ARCH_X86_64 with this bit set in their number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const AUDIT_ARCH_X86_64: u32 = Arch::ScmpArchX86_64 as u32;
/// SECCOMP_RET_ERRNO | ENOSYS
const RET_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
/// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

/// The largest syscall numbers a profile names on one kernel architecture; on x86_64 the
/// x32 ABI has its own.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Limits {
    audit_arch: u32,
    normal: Option<u32>,
    x32: Option<u32>,
}

/// The stub to run before libseccomp's program, or nothing when the profile needs none.
pub fn stub(profile: &LinuxSeccomp) -> Vec<libc::sock_filter> {
    let permissive = matches!(
        profile.default_action(),
        LinuxSeccompAction::ScmpActAllow
            | LinuxSeccompAction::ScmpActLog
            | LinuxSeccompAction::ScmpActTrace
    );
    let already_enosys = profile.default_action() == LinuxSeccompAction::ScmpActErrno
        && profile.default_errno_ret() == Some(libc::ENOSYS as u32);
    if permissive || already_enosys {
        return Vec::new();
    }
    assemble(&limits(profile))
}

fn native_arch() -> Option<Arch> {
    Some(match std::env::consts::ARCH {
        "x86_64" => Arch::ScmpArchX86_64,
        "x86" => Arch::ScmpArchX86,
        "aarch64" => Arch::ScmpArchAarch64,
        "arm" => Arch::ScmpArchArm,
        "riscv64" => Arch::ScmpArchRiscv64,
        "s390x" => Arch::ScmpArchS390x,
        "powerpc64" if cfg!(target_endian = "little") => Arch::ScmpArchPpc64le,
        "powerpc64" => Arch::ScmpArchPpc64,
        "loongarch64" => Arch::ScmpArchLoongarch64,
        _ => return None,
    })
}

/// Per kernel architecture of the profile's `architectures`, the largest syscall it names.
fn limits(profile: &LinuxSeccomp) -> Vec<Limits> {
    let mut out: Vec<Limits> = Vec::new();
    for arch in profile.architectures().iter().flatten() {
        let arch = match arch {
            Arch::ScmpArchNative => match native_arch() {
                Some(a) => a,
                None => continue,
            },
            a => *a,
        };
        let name = super::compile::arch_name(arch);
        let Ok(scmp) = name.parse::<ScmpArch>() else {
            continue;
        };
        let largest = profile
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|rule| rule.names())
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, scmp).ok())
            .filter_map(|s| u32::try_from(s.as_raw_syscall()).ok())
            .max();
        let Some(largest) = largest else { continue };
        let (audit_arch, x32) = match arch {
            Arch::ScmpArchX32 => (AUDIT_ARCH_X86_64, true),
            a => (a as u32, false),
        };
        let entry = match out.iter_mut().find(|l| l.audit_arch == audit_arch) {
            Some(e) => e,
            None => {
                out.push(Limits {
                    audit_arch,
                    ..Limits::default()
                });
                out.last_mut().expect("just pushed")
            }
        };
        if x32 {
            entry.x32 = Some(largest | X32_SYSCALL_BIT);
        } else {
            entry.normal = Some(largest);
        }
    }
    out
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    jump(code, k, 0, 0)
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// One block per architecture, each ending in its own `ret ENOSYS` so that every conditional
/// jump stays short; a syscall at or below the limit jumps (`ja`, 32-bit offset) past the
/// stub into libseccomp's program, as does any other architecture.
fn assemble(limits: &[Limits]) -> Vec<libc::sock_filter> {
    if limits.is_empty() {
        return Vec::new();
    }
    // (index of a `ja` to patch to the stub's end)
    let mut to_end = Vec::new();
    let mut prog = vec![stmt(LD_W_ABS, ARCH_OFFSET)];
    for l in limits {
        let mut block = vec![stmt(LD_W_ABS, NR_OFFSET)];
        if l.audit_arch == AUDIT_ARCH_X86_64 {
            // jset x32 -> the x32 check, else the x86_64 check.
            block.push(jump(JMP_JSET_K, X32_SYSCALL_BIT, 1, 0));
            block.push(match l.normal {
                Some(max) => jump(JMP_JGT_K, max, 2, 1),
                None => stmt(JMP_JA, 1),
            });
            block.push(match l.x32 {
                Some(max) => jump(JMP_JGT_K, max, 1, 0),
                None => stmt(JMP_JA, 0),
            });
        } else {
            // normal is always set off x86_64.
            block.push(jump(JMP_JGT_K, l.normal.unwrap_or(u32::MAX), 1, 0));
        }
        to_end.push(prog.len() + 1 + block.len());
        block.push(stmt(JMP_JA, 0));
        block.push(stmt(RET_K, RET_ENOSYS));
        let skip = u8::try_from(block.len()).expect("a block is a few instructions");
        prog.push(jump(JMP_JEQ_K, l.audit_arch, 0, skip));
        prog.extend(block);
    }
    let len = prog.len();
    for at in to_end {
        prog[at].k = u32::try_from(len - at - 1).expect("the stub is short");
    }
    prog
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_listed_architectures() {
        let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["read", "mkdir", "cella_unknown"], "action": "SCMP_ACT_ALLOW"}]
        }))
        .unwrap();
        let l = limits(&profile);
        // mkdir is 83 on x86_64, 39 on i386, 83 | x32 bit on x32.
        assert_eq!(
            l,
            [
                Limits {
                    audit_arch: AUDIT_ARCH_X86_64,
                    normal: Some(83),
                    x32: Some(83 | X32_SYSCALL_BIT)
                },
                Limits {
                    audit_arch: Arch::ScmpArchX86 as u32,
                    normal: Some(39),
                    x32: None
                }
            ]
        );
    }

    #[test]
    fn no_stub_for_permissive_defaults_or_without_architectures() {
        for (default, errno) in [
            ("SCMP_ACT_ALLOW", None),
            ("SCMP_ACT_LOG", None),
            ("SCMP_ACT_TRACE", None),
            ("SCMP_ACT_ERRNO", Some(libc::ENOSYS)),
        ] {
            let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
                "defaultAction": default,
                "defaultErrnoRet": errno,
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL"}]
            }))
            .unwrap();
            assert!(stub(&profile).is_empty(), "{default}");
        }
        let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]
        }))
        .unwrap();
        assert!(stub(&profile).is_empty());
    }
}
