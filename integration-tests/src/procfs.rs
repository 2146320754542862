//! Reading what /proc says about a process, and capability names as bitmasks.

/// Capability numbers by name (linux/capability.h), up to CAP_CHECKPOINT_RESTORE.
pub const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The bitmask of capability `names`, as /proc/PID/status prints it (16 hex digits).
#[track_caller]
pub fn cap_mask(names: &[&str]) -> String {
    let mut mask = 0u64;
    for n in names {
        let bit = CAPS
            .iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("unknown cap {n}"));
        mask |= 1 << bit;
    }
    format!("{mask:016x}")
}

/// The value of `key:` in a /proc/PID/status text, trimmed.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(str::trim))
}

/// The namespace inode `ns` (e.g. "net") of `pid`, as readlink prints it ("net:[4026...]").
pub fn ns_link(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .map(|l| l.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_match_the_kernel_numbers() {
        assert_eq!(cap_mask(&["CAP_CHOWN"]), "0000000000000001");
        assert_eq!(
            cap_mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE"]),
            "0000000000000420"
        );
        assert_eq!(cap_mask(&["CAP_AUDIT_WRITE"]), "0000000020000000");
        assert_eq!(cap_mask(CAPS), "000001ffffffffff");
    }

    #[test]
    fn status_fields_are_found_by_key() {
        let s = "Name:\tsh\nCapEff:\t0000000000000420\nNoNewPrivs:\t1\n";
        assert_eq!(status_field(s, "CapEff"), Some("0000000000000420"));
        assert_eq!(status_field(s, "NoNewPrivs"), Some("1"));
        assert_eq!(status_field(s, "Cap"), None);
    }
}
