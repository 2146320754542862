//! `linux.seccomp` -> BPF, with libseccomp, in the runtime.
//!
//! runc's rules, so that a profile behaves the same under both: SCMP_ACT_KILL is KILL_THREAD;
//! errnoRet defaults to EPERM for ERRNO and TRACE; a syscall name libseccomp does not know is
//! skipped (logged at debug); a rule whose action is the default action is skipped (libseccomp
//! refuses it); the comparisons of one rule are ANDed, except when two compare the same
//! argument, where each becomes a rule of its own (ORed); under a denying default, syscalls
//! newer than the profile get ENOSYS (see `enosys`).

use std::io::{Read, Seek, SeekFrom};
use std::str::FromStr;

use libseccomp::ScmpSyscall;
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use super::{SeccompError, SeccompProgram};
use crate::sys::seccomp as sys;

/// The kernel's BPF_MAXINSNS: longer programs are refused with EINVAL.
pub const MAX_INSTRUCTIONS: usize = 4096;

/// Above this many rules, libseccomp's binary-tree layout (optimize level 2) keeps the program
/// short and fast; below it, libseccomp 2.5 mishandles it, so runc uses the same threshold.
const BINARY_TREE_THRESHOLD: usize = 32;

/// Syscalls the container process itself makes after installing a filter with NOTIFY rules
/// and before the listener reaches the agent: notifying them would block forever.
const NEVER_NOTIFIED: &[&str] = &["write", "sendmsg"];

/// Compiles `s` to a BPF program for the native architecture and the listed ones.
pub fn compile(s: &LinuxSeccomp) -> Result<SeccompProgram, SeccompError> {
    compile_with(s, &sys::filter_flags_supported)
}

/// [`compile`] with the kernel's flag check as a parameter, for tests.
pub(super) fn compile_with(
    s: &LinuxSeccomp,
    flag_supported: &dyn Fn(u32) -> bool,
) -> Result<SeccompProgram, SeccompError> {
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        "defaultAction".into(),
    )?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|source| SeccompError::Create {
        action: s.default_action().to_string(),
        source,
    })?;
    for arch in s.architectures().iter().flatten() {
        add_arch(&mut ctx, *arch)?;
    }
    let rules = s.syscalls().as_deref().unwrap_or_default();
    if rules.len() > BINARY_TREE_THRESHOLD {
        if let Err(e) = ctx.set_ctl_optimize(2) {
            log::debug!("seccomp binary tree optimization not available: {e}");
        }
    }
    let mut has_notify = false;
    for rule in rules {
        has_notify |= add_rule(&mut ctx, rule, default)?;
    }
    let flags = filter_flags(
        s.flags().as_deref().unwrap_or_default(),
        has_notify,
        flag_supported,
    )?;
    // runc's ENOSYS stub goes first; libseccomp's program follows unchanged.
    let mut bpf = sys::encode(&super::enosys::stub(s));
    bpf.extend(export(&ctx)?);
    let instructions = bpf.len() / sys::INSTRUCTION_SIZE;
    if instructions > MAX_INSTRUCTIONS {
        return Err(SeccompError::TooLong(instructions));
    }
    Ok(SeccompProgram {
        bpf,
        flags,
        has_notify,
    })
}

/// The libseccomp action of an OCI action; `what` names the rule in errors.
fn action(
    a: LinuxSeccompAction,
    errno_ret: Option<u32>,
    what: String,
) -> Result<ScmpAction, SeccompError> {
    let data = |default: u32| -> Result<u16, SeccompError> {
        let value = errno_ret.unwrap_or(default);
        u16::try_from(value).map_err(|_| SeccompError::ErrnoRange {
            what: what.clone(),
            value,
        })
    };
    let eperm = libc::EPERM as u32;
    if errno_ret.is_some()
        && !matches!(
            a,
            LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
        )
    {
        return Err(SeccompError::ErrnoNotAllowed {
            what,
            action: a.to_string(),
        });
    }
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(data(eperm)?)),
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(data(eperm)?),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    })
}

/// The OCI name of an architecture ("SCMP_ARCH_X86_64").
pub(super) fn arch_name(arch: Arch) -> String {
    serde_json::to_value(arch)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{arch:?}"))
}

/// Adds `arch` to the filter; the native one is always there, and listing an architecture
/// twice is harmless.
fn add_arch(ctx: &mut ScmpFilterContext, arch: Arch) -> Result<(), SeccompError> {
    let name = arch_name(arch);
    let err = |reason: String| SeccompError::Arch {
        arch: name.clone(),
        reason,
    };
    let scmp = ScmpArch::from_str(&name).map_err(|e| err(e.to_string()))?;
    if scmp == ScmpArch::Native || ctx.is_arch_present(scmp).unwrap_or(false) {
        return Ok(());
    }
    ctx.add_arch(scmp).map(drop).map_err(|e| {
        err(
            if e.errno() == Some(libseccomp::error::SeccompErrno::EDOM) {
                format!("cannot share a filter with the native architecture ({e})")
            } else {
                format!("not supported by libseccomp {} ({e})", library_version())
            },
        )
    })
}

fn library_version() -> String {
    libseccomp::ScmpVersion::current().map_or_else(
        |_| "?".to_owned(),
        |v| format!("{}.{}.{}", v.major, v.minor, v.micro),
    )
}

/// Adds one OCI rule; returns whether it added a NOTIFY rule.
fn add_rule(
    ctx: &mut ScmpFilterContext,
    rule: &LinuxSyscall,
    default: ScmpAction,
) -> Result<bool, SeccompError> {
    let names = rule.names().join(", ");
    let act = action(rule.action(), rule.errno_ret(), format!("rule for {names}"))?;
    if act == default {
        log::debug!("seccomp rule for {names} has the default action; skipped");
        return Ok(false);
    }
    let groups = conditions(rule.args().as_deref().unwrap_or_default());
    let mut added = false;
    for name in rule.names() {
        let err = |reason: String| SeccompError::Rule {
            syscall: name.clone(),
            action: rule.action().to_string(),
            reason,
        };
        if act == ScmpAction::Notify && NEVER_NOTIFIED.contains(&name.as_str()) {
            return Err(err(
                "SCMP_ACT_NOTIFY cannot be used for this syscall: the container process \
                 needs it to hand the listener to the runtime"
                    .into(),
            ));
        }
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            log::debug!("unknown seccomp syscall {name:?} ignored");
            continue;
        };
        for group in &groups {
            let added_rule = if group.is_empty() {
                ctx.add_rule(act, syscall)
            } else {
                ctx.add_rule_conditional(act, syscall, group)
            };
            added_rule.map_err(|e| err(e.to_string()))?;
        }
        added = true;
    }
    Ok(added && act == ScmpAction::Notify)
}

/// The comparisons of a rule, grouped into libseccomp rules: one group ANDs its comparisons.
/// libseccomp cannot AND two comparisons of the same argument, so then each comparison is a
/// rule of its own, as runc does.
fn conditions(args: &[LinuxSeccompArg]) -> Vec<Vec<ScmpArgCompare>> {
    let cmps: Vec<ScmpArgCompare> = args.iter().map(compare).collect();
    let mut indices: Vec<usize> = args.iter().map(LinuxSeccompArg::index).collect();
    indices.sort_unstable();
    let repeated = indices.windows(2).any(|w| w[0] == w[1]);
    if repeated {
        cmps.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![cmps]
    }
}

fn compare(a: &LinuxSeccompArg) -> ScmpArgCompare {
    // An index past 5 is refused by libseccomp, with the rule named in the error.
    let index = u32::try_from(a.index()).unwrap_or(u32::MAX);
    let (op, datum) = match a.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, a.value()),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, a.value()),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, a.value()),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, a.value()),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, a.value()),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, a.value()),
        // (arg & value) == valueTwo
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(a.value()),
            a.value_two().unwrap_or(0),
        ),
    };
    ScmpArgCompare::new(index, op, datum)
}

/// The OCI name of a flag ("SECCOMP_FILTER_FLAG_LOG") and its kernel bit.
pub(super) fn flag_bit(flag: LinuxSeccompFilterFlag) -> (&'static str, u32) {
    match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => {
            ("SECCOMP_FILTER_FLAG_TSYNC", sys::FLAG_TSYNC)
        }
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => ("SECCOMP_FILTER_FLAG_LOG", sys::FLAG_LOG),
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
            ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", sys::FLAG_SPEC_ALLOW)
        }
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => (
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            sys::FLAG_WAIT_KILLABLE_RECV,
        ),
    }
}

/// The bits a flag is probed with: the kernel takes WAIT_KILLABLE_RECV only with a listener.
pub(super) fn probe_bits(bit: u32) -> u32 {
    if bit == sys::FLAG_WAIT_KILLABLE_RECV {
        bit | sys::FLAG_NEW_LISTENER
    } else {
        bit
    }
}

/// The flags to install with. Each must be known to the kernel. Two are dropped where the
/// kernel would refuse them and they could not matter: TSYNC with a listener (the kernel
/// wants TSYNC_ESRCH then, and the container process is single-threaded, so there is
/// nothing to synchronise), and WAIT_KILLABLE_RECV without one (it only concerns
/// notifications).
fn filter_flags(
    flags: &[LinuxSeccompFilterFlag],
    has_notify: bool,
    supported: &dyn Fn(u32) -> bool,
) -> Result<u32, SeccompError> {
    let mut out = 0;
    for flag in flags {
        let (name, bit) = flag_bit(*flag);
        if !supported(probe_bits(bit)) {
            return Err(SeccompError::Flag {
                flag: name.to_owned(),
            });
        }
        out |= bit;
    }
    if has_notify {
        out &= !sys::FLAG_TSYNC;
    } else {
        out &= !sys::FLAG_WAIT_KILLABLE_RECV;
    }
    Ok(out)
}

/// The filter as BPF bytes: libseccomp writes it to a file descriptor (its in-memory export
/// needs libseccomp 2.6), here a memfd read back at once.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, SeccompError> {
    let fd = nix::sys::memfd::memfd_create(
        c"cella-seccomp",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map_err(|e| SeccompError::Export(format!("memfd_create: {e}")))?;
    let mut file = std::fs::File::from(fd);
    ctx.export_bpf(&file)
        .map_err(|e| SeccompError::Export(e.to_string()))?;
    let mut bpf = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bpf))
        .map_err(|e| SeccompError::Export(format!("read back: {e}")))?;
    if bpf.is_empty() || !bpf.len().is_multiple_of(sys::INSTRUCTION_SIZE) {
        return Err(SeccompError::Export(format!(
            "{} bytes is not a whole number of instructions",
            bpf.len()
        )));
    }
    Ok(bpf)
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
