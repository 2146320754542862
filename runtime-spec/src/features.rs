//! The `features` document (features.md, features-linux.md): what this build of cella
//! implements, independent of what the host offers.
//!
//! What is implemented is decided in one place, [`FeatureSwitches::CURRENT`]: flip an entry in
//! the change that implements it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::mount_options::MOUNT_OPTIONS;
use crate::version::{OCI_VERSION_MAX, OCI_VERSION_MIN};

/// The hooks of config.md, in the order they run.
pub const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Namespace types as config-linux.md names them.
pub const NAMESPACES: &[&str] = &[
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

/// Linux capabilities; the index of a name is its kernel number (CAP_CHOWN = 0 ...
/// CAP_CHECKPOINT_RESTORE = 40).
pub const CAPABILITIES: &[&str] = &[
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

const SECCOMP_ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];
const SECCOMP_OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];
const SECCOMP_ARCHS: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];
const SECCOMP_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// Annotation naming the cella version that produced the document.
pub const VERSION_ANNOTATION: &str = "io.github.cella.version";

/// Which optional parts of the spec this build implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureSwitches {
    pub cgroup_v1: bool,
    pub cgroup_v2: bool,
    pub systemd: bool,
    pub systemd_user: bool,
    pub rdma: bool,
    pub seccomp: bool,
    pub apparmor: bool,
    pub selinux: bool,
    pub intel_rdt: bool,
    pub idmap: bool,
    pub net_devices: bool,
}

impl FeatureSwitches {
    /// What cella implements now.
    pub const CURRENT: FeatureSwitches = FeatureSwitches {
        cgroup_v1: true,
        cgroup_v2: true,
        systemd: false,
        systemd_user: false,
        rdma: false,
        seccomp: true,
        apparmor: true,
        selinux: true,
        intel_rdt: false,
        idmap: true,
        net_devices: true,
    };
}

/// The features document. Fields are optional so that other runtimes' documents parse too.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    pub oci_version_min: String,
    pub oci_version_max: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_options: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux: Option<LinuxFeatures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxFeatures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<CgroupFeatures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<SeccompFeatures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor: Option<Enabled>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<Enabled>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intel_rdt: Option<Enabled>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_extensions: Option<MountExtensions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_devices: Option<Enabled>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_policy: Option<MemoryPolicyFeatures>,
}

/// `linux.memoryPolicy` modes and flags the runtime recognises (applied with set_mempolicy).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryPolicyFeatures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
}

/// Every `linux.memoryPolicy` mode of runtime-spec 1.3.
pub const MEMORY_POLICY_MODES: &[&str] = &[
    "MPOL_DEFAULT",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_WEIGHTED_INTERLEAVE",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_LOCAL",
];

/// Every `linux.memoryPolicy` flag of runtime-spec 1.3.
pub const MEMORY_POLICY_FLAGS: &[&str] = &[
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CgroupFeatures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v2: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_user: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdma: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompFeatures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operators: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archs: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_flags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_flags: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enabled {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountExtensions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idmap: Option<Enabled>,
}

fn strings(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| (*s).to_owned()).collect())
}

fn enabled(on: bool) -> Option<Enabled> {
    Some(Enabled { enabled: Some(on) })
}

/// The features document of this build ([`FeatureSwitches::CURRENT`]).
pub fn features() -> Features {
    features_with(&FeatureSwitches::CURRENT)
}

/// The features document for the given switches.
pub fn features_with(on: &FeatureSwitches) -> Features {
    // With seccomp off, only `enabled: false`: listing actions would claim they are recognised.
    let seccomp = if on.seccomp {
        SeccompFeatures {
            enabled: Some(true),
            actions: strings(SECCOMP_ACTIONS),
            operators: strings(SECCOMP_OPERATORS),
            archs: strings(SECCOMP_ARCHS),
            known_flags: strings(SECCOMP_FLAGS),
            supported_flags: None,
        }
    } else {
        SeccompFeatures {
            enabled: Some(false),
            ..Default::default()
        }
    };
    Features {
        oci_version_min: OCI_VERSION_MIN.to_owned(),
        oci_version_max: OCI_VERSION_MAX.to_owned(),
        hooks: strings(HOOKS),
        mount_options: strings(MOUNT_OPTIONS),
        linux: Some(LinuxFeatures {
            namespaces: strings(NAMESPACES),
            capabilities: strings(CAPABILITIES),
            cgroup: Some(CgroupFeatures {
                v1: Some(on.cgroup_v1),
                v2: Some(on.cgroup_v2),
                systemd: Some(on.systemd),
                systemd_user: Some(on.systemd_user),
                rdma: Some(on.rdma),
            }),
            seccomp: Some(seccomp),
            apparmor: enabled(on.apparmor),
            selinux: enabled(on.selinux),
            intel_rdt: enabled(on.intel_rdt),
            mount_extensions: Some(MountExtensions {
                idmap: enabled(on.idmap),
            }),
            net_devices: enabled(on.net_devices),
            memory_policy: Some(MemoryPolicyFeatures {
                modes: strings(MEMORY_POLICY_MODES),
                flags: strings(MEMORY_POLICY_FLAGS),
            }),
        }),
        annotations: Some(BTreeMap::from([(
            VERSION_ANNOTATION.to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        )])),
    }
}

impl Features {
    /// The document as `features` prints it: 4-space indent and a final newline, like runc.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        self.serialize(&mut serializer)
            .expect("writing to a Vec cannot fail");
        out.push(b'\n');
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability, LinuxNamespaceType};
    use serde_json::Value;

    #[test]
    fn document_lists_what_cella_does() {
        let doc = features();
        assert_eq!(
            (doc.oci_version_min.as_str(), doc.oci_version_max.as_str()),
            ("1.0.0", "1.3.0")
        );
        assert_eq!(doc.hooks.as_ref().unwrap().len(), 6);
        let linux = doc.linux.as_ref().unwrap();
        assert_eq!(linux.namespaces.as_ref().unwrap().len(), 8);
        assert_eq!(linux.capabilities.as_ref().unwrap().len(), 41);
        let seccomp = linux.seccomp.as_ref().unwrap();
        assert_eq!(seccomp.enabled, Some(true));
        assert_eq!(seccomp.actions.as_ref().unwrap().len(), 9);
        assert_eq!(seccomp.operators.as_ref().unwrap().len(), 7);
        assert_eq!(seccomp.known_flags.as_ref().unwrap().len(), 4);
        // Host-dependent: the runtime binary fills it in.
        assert_eq!(seccomp.supported_flags, None);
        assert_eq!(
            linux.mount_extensions.as_ref().unwrap().idmap,
            enabled(true)
        );
        let cgroup = linux.cgroup.as_ref().unwrap();
        assert_eq!(
            (cgroup.v1, cgroup.v2, cgroup.systemd, cgroup.systemd_user),
            (Some(true), Some(true), Some(false), Some(false))
        );
        assert_eq!(
            doc.annotations.unwrap()["io.github.cella.version"],
            env!("CARGO_PKG_VERSION")
        );
    }

    #[test]
    fn switches_flip_entries() {
        let off = FeatureSwitches {
            seccomp: false,
            ..FeatureSwitches::CURRENT
        };
        assert_eq!(
            features_with(&off).linux.unwrap().seccomp,
            Some(SeccompFeatures {
                enabled: Some(false),
                ..Default::default()
            })
        );
        let on = FeatureSwitches {
            seccomp: true,
            apparmor: true,
            systemd: true,
            ..FeatureSwitches::CURRENT
        };
        let linux = features_with(&on).linux.unwrap();
        let seccomp = linux.seccomp.unwrap();
        assert_eq!(seccomp.enabled, Some(true));
        assert_eq!(seccomp.actions.unwrap().len(), 9);
        assert_eq!(seccomp.archs.unwrap().len(), 23);
        assert_eq!(linux.apparmor, enabled(true));
        assert_eq!(linux.cgroup.unwrap().systemd, Some(true));
    }

    #[test]
    fn names_are_the_ones_oci_spec_parses() {
        for cap in CAPABILITIES {
            serde_json::from_value::<Capability>(Value::from(*cap))
                .unwrap_or_else(|e| panic!("{cap}: {e}"));
        }
        let unique: std::collections::HashSet<_> = CAPABILITIES.iter().collect();
        assert_eq!(unique.len(), CAPABILITIES.len());
        assert_eq!(
            CAPABILITIES.iter().position(|c| *c == "CAP_SYS_ADMIN"),
            Some(21)
        );
        for ns in NAMESPACES {
            serde_json::from_value::<LinuxNamespaceType>(Value::from(*ns))
                .unwrap_or_else(|e| panic!("{ns}: {e}"));
        }
    }

    #[test]
    fn json_is_runc_shaped() {
        let text = features().to_json();
        assert!(
            text.starts_with(
                "{\n    \"ociVersionMin\": \"1.0.0\",\n    \"ociVersionMax\": \"1.3.0\","
            ),
            "{text}"
        );
        assert!(text.ends_with("}\n"));
        assert!(!text.contains("null"));
        let parsed: Features = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, features());
    }

    #[test]
    fn runc_features_fixture_parses() {
        let text = crate::test_fixtures::read("test/features/good/runc.json");
        let parsed: Features = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.linux.unwrap().seccomp.unwrap().enabled, Some(true));
    }

    #[test]
    fn memory_policy_lists_exactly_what_oci_spec_parses() {
        use oci_spec::runtime::{MemoryPolicyFlagType, MemoryPolicyModeType};
        for mode in MEMORY_POLICY_MODES {
            serde_json::from_value::<MemoryPolicyModeType>(serde_json::json!(mode))
                .unwrap_or_else(|e| panic!("{mode}: {e}"));
        }
        for flag in MEMORY_POLICY_FLAGS {
            serde_json::from_value::<MemoryPolicyFlagType>(serde_json::json!(flag))
                .unwrap_or_else(|e| panic!("{flag}: {e}"));
        }
        let doc = serde_json::to_value(features()).unwrap();
        assert_eq!(
            doc["linux"]["memoryPolicy"]["modes"]
                .as_array()
                .unwrap()
                .len(),
            7
        );
    }
}
