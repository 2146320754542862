//! The device program run on a small interpreter of the opcodes it uses, with the checks of the
//! kernel's verifier that it could fail (reads of unset registers, context offsets, jumps out
//! of the program, unreachable instructions).

use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxResourcesBuilder};

use super::program::*;
use crate::cgroups::resources::DeviceRule;
use crate::cgroups::{device_rules, plan_resources, CgroupVersion};
use crate::sys::bpf::BpfInsn;

/// Where the interpreter pretends the context lives.
const CTX: u64 = 0x1000;

/// Runs `prog` on `struct bpf_cgroup_dev_ctx` and returns R0.
fn run(prog: &[BpfInsn], ctx: [u32; 3]) -> u64 {
    let mut regs = [0u64; 11];
    let mut set = [false; 11];
    regs[1] = CTX;
    set[1] = true;
    let mut pc = 0usize;
    for _ in 0..10_000 {
        let insn = prog
            .get(pc)
            .unwrap_or_else(|| panic!("pc {pc} is outside the program"));
        let (dst, src) = (usize::from(insn.dst()), usize::from(insn.src()));
        let imm = i64::from(insn.imm) as u64; // sign-extended, as the kernel does
        let read = |r: usize| {
            assert!(set[r], "pc {pc}: R{r} is read before it is set");
            regs[r]
        };
        let mut next = pc + 1;
        match insn.code {
            LDX_W => {
                let addr = read(src).wrapping_add_signed(i64::from(insn.off));
                let field = addr.wrapping_sub(CTX);
                assert!(
                    read(src) == CTX && matches!(field, 0 | 4 | 8),
                    "pc {pc}: load from {addr:#x}, not a context field"
                );
                regs[dst] = u64::from(ctx[(field / 4) as usize]);
                set[dst] = true;
            }
            AND32_K => {
                regs[dst] = (read(dst) as u32 & insn.imm as u32).into();
            }
            RSH32_K => {
                regs[dst] = (read(dst) as u32 >> insn.imm).into();
            }
            MOV32_K => {
                regs[dst] = u64::from(insn.imm as u32);
                set[dst] = true;
            }
            MOV32_X => {
                regs[dst] = u64::from(read(src) as u32);
                set[dst] = true;
            }
            JEQ_K | JNE_K => {
                let equal = read(dst) == imm;
                if equal == (insn.code == JEQ_K) {
                    next = pc
                        .checked_add_signed(1 + isize::from(insn.off))
                        .expect("jump before the start");
                }
            }
            EXIT => return read(0),
            other => panic!("pc {pc}: opcode {other:#04x} not emitted by device_program"),
        }
        pc = next;
    }
    panic!("the program does not terminate");
}

/// The verifier refuses programs with instructions no path reaches, or that fall off the end.
fn assert_all_reachable(prog: &[BpfInsn]) {
    let mut seen = vec![false; prog.len()];
    let mut todo = vec![0usize];
    while let Some(pc) = todo.pop() {
        assert!(pc < prog.len(), "falls off the end at {pc}");
        if std::mem::replace(&mut seen[pc], true) {
            continue;
        }
        let insn = prog[pc];
        match insn.code {
            EXIT => {}
            JEQ_K | JNE_K => {
                todo.push(pc + 1);
                todo.push(pc.checked_add_signed(1 + isize::from(insn.off)).unwrap());
            }
            _ => todo.push(pc + 1),
        }
    }
    let unreachable: Vec<_> = (0..prog.len()).filter(|pc| !seen[*pc]).collect();
    assert!(
        unreachable.is_empty(),
        "unreachable instructions {unreachable:?}"
    );
}

fn rule(
    allow: bool,
    kind: char,
    major: Option<u32>,
    minor: Option<u32>,
    access: &str,
) -> DeviceRule {
    DeviceRule {
        allow,
        kind,
        major,
        minor,
        access: access.to_string(),
    }
}

fn deny_all() -> DeviceRule {
    rule(false, 'a', None, None, "rwm")
}

fn allow_all() -> DeviceRule {
    rule(true, 'a', None, None, "rwm")
}

/// "c 1:3 rw" -> the context the kernel passes.
fn request(text: &str) -> [u32; 3] {
    let parts: Vec<&str> = text.split([' ', ':']).collect();
    let typ = match parts[0] {
        "b" => DEV_BLOCK,
        "c" => DEV_CHAR,
        other => panic!("type {other}"),
    };
    let access = parts[3].chars().fold(0, |a, c| {
        a | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => panic!("access {c}"),
        }
    });
    [
        access << 16 | typ,
        parts[1].parse().unwrap(),
        parts[2].parse().unwrap(),
    ]
}

/// Runs each request ("c 1:3 rw", expected allow) against `rules`.
fn check(rules: &[DeviceRule], cases: &[(&str, bool)]) {
    let prog = device_program(rules);
    assert_all_reachable(&prog);
    for (req, allowed) in cases {
        let got = run(&prog, request(req));
        assert_eq!(got, u64::from(*allowed), "{req} with rules {rules:?}");
    }
}

#[test]
fn default_deny_then_one_device() {
    check(
        &[deny_all(), rule(true, 'c', Some(1), Some(3), "rwm")],
        &[
            ("c 1:3 r", true),
            ("c 1:3 rw", true),
            ("c 1:3 m", true),
            ("c 1:5 r", false),
            ("c 2:3 r", false),
            ("b 1:3 r", false),
        ],
    );
}

#[test]
fn allow_all_then_deny_write_to_one_device() {
    check(
        &[allow_all(), rule(false, 'c', Some(1), Some(3), "w")],
        &[
            ("c 1:3 r", true),
            ("c 1:3 m", true),
            ("c 1:3 w", false),
            // open(O_RDWR) asks for both at once: the write part is denied.
            ("c 1:3 rw", false),
            ("c 1:5 w", true),
            ("b 1:3 w", true),
        ],
    );
}

#[test]
fn wildcard_minor() {
    check(
        &[deny_all(), rule(true, 'c', Some(136), None, "rwm")],
        &[
            ("c 136:0 rw", true),
            ("c 136:4095 r", true),
            ("c 137:0 r", false),
            ("b 136:0 r", false),
        ],
    );
}

#[test]
fn mknod_only() {
    check(
        &[
            deny_all(),
            rule(true, 'c', None, None, "m"),
            rule(true, 'b', None, None, "m"),
        ],
        &[
            ("c 8:0 m", true),
            ("b 8:0 m", true),
            ("b 8:0 r", false),
            ("b 8:0 rm", false),
            ("c 1:3 rw", false),
        ],
    );
}

#[test]
fn block_and_char_are_told_apart() {
    check(
        &[deny_all(), rule(true, 'b', Some(8), Some(0), "r")],
        &[
            ("b 8:0 r", true),
            ("b 8:0 w", false),
            ("b 8:0 rw", false),
            ("c 8:0 r", false),
            ("b 8:1 r", false),
        ],
    );
}

#[test]
fn no_rules_deny_everything() {
    check(&[], &[("c 1:3 r", false), ("b 8:0 m", false)]);
    check(&[deny_all()], &[("c 1:3 r", false)]);
}

#[test]
fn each_access_bit_is_decided_by_the_last_rule_naming_it() {
    let rules = [
        deny_all(),
        rule(true, 'c', Some(1), Some(3), "r"),
        rule(true, 'c', Some(1), Some(3), "w"),
    ];
    check(&rules, &[("c 1:3 rw", true), ("c 1:3 rwm", false)]);
    // A later deny of one bit wins over an earlier allow of it, and leaves the others.
    let rules = [
        deny_all(),
        rule(true, 'c', Some(1), None, "rw"),
        rule(false, 'c', Some(1), Some(3), "w"),
    ];
    check(
        &rules,
        &[("c 1:3 r", true), ("c 1:3 rw", false), ("c 1:5 rw", true)],
    );
    // A deny that punches a hole in an earlier wildcard allow.
    let rules = [
        deny_all(),
        rule(true, 'c', None, None, "rwm"),
        rule(false, 'c', Some(1), Some(3), "rwm"),
    ];
    check(&rules, &[("c 1:3 r", false), ("c 1:5 r", true)]);
}

#[test]
fn a_later_catch_all_overrides_everything_before() {
    let rules = [rule(true, 'c', Some(1), Some(3), "rwm"), deny_all()];
    check(&rules, &[("c 1:3 r", false)]);
    // Nothing is emitted for the rules before it: 6 loads, then return 0.
    assert_eq!(device_program(&rules).len(), 8);
    let rules = [
        deny_all(),
        rule(true, 'c', Some(1), Some(3), "r"),
        allow_all(),
    ];
    check(&rules, &[("c 1:3 w", true), ("b 8:0 rwm", true)]);
}

#[test]
fn type_a_with_numbers_matches_both_types() {
    check(
        &[deny_all(), rule(true, 'a', Some(1), Some(3), "r")],
        &[("c 1:3 r", true), ("b 1:3 r", true), ("c 1:3 w", false)],
    );
}

#[test]
fn numbers_above_i32_max_match_no_device() {
    let big = u32::MAX - 1;
    check(
        &[deny_all(), rule(true, 'c', Some(big), None, "rwm")],
        &[("c 4094:0 r", false), ("c 1:3 r", false)],
    );
}

#[test]
fn one_rule_compiles_to_its_checks_and_a_return() {
    let prog = device_program(&[rule(true, 'c', Some(1), Some(3), "rw")]);
    let block: Vec<(u8, u8, u8, i16, i32)> = prog[6..]
        .iter()
        .map(|i| (i.code, i.dst(), i.src(), i.off, i.imm))
        .collect();
    assert_eq!(
        block,
        [
            (JNE_K, 2, 0, 6, 2),    // type != char: next rule
            (JNE_K, 4, 0, 5, 1),    // major != 1
            (JNE_K, 5, 0, 4, 3),    // minor != 3
            (AND32_K, 3, 0, 0, !6), // r and w are granted
            (JNE_K, 3, 0, 2, 0),    // m still undecided: next rule
            (MOV32_K, 0, 0, 0, 1),  // allow
            (EXIT, 0, 0, 0, 0),
            (MOV32_K, 0, 0, 0, 0), // no rule left: deny
            (EXIT, 0, 0, 0, 0),
        ]
    );
}

/// The rules `create` compiles for a config with runc's usual deny-all and no linux.devices.
#[test]
fn cella_default_rules() {
    let deny = LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()
        .unwrap();
    let fuse = oci_spec::runtime::LinuxDeviceBuilder::default()
        .path("/dev/fuse")
        .typ(LinuxDeviceType::C)
        .major(10)
        .minor(229)
        .build()
        .unwrap();
    let res = LinuxResourcesBuilder::default()
        .devices(device_rules(&[deny], &[fuse]))
        .build()
        .unwrap();
    let rules = plan_resources(&res, CgroupVersion::V2).unwrap().devices;
    check(
        &rules,
        &[
            ("c 1:3 rw", true),   // null
            ("c 1:5 r", true),    // zero
            ("c 1:7 w", true),    // full
            ("c 1:8 r", true),    // random
            ("c 1:9 r", true),    // urandom
            ("c 5:0 rw", true),   // tty
            ("c 5:1 rw", true),   // console
            ("c 5:2 rw", true),   // ptmx
            ("c 136:7 rw", true), // pts
            ("c 10:200 rw", true),
            ("c 10:229 rw", true), // linux.devices
            ("b 8:0 m", true),
            ("c 4:1 m", true),
            ("b 8:0 r", false),
            ("c 1:1 r", false), // /dev/mem
            ("c 4:1 rw", false),
            ("c 10:229 rwm", true),
        ],
    );
}
