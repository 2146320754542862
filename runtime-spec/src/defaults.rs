//! The config `cella spec` writes: runc's example spec, with hostname "cella" and the newest
//! spec version cella implements.

use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxIdMapping, LinuxIdMappingBuilder, LinuxNamespace, LinuxNamespaceType, Mount, Spec,
};
use serde_json::json;

use crate::json::spec_to_json;
use crate::load::CONFIG_FILE;
use crate::version::OCI_VERSION_MAX;

/// The default config for a container started by root: a shell on a read-only `rootfs`, in new
/// pid, network, ipc, uts, mount and cgroup namespaces, with runc's default mounts, capability
/// sets, masked and read-only paths, and every device denied in the cgroup.
///
/// Unlike runc, which adds the cgroup namespace only on a cgroup v2 host, it is always listed:
/// this crate makes no host calls, and the namespace works on v1 hosts too.
pub fn default_spec() -> Spec {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let config = json!({
        "ociVersion": OCI_VERSION_MAX,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "cella",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi", "/sys/devices/virtual/tpm"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    });
    serde_json::from_value(config).expect("the default config is a valid Spec")
}

/// The default config for a container started by an unprivileged user (`spec --rootless`).
pub fn default_spec_rootless(uid: u32, gid: u32) -> Spec {
    let mut spec = default_spec();
    to_rootless(&mut spec, uid, gid);
    spec
}

/// Adapts a config to a runtime without privileges, as `runc spec --rootless` does: a user
/// namespace mapping container root to `uid`/`gid` (the caller's effective ids), no network
/// namespace (no way to set up networking), /sys bind-mounted from the host (sysfs cannot be
/// mounted without owning the network namespace), no uid=/gid= mount options (those ids are
/// not mapped), and no cgroup resources.
pub fn to_rootless(spec: &mut Spec, uid: u32, gid: u32) {
    let mapping = |host_id| -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(host_id)
            .size(1u32)
            .build()
            .expect("all fields set")
    };
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut namespaces: Vec<LinuxNamespace> = linux.namespaces().clone().unwrap_or_default();
    namespaces.retain(|ns| {
        !matches!(
            ns.typ(),
            LinuxNamespaceType::Network | LinuxNamespaceType::User
        )
    });
    let mut user = LinuxNamespace::default();
    user.set_typ(LinuxNamespaceType::User);
    namespaces.push(user);
    linux.set_namespaces(Some(namespaces));
    linux.set_uid_mappings(Some(vec![mapping(uid)]));
    linux.set_gid_mappings(Some(vec![mapping(gid)]));
    linux.set_resources(None);
    spec.set_linux(Some(linux));

    let mounts = spec
        .mounts()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|mut mount| {
            if mount
                .destination()
                .components()
                .eq(Path::new("/sys").components())
            {
                return sys_rbind();
            }
            if let Some(options) = mount.options().clone() {
                let kept = options
                    .into_iter()
                    .filter(|o| !o.starts_with("uid=") && !o.starts_with("gid="));
                mount.set_options(Some(kept.collect()));
            }
            mount
        });
    spec.set_mounts(Some(mounts.collect()));
}

fn sys_rbind() -> Mount {
    serde_json::from_value(json!({
        "destination": "/sys", "type": "none", "source": "/sys",
        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
    }))
    .expect("a valid mount")
}

#[derive(Debug, thiserror::Error)]
pub enum WriteSpecError {
    /// runc's words, naming the file as runc does.
    #[error("File {CONFIG_FILE} exists. Remove it first")]
    Exists { path: PathBuf },
    #[error("create {}: {source}", .path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes `spec` to `<bundle>/config.json` (see [`spec_to_json`] for the format), refusing to
/// overwrite an existing file. Returns the path written.
pub fn write_spec(bundle: &Path, spec: &Spec) -> Result<PathBuf, WriteSpecError> {
    let path = bundle.join(CONFIG_FILE);
    // create_new (O_EXCL) makes the existence check and the creation one step.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => WriteSpecError::Exists { path: path.clone() },
            _ => WriteSpecError::Create {
                path: path.clone(),
                source,
            },
        })?;
    file.write_all(spec_to_json(spec).as_bytes())
        .map_err(|source| WriteSpecError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

/// Writes the default config (rootless with the given effective uid and gid when `rootless`
/// is set) to `<bundle>/config.json`: what `cella spec [--rootless]` does.
pub fn write_default_spec(
    bundle: &Path,
    rootless: Option<(u32, u32)>,
) -> Result<PathBuf, WriteSpecError> {
    let spec = match rootless {
        Some((uid, gid)) => default_spec_rootless(uid, gid),
        None => default_spec(),
    };
    write_spec(bundle, &spec)
}

#[cfg(test)]
#[path = "defaults_tests.rs"]
mod tests;
