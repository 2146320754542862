//! Filters are compiled for real (libseccomp, unprivileged) and then run on a small classic-BPF
//! interpreter over hand-made `seccomp_data`, so the tests check what a program decides,
//! not only that one was built.

use libseccomp::ScmpSyscall;
use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

use super::*;

fn profile(v: Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("test profile parses")
}

fn build(v: Value) -> SeccompProgram {
    compile_with(&profile(v), &|_| true).expect("profile compiles")
}

fn build_err(v: Value) -> String {
    compile_with(&profile(v), &|_| true)
        .expect_err("profile must not compile")
        .to_string()
}

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

#[cfg(target_arch = "x86_64")]
const NATIVE_AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const NATIVE_AUDIT_ARCH: u32 = 0xc000_00b7;

fn nr(name: &str) -> i32 {
    ScmpSyscall::from_name(name).unwrap().as_raw_syscall()
}

/// Runs `p` on the syscall `name` with `args`, as the kernel would for this architecture.
fn decide(p: &SeccompProgram, name: &str, args: [u64; 6]) -> u32 {
    run_bpf(p, NATIVE_AUDIT_ARCH, nr(name), args)
}

/// A classic BPF interpreter for what libseccomp emits: loads from `struct seccomp_data`
/// (nr, arch, instruction_pointer, args[6]), scratch memory, ALU, jumps and returns.
fn run_bpf(p: &SeccompProgram, arch: u32, nr: i32, args: [u64; 6]) -> u32 {
    let prog = crate::sys::seccomp::decode(&p.bpf).unwrap();
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&nr.to_ne_bytes());
    data.extend_from_slice(&arch.to_ne_bytes());
    data.extend_from_slice(&0u64.to_ne_bytes());
    for a in args {
        data.extend_from_slice(&a.to_ne_bytes());
    }
    let word = |off: u32| -> u32 {
        let o = off as usize;
        u32::from_ne_bytes(data[o..o + 4].try_into().unwrap())
    };
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    loop {
        let ins = prog[pc];
        let (class, k) = (ins.code & 0x07, ins.k);
        let src = if ins.code & 0x08 != 0 { x } else { k };
        pc += 1;
        match class {
            0x00 => {
                a = match ins.code & 0xe0 {
                    0x20 => word(k),
                    0x00 => k,
                    0x60 => mem[k as usize],
                    other => panic!("ld mode {other:#x}"),
                }
            }
            0x01 => {
                x = match ins.code & 0xe0 {
                    0x00 => k,
                    0x60 => mem[k as usize],
                    other => panic!("ldx mode {other:#x}"),
                }
            }
            0x02 => mem[k as usize] = a,
            0x03 => mem[k as usize] = x,
            0x04 => {
                a = match ins.code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a << src,
                    0x70 => a >> src,
                    0xa0 => a ^ src,
                    other => panic!("alu op {other:#x}"),
                }
            }
            0x05 => {
                let op = ins.code & 0xf0;
                if op == 0x00 {
                    pc += k as usize;
                    continue;
                }
                let taken = match op {
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    other => panic!("jmp op {other:#x}"),
                };
                pc += usize::from(if taken { ins.jt } else { ins.jf });
            }
            0x06 => return if ins.code & 0x18 == 0x10 { a } else { k },
            0x07 => {
                if ins.code & 0xf8 == 0x00 {
                    x = a;
                } else {
                    a = x;
                }
            }
            _ => unreachable!(),
        }
    }
}

fn rule(names: &[&str], action: &str) -> Value {
    json!({"names": names, "action": action})
}

#[test]
fn every_action_compiles_as_rule_and_as_default() {
    let cases = [
        ("SCMP_ACT_KILL", RET_KILL_THREAD),
        ("SCMP_ACT_KILL_THREAD", RET_KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", RET_KILL_PROCESS),
        ("SCMP_ACT_TRAP", RET_TRAP),
        ("SCMP_ACT_ERRNO", RET_ERRNO | libc::EPERM as u32),
        ("SCMP_ACT_TRACE", RET_TRACE | libc::EPERM as u32),
        ("SCMP_ACT_LOG", RET_LOG),
        ("SCMP_ACT_NOTIFY", RET_USER_NOTIF),
    ];
    for (action, ret) in cases {
        let p = build(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [rule(&["mkdir"], action)]
        }));
        assert_eq!(decide(&p, "mkdir", [0; 6]), ret, "{action}");
        assert_eq!(decide(&p, "getpid", [0; 6]), RET_ALLOW, "{action}");
        assert_eq!(p.has_notify, action == "SCMP_ACT_NOTIFY", "{action}");
        assert_eq!(p.bpf.len() % 8, 0);
        if action == "SCMP_ACT_NOTIFY" {
            continue;
        }
        let p = build(json!({
            "defaultAction": action,
            "syscalls": [rule(&["getpid"], "SCMP_ACT_ALLOW")]
        }));
        assert_eq!(decide(&p, "mkdir", [0; 6]), ret, "default {action}");
        assert_eq!(decide(&p, "getpid", [0; 6]), RET_ALLOW, "default {action}");
    }
}

#[test]
fn errno_ret_is_the_errno_or_the_trace_message() {
    let p = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2},
            {"names": ["rmdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 1234},
            rule(&["getpid"], "SCMP_ACT_ALLOW")
        ]
    }));
    assert_eq!(decide(&p, "mkdir", [0; 6]), RET_ERRNO | 2);
    assert_eq!(decide(&p, "rmdir", [0; 6]), RET_TRACE | 1234);
    assert_eq!(decide(&p, "getppid", [0; 6]), RET_ERRNO | 38);
    assert_eq!(decide(&p, "getpid", [0; 6]), RET_ALLOW);
}

#[test]
fn bad_errno_ret_is_refused_naming_the_rule() {
    let e = build_err(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]
    }));
    assert_eq!(
        e,
        "seccomp rule for mkdir, mkdirat: errnoRet 70000 does not fit in the 16 bits of a \
         seccomp action"
    );
    let e = build_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}));
    assert_eq!(e, "seccomp defaultAction: SCMP_ACT_ALLOW takes no errnoRet");
    let e = build_err(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]
    }));
    assert_eq!(
        e,
        "seccomp rule for getpid: SCMP_ACT_KILL takes no errnoRet"
    );
}

#[test]
fn unknown_syscalls_and_rules_with_the_default_action_are_skipped() {
    let plain = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [rule(&["mkdir"], "SCMP_ACT_ERRNO")]
    }));
    let with_extras = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            rule(&["cella_no_such_syscall", "mkdir"], "SCMP_ACT_ERRNO"),
            rule(&["getpid", "also_not_a_syscall"], "SCMP_ACT_ALLOW")
        ]
    }));
    assert_eq!(plain, with_extras);
}

#[test]
fn every_operator_decides_as_its_name_says() {
    let ops = [
        ("SCMP_CMP_NE", [false, true, true]),
        ("SCMP_CMP_LT", [false, true, false]),
        ("SCMP_CMP_LE", [true, true, false]),
        ("SCMP_CMP_EQ", [true, false, false]),
        ("SCMP_CMP_GE", [true, false, true]),
        ("SCMP_CMP_GT", [false, false, true]),
    ];
    for (op, expect) in ops {
        let p = build(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 1, "value": 9, "op": op}]}]
        }));
        for (arg, blocked) in [9u64, 3, 15].into_iter().zip(expect) {
            let got = decide(&p, "kill", [1, arg, 0, 0, 0, 0]);
            let want = if blocked {
                RET_ERRNO | libc::EPERM as u32
            } else {
                RET_ALLOW
            };
            assert_eq!(got, want, "{op} with argument {arg}");
        }
    }
    // (flags & O_ACCMODE) == O_WRONLY
    let p = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                      "args": [{"index": 2, "value": 3, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]}]
    }));
    let open = |flags: u64| decide(&p, "openat", [0, 0, flags, 0, 0, 0]);
    assert_eq!(open(0o1), RET_ERRNO | 13);
    assert_eq!(open(0o1101), RET_ERRNO | 13);
    assert_eq!(open(0o2), RET_ALLOW);
    assert_eq!(open(0o0), RET_ALLOW);
}

#[test]
fn high_words_of_64_bit_arguments_count() {
    let p = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}]
    }));
    assert_eq!(
        decide(&p, "kill", [0, (1 << 32) | 9, 0, 0, 0, 0]),
        RET_ALLOW
    );
}

#[test]
fn arguments_of_one_rule_are_anded_unless_one_repeats() {
    let and = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}
        ]}]
    }));
    let eperm = RET_ERRNO | libc::EPERM as u32;
    assert_eq!(decide(&and, "kill", [1, 9, 0, 0, 0, 0]), eperm);
    assert_eq!(decide(&and, "kill", [2, 9, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(decide(&and, "kill", [1, 15, 0, 0, 0, 0]), RET_ALLOW);
    let or = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}
        ]}]
    }));
    assert_eq!(decide(&or, "kill", [1, 9, 0, 0, 0, 0]), eperm);
    assert_eq!(decide(&or, "kill", [1, 15, 0, 0, 0, 0]), eperm);
    assert_eq!(decide(&or, "kill", [1, 2, 0, 0, 0, 0]), RET_ALLOW);
}

#[test]
fn argument_index_out_of_range_names_the_rule() {
    let e = build_err(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 6, "value": 9, "op": "SCMP_CMP_EQ"}]}]
    }));
    assert!(
        e.starts_with("seccomp rule for syscall kill (SCMP_ACT_ERRNO): "),
        "{e}"
    );
}

#[test]
fn other_architectures_are_checked_and_never_let_through() {
    let native = build(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [rule(&["mkdir"], "SCMP_ACT_ERRNO")]}));
    // A foreign architecture without a filter section is killed, whatever the syscall.
    assert_eq!(run_bpf(&native, 0x4000_0003, 39, [0; 6]), RET_KILL_THREAD);
    #[cfg(target_arch = "x86_64")]
    {
        let multi = build(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [rule(&["mkdir"], "SCMP_ACT_ERRNO")]
        }));
        assert!(multi.instructions() > native.instructions());
        // mkdir is 39 on i386.
        assert_eq!(
            run_bpf(&multi, 0x4000_0003, 39, [0; 6]),
            RET_ERRNO | libc::EPERM as u32
        );
        assert_eq!(run_bpf(&multi, 0x4000_0003, 20, [0; 6]), RET_ALLOW);
    }
}

#[test]
fn architectures_libseccomp_lacks_are_refused_naming_them() {
    let v = libseccomp::ScmpVersion::current().unwrap();
    let result = compile_with(
        &profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
                        "architectures": ["SCMP_ARCH_LOONGARCH64"]})),
        &|_| true,
    );
    #[cfg(target_endian = "little")]
    {
        let e = build_err(json!({"defaultAction": "SCMP_ACT_ALLOW",
                                 "architectures": ["SCMP_ARCH_S390X"]}));
        assert!(
            e.starts_with("seccomp architecture SCMP_ARCH_S390X: cannot share a filter with the native architecture"),
            "{e}"
        );
    }
    if (v.major, v.minor) < (2, 6) {
        let e = result.unwrap_err().to_string();
        assert!(
            e.starts_with(
                "seccomp architecture SCMP_ARCH_LOONGARCH64: not supported by libseccomp 2."
            ),
            "{e}"
        );
    } else {
        result.unwrap();
    }
}

#[test]
fn flags_are_checked_and_kept_where_the_kernel_takes_them() {
    let all = json!([
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
    ]);
    let plain = build(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": all,
        "syscalls": [rule(&["mkdir"], "SCMP_ACT_ERRNO")]}));
    assert_eq!(
        plain.flags,
        sys::FLAG_TSYNC | sys::FLAG_LOG | sys::FLAG_SPEC_ALLOW
    );
    let notify = build(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": all,
        "listenerPath": "/run/agent.sock",
        "syscalls": [rule(&["mkdir"], "SCMP_ACT_NOTIFY")]}));
    assert_eq!(
        notify.flags,
        sys::FLAG_LOG | sys::FLAG_SPEC_ALLOW | sys::FLAG_WAIT_KILLABLE_RECV
    );
    let no_log = |bits: u32| bits != sys::FLAG_LOG;
    let e = compile_with(
        &profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
                        "flags": ["SECCOMP_FILTER_FLAG_LOG"]})),
        &no_log,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "seccomp flag SECCOMP_FILTER_FLAG_LOG is not supported by this kernel"
    );
}

#[test]
fn notify_is_refused_where_it_would_deadlock_the_container_process() {
    for name in ["write", "sendmsg"] {
        let e = build_err(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [rule(&["mkdir", name], "SCMP_ACT_NOTIFY")]}));
        assert!(
            e.starts_with(&format!(
                "seccomp rule for syscall {name} (SCMP_ACT_NOTIFY): SCMP_ACT_NOTIFY cannot be used"
            )),
            "{e}"
        );
    }
}

#[test]
fn big_profiles_stay_within_the_kernel_limit() {
    let names: Vec<String> = (0..400)
        .filter_map(|n| ScmpSyscall::from_raw_syscall(n).get_name().ok())
        .collect();
    assert!(names.len() > 300);
    let rules: Vec<Value> = names
        .chunks(3)
        .map(|c| json!({"names": c, "action": "SCMP_ACT_ALLOW"}))
        .collect();
    let p = build(json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules}));
    assert!(p.instructions() <= MAX_INSTRUCTIONS);
    assert_eq!(decide(&p, "getpid", [0; 6]), RET_ALLOW);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn syscalls_newer_than_the_profile_get_enosys_under_a_denying_default() {
    let p = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [rule(&["read", "getpid", "mkdir"], "SCMP_ACT_ALLOW")]
    }));
    let eperm = RET_ERRNO | libc::EPERM as u32;
    let enosys = RET_ERRNO | libc::ENOSYS as u32;
    let x86_64 = |nr: i32| run_bpf(&p, NATIVE_AUDIT_ARCH, nr, [0; 6]);
    // x86_64: getpid 39, chdir 80, mkdir 83 (the largest named), rmdir 84, clone3 435.
    assert_eq!(x86_64(39), RET_ALLOW);
    assert_eq!(x86_64(80), eperm);
    assert_eq!(x86_64(83), RET_ALLOW);
    assert_eq!(x86_64(84), enosys);
    assert_eq!(x86_64(435), enosys);
    // x32 runs under the x86_64 audit arch with bit 30 set in the number.
    let x32 = 0x4000_0000;
    assert_eq!(x86_64(x32 | 39), RET_ALLOW);
    assert_eq!(x86_64(x32 | 80), eperm);
    assert_eq!(x86_64(x32 | 84), enosys);
    // i386: getpid 20, utime 30, mkdir 39 (largest), rmdir 40.
    let i386 = |nr: i32| run_bpf(&p, 0x4000_0003, nr, [0; 6]);
    assert_eq!(i386(20), RET_ALLOW);
    assert_eq!(i386(30), eperm);
    assert_eq!(i386(40), enosys);
    // Any other architecture is still libseccomp's bad-architecture kill.
    assert_eq!(run_bpf(&p, 0x4000_0028, 500, [0; 6]), RET_KILL_THREAD);

    // Only x86_64 listed: x32 numbers are not stubbed, libseccomp refuses them.
    let p = build(json!({
        "defaultAction": "SCMP_ACT_KILL_PROCESS",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [rule(&["read", "getpid", "mkdir"], "SCMP_ACT_ALLOW")]
    }));
    assert_eq!(run_bpf(&p, NATIVE_AUDIT_ARCH, 84, [0; 6]), enosys);
    assert_eq!(run_bpf(&p, NATIVE_AUDIT_ARCH, 80, [0; 6]), RET_KILL_PROCESS);
    assert_ne!(run_bpf(&p, NATIVE_AUDIT_ARCH, x32 | 84, [0; 6]), enosys);
    assert_ne!(run_bpf(&p, NATIVE_AUDIT_ARCH, x32 | 84, [0; 6]), RET_ALLOW);
}

#[test]
fn permissive_defaults_get_no_enosys_stub() {
    let with_archs = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [rule(&["mkdir"], "SCMP_ACT_ERRNO")]
    }));
    let without = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [rule(&["mkdir"], "SCMP_ACT_ERRNO")]
    }));
    assert_eq!(with_archs, without);
    assert_eq!(decide(&with_archs, "rmdir", [0; 6]), RET_ALLOW);
}
