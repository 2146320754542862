//! linux.memoryPolicy as set_mempolicy(2) arguments: the mode with its flags and the node mask.

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

use super::PlanError;

/// What the container process passes to set_mempolicy(2) before execve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemPolicy {
    /// MPOL_* mode or'ed with the MPOL_F_* flags.
    pub mode: i32,
    /// One bit per node, 64 nodes per word; empty for modes without nodes.
    pub nodemask: Vec<u64>,
    /// set_mempolicy's `maxnode`: the kernel reads `maxnode - 1` bits, so one more than the
    /// mask holds.
    pub maxnode: u64,
}

// <linux/mempolicy.h>
const MPOL_F_NUMA_BALANCING: i32 = 1 << 13;
const MPOL_F_RELATIVE_NODES: i32 = 1 << 14;
const MPOL_F_STATIC_NODES: i32 = 1 << 15;
/// Nodes beyond this are refused rather than turned into a huge mask (the kernel's own
/// limit is far lower).
const MAX_NODE: u32 = 4095;

pub(super) fn plan_mempolicy(p: &LinuxMemoryPolicy) -> Result<MemPolicy, PlanError> {
    use MemoryPolicyModeType as M;
    let mut mode = match p.mode() {
        M::MpolDefault => 0,
        M::MpolPreferred => 1,
        M::MpolBind => 2,
        M::MpolInterleave => 3,
        M::MpolLocal => 4,
        M::MpolPreferredMany => 5,
        M::MpolWeightedInterleave => 6,
    };
    for flag in p.flags().as_deref().unwrap_or_default() {
        mode |= match flag {
            MemoryPolicyFlagType::MpolFNumaBalancing => MPOL_F_NUMA_BALANCING,
            MemoryPolicyFlagType::MpolFRelativeNodes => MPOL_F_RELATIVE_NODES,
            MemoryPolicyFlagType::MpolFStaticNodes => MPOL_F_STATIC_NODES,
        };
    }
    let nodes = p.nodes().as_deref().unwrap_or_default();
    let bad = || PlanError::MemoryPolicyNodes(nodes.to_owned());
    let mut nodemask: Vec<u64> = Vec::new();
    for part in nodes.split(',').filter(|s| !s.trim().is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let lo: u32 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u32 = hi.trim().parse().map_err(|_| bad())?;
        if lo > hi || hi > MAX_NODE {
            return Err(bad());
        }
        for n in lo..=hi {
            let word = usize::try_from(n / 64).map_err(|_| bad())?;
            if nodemask.len() <= word {
                nodemask.resize(word + 1, 0);
            }
            nodemask[word] |= 1 << (n % 64);
        }
    }
    let maxnode = if nodemask.is_empty() {
        0
    } else {
        nodemask.len() as u64 * 64 + 1
    };
    Ok(MemPolicy {
        mode,
        nodemask,
        maxnode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: serde_json::Value) -> Result<MemPolicy, PlanError> {
        plan_mempolicy(&serde_json::from_value(json).unwrap())
    }

    #[test]
    fn modes_flags_and_node_lists_become_syscall_arguments() {
        let p = policy(
            serde_json::json!({"mode": "MPOL_INTERLEAVE", "nodes": "0-2,5,64",
            "flags": ["MPOL_F_STATIC_NODES"]}),
        )
        .unwrap();
        assert_eq!(p.mode, 3 | MPOL_F_STATIC_NODES);
        assert_eq!(p.nodemask, [0b100111, 1]);
        assert_eq!(p.maxnode, 129);
        let local = policy(serde_json::json!({"mode": "MPOL_LOCAL"})).unwrap();
        assert_eq!((local.mode, local.maxnode), (4, 0));
        assert!(local.nodemask.is_empty());
    }

    #[test]
    fn malformed_node_lists_are_refused() {
        for nodes in ["3-1", "a", "1-", "99999"] {
            let e = policy(serde_json::json!({"mode": "MPOL_BIND", "nodes": nodes}));
            assert!(e.is_err(), "{nodes}");
        }
    }
}
