//! Device rules compiled to a `BPF_PROG_TYPE_CGROUP_DEVICE` program: cgroup v2 has no devices
//! controller, so the kernel asks this program about every mknod and open of a device node.
//!
//! The program reads `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! (`access_type` = access bits << 16 | device type) and returns 1 to allow, 0 to deny (the
//! syscall then fails with EPERM).
//!
//! Semantics, as the v1 controller cella configures: everything is denied at first, then the
//! rules apply in order, a later rule overriding an earlier one. One request may carry several
//! access bits (`open(O_RDWR)` asks for read and write at once); each bit is decided by the
//! last rule that matches the device and names the bit, and the request is allowed only when
//! every bit is. The program therefore walks the rules from the last to the first, keeping in
//! R3 the bits not decided yet:
//! - an allow rule that matches the device clears its bits from R3; when none are left, allow;
//! - a deny rule that matches the device and names any bit still in R3 denies;
//! - at the end, bits are left: deny.
//!
//! This is stricter than the v1 kernel in one case: in v1 a deny rule cannot punch a hole in an
//! earlier wildcard allow (`allow c *:* rwm` then `deny c 1:3 rwm` leaves 1:3 allowed there),
//! here it does. runc's filter decides a request with several bits by whether one rule covers
//! all of them, so a deny of `w` alone does not stop `open(O_RDWR)` when everything else is
//! allowed; here it does.
//!
//! Instructions are produced here and verified by the kernel at load time; the unit tests run
//! them on a small interpreter of exactly these opcodes.

use crate::cgroups::resources::DeviceRule;
use crate::sys::bpf::BpfInsn;

// Opcode = operation | source | class (include/uapi/linux/bpf_common.h and bpf.h).
/// Class: load from memory into a register (`dst = *(size *)(src + off)`).
const BPF_LDX: u8 = 0x01;
/// Class: 32-bit arithmetic; the result is zero-extended into the 64-bit register.
const BPF_ALU: u8 = 0x04;
/// Class: jumps, comparing the full 64-bit register with the sign-extended immediate.
const BPF_JMP: u8 = 0x05;
/// Size for LDX: a 32-bit word.
const BPF_W: u8 = 0x00;
/// Mode for LDX: register + offset addressing.
const BPF_MEM: u8 = 0x60;
/// Source operand: the immediate `imm`.
const BPF_K: u8 = 0x00;
/// Source operand: the register `src`.
const BPF_X: u8 = 0x08;
/// ALU operation `dst &= operand`.
const BPF_AND: u8 = 0x50;
/// ALU operation `dst >>= operand` (logical).
const BPF_RSH: u8 = 0x70;
/// ALU operation `dst = operand`.
const BPF_MOV: u8 = 0xb0;
/// Jump operation: `if dst == operand goto pc + 1 + off`.
const BPF_JEQ: u8 = 0x10;
/// Jump operation: `if dst != operand goto pc + 1 + off`.
const BPF_JNE: u8 = 0x50;
/// Jump-class operation: return R0 to the kernel.
const BPF_EXIT: u8 = 0x90;

pub(super) const LDX_W: u8 = BPF_LDX | BPF_MEM | BPF_W;
pub(super) const AND32_K: u8 = BPF_ALU | BPF_AND | BPF_K;
pub(super) const RSH32_K: u8 = BPF_ALU | BPF_RSH | BPF_K;
pub(super) const MOV32_K: u8 = BPF_ALU | BPF_MOV | BPF_K;
pub(super) const MOV32_X: u8 = BPF_ALU | BPF_MOV | BPF_X;
pub(super) const JEQ_K: u8 = BPF_JMP | BPF_JEQ | BPF_K;
pub(super) const JNE_K: u8 = BPF_JMP | BPF_JNE | BPF_K;
pub(super) const EXIT: u8 = BPF_JMP | BPF_EXIT;

// Registers. R1 holds the context pointer on entry and is a scratch register once the three
// fields are loaded; R0 is the return value.
const R0: u8 = 0;
const R1: u8 = 1;
const DEV_TYPE: u8 = 2;
const UNDECIDED: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;

/// Device types and access bits of `access_type` (BPF_DEVCG_DEV_*, BPF_DEVCG_ACC_*).
pub const DEV_BLOCK: u32 = 1;
pub const DEV_CHAR: u32 = 2;
pub const ACC_MKNOD: u32 = 1;
pub const ACC_READ: u32 = 2;
pub const ACC_WRITE: u32 = 4;
const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// The program for `rules` (in config order, as [`DeviceRule`]s are normalised).
pub fn device_program(rules: &[DeviceRule]) -> Vec<BpfInsn> {
    let mut prog = vec![
        BpfInsn::new(LDX_W, DEV_TYPE, R1, 0, 0),
        BpfInsn::new(AND32_K, DEV_TYPE, 0, 0, 0xffff),
        BpfInsn::new(LDX_W, UNDECIDED, R1, 0, 0),
        BpfInsn::new(RSH32_K, UNDECIDED, 0, 0, 16),
        BpfInsn::new(LDX_W, MAJOR, R1, 4, 0),
        BpfInsn::new(LDX_W, MINOR, R1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        let (block, returns_always) = rule_block(rule);
        prog.extend(block);
        // Nothing after an unconditional return could run, and the verifier refuses
        // unreachable instructions.
        if returns_always {
            return prog;
        }
    }
    prog.extend(ret(false));
    prog
}

/// Marks a jump to the end of the block; patched into a real offset by [`rule_block`].
const NEXT_RULE: i16 = i16::MAX;

/// The instructions for one rule, and whether they return whatever the request is.
fn rule_block(rule: &DeviceRule) -> (Vec<BpfInsn>, bool) {
    let access = access_bits(&rule.access);
    let mut block = Vec::new();
    let typ = match rule.kind {
        'b' => Some(DEV_BLOCK),
        'c' => Some(DEV_CHAR),
        _ => None,
    };
    let checks = [(DEV_TYPE, typ), (MAJOR, rule.major), (MINOR, rule.minor)];
    for (reg, value) in checks {
        if let Some(v) = value {
            block.push(BpfInsn::new(JNE_K, reg, 0, NEXT_RULE, imm(v)));
        }
    }
    if access != ACC_ALL {
        if rule.allow {
            // These bits are granted; the request is allowed when none is left undecided.
            block.push(BpfInsn::new(AND32_K, UNDECIDED, 0, 0, imm(!access)));
            block.push(BpfInsn::new(JNE_K, UNDECIDED, 0, NEXT_RULE, 0));
        } else {
            // Denied when the request still needs one of these bits.
            block.push(BpfInsn::new(MOV32_X, R1, UNDECIDED, 0, 0));
            block.push(BpfInsn::new(AND32_K, R1, 0, 0, imm(access)));
            block.push(BpfInsn::new(JEQ_K, R1, 0, NEXT_RULE, 0));
        }
    }
    let unconditional = block.is_empty();
    block.extend(ret(rule.allow));
    let len = block.len();
    for (pc, insn) in block.iter_mut().enumerate() {
        if insn.off == NEXT_RULE {
            insn.off = i16::try_from(len - pc - 1).expect("a rule block has at most 8 insns");
        }
    }
    (block, unconditional)
}

fn ret(allow: bool) -> [BpfInsn; 2] {
    [
        BpfInsn::new(MOV32_K, R0, 0, 0, i32::from(allow)),
        BpfInsn::new(EXIT, 0, 0, 0, 0),
    ]
}

fn access_bits(access: &str) -> u32 {
    access.chars().fold(0, |bits, c| {
        bits | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    })
}

/// The immediate holding `v`'s 32 bits. Jumps compare it sign-extended with the zero-extended
/// register, so numbers of 2^31 and above never match; device numbers are far smaller (12-bit
/// majors, 20-bit minors), so such a rule names no device anyway.
fn imm(v: u32) -> i32 {
    i32::from_ne_bytes(v.to_ne_bytes())
}
