//! Linux security module labels: the AppArmor profile (`process.apparmorProfile`) and the
//! SELinux labels (`process.selinuxLabel`, `linux.mountLabel`).
//!
//! Both process settings are "on exec" transitions: the container process writes the profile
//! or label to its own `attr/exec` file, and the kernel applies it at the next execve (the
//! user program's). The SELinux process label also labels the session keyring
//! (`attr/keycreate` before the keyring is joined). The mount label becomes a `context=`
//! option of the container's filesystem mounts (see [`mount_context`]).
//!
//! The attr files are opened through a private procfs made and checked by pathrs
//! ([`pathrs::procfs::ProcfsHandle`]), never through the container's /proc: a rootfs or
//! volume that puts a fake procfs at /proc (CVE-2019-16884, CVE-2019-19921) or bind-mounts
//! another file over /proc/self/attr/exec (CVE-2025-52881) would otherwise swallow the write
//! and leave the process unconfined.

use std::io::Write;
use std::path::Path;

use pathrs::flags::OpenFlags;
use pathrs::procfs::{ProcfsBase, ProcfsHandle};

#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    #[error("apparmor profile {0:?} is set but AppArmor is not enabled on this host")]
    AppArmorDisabled(String),
    #[error("selinux label is specified in config, but selinux is disabled or not supported")]
    SelinuxDisabled,
    #[error("{field} {value:?}: {why}")]
    Invalid {
        field: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("open a private procfs for the {what}: {source}")]
    Procfs {
        what: &'static str,
        #[source]
        source: pathrs::error::Error,
    },
    #[error("open /proc/thread-self/{path}: {source}")]
    Open {
        path: &'static str,
        #[source]
        source: pathrs::error::Error,
    },
    #[error("{what} {value:?}: write /proc/thread-self/{path}: {desc}{hint}")]
    Write {
        what: &'static str,
        value: String,
        path: &'static str,
        desc: String,
        hint: &'static str,
        errno: Option<i32>,
    },
}

impl LsmError {
    /// The errno of a failed write or open, for the child's error report.
    pub fn errno(&self) -> Option<i32> {
        match self {
            LsmError::Write { errno, .. } => *errno,
            LsmError::Open { source, .. } | LsmError::Procfs { source, .. } => {
                match source.kind() {
                    pathrs::error::ErrorKind::OsError(errno) => errno,
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// Which LSMs the host has on, read from `root` (`/` but for tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LsmHost {
    pub apparmor: bool,
    pub selinux: bool,
}

impl LsmHost {
    /// AppArmor: the module says it is enabled (runc asks the same file). SELinux: selinuxfs
    /// is mounted where the tools expect it.
    pub fn probe(root: &Path) -> LsmHost {
        let apparmor = std::fs::read_to_string(root.join("sys/module/apparmor/parameters/enabled"))
            .is_ok_and(|s| s.trim() == "Y");
        let selinux = root.join("sys/fs/selinux/enforce").exists();
        LsmHost { apparmor, selinux }
    }
}

/// The labels a process takes at its execve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LsmPlan {
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
}

impl LsmPlan {
    pub fn is_empty(&self) -> bool {
        self.apparmor_profile.is_none() && self.selinux_label.is_none()
    }
}

/// Checks the settings against the host. A profile or label the user asked for is never
/// dropped: without its LSM the container is refused (runc fails too, later and less
/// clearly). `host` is only called when something is set, so most creates read nothing.
pub fn plan(
    apparmor: Option<&str>,
    selinux: Option<&str>,
    mount_label: Option<&str>,
    host: impl FnOnce() -> LsmHost,
) -> Result<LsmPlan, LsmError> {
    let apparmor = apparmor.filter(|p| !p.is_empty());
    let selinux = selinux.filter(|l| !l.is_empty());
    let mount_label = mount_label.filter(|l| !l.is_empty());
    if apparmor.is_none() && selinux.is_none() && mount_label.is_none() {
        return Ok(LsmPlan::default());
    }
    let host = host();
    if let Some(profile) = apparmor {
        check_value("process.apparmorProfile", profile)?;
        if !host.apparmor {
            return Err(LsmError::AppArmorDisabled(profile.to_owned()));
        }
    }
    for (field, label) in [
        ("process.selinuxLabel", selinux),
        ("linux.mountLabel", mount_label),
    ] {
        if let Some(label) = label {
            check_value(field, label)?;
            if !host.selinux {
                return Err(LsmError::SelinuxDisabled);
            }
            // The mount label goes into a quoted context="..." option.
            if label.contains('"') || !label.contains(':') {
                return Err(LsmError::Invalid {
                    field,
                    value: label.to_owned(),
                    why: "not a selinux context (user:role:type[:level])",
                });
            }
        }
    }
    Ok(LsmPlan {
        apparmor_profile: apparmor.map(str::to_owned),
        selinux_label: selinux.map(str::to_owned),
    })
}

/// A profile or label goes to the kernel as one line: no line breaks or NUL bytes.
fn check_value(field: &'static str, value: &str) -> Result<(), LsmError> {
    if value.contains(['\n', '\0']) {
        return Err(LsmError::Invalid {
            field,
            value: value.to_owned(),
            why: "contains a line break or NUL byte",
        });
    }
    Ok(())
}

/// The mount option that labels a filesystem mount with `linux.mountLabel`, or None for the
/// filesystem types that keep their own labels (proc and sysfs, as runc leaves them).
pub fn mount_context(fstype: Option<&str>, label: &str) -> Option<String> {
    match fstype {
        Some("proc" | "sysfs") => None,
        _ => Some(format!("context=\"{label}\"")),
    }
}

/// Where each LSM takes its exec transition, relative to /proc/thread-self.
const APPARMOR_EXEC: &str = "attr/apparmor/exec";
/// Kernels before LSM stacking (and SELinux always) use the shared file.
const SHARED_EXEC: &str = "attr/exec";
const KEYCREATE: &str = "attr/keycreate";

/// Makes the next execve of this thread take `plan`'s labels.
pub fn set_exec_labels(plan: &LsmPlan) -> Result<(), LsmError> {
    if plan.is_empty() {
        return Ok(());
    }
    let procfs = private_procfs("exec label")?;
    if let Some(profile) = &plan.apparmor_profile {
        let (path, file) = match open_attr(&procfs, APPARMOR_EXEC) {
            Ok(f) => (APPARMOR_EXEC, f),
            Err(_) => (SHARED_EXEC, open_attr(&procfs, SHARED_EXEC)?),
        };
        write_attr(
            file,
            path,
            "apparmor profile",
            profile,
            &format!("exec {profile}"),
        )?;
    }
    if let Some(label) = &plan.selinux_label {
        let file = open_attr(&procfs, SHARED_EXEC)?;
        write_attr(file, SHARED_EXEC, "selinux label", label, label)?;
    }
    Ok(())
}

/// Labels the keys this thread creates from now on (the session keyring) with the SELinux
/// process label.
pub fn set_key_label(plan: &LsmPlan) -> Result<(), LsmError> {
    let Some(label) = &plan.selinux_label else {
        return Ok(());
    };
    let procfs = private_procfs("key label")?;
    let file = open_attr(&procfs, KEYCREATE)?;
    write_attr(file, KEYCREATE, "selinux key label", label, label)
}

fn private_procfs(what: &'static str) -> Result<ProcfsHandle, LsmError> {
    ProcfsHandle::new().map_err(|source| LsmError::Procfs { what, source })
}

fn open_attr(procfs: &ProcfsHandle, path: &'static str) -> Result<std::fs::File, LsmError> {
    procfs
        .open(
            ProcfsBase::ProcThreadSelf,
            path,
            OpenFlags::O_WRONLY | OpenFlags::O_CLOEXEC,
        )
        .map_err(|source| LsmError::Open { path, source })
}

/// One write(2) of the whole value: the kernel takes an attr write as one command.
fn write_attr(
    mut file: std::fs::File,
    path: &'static str,
    what: &'static str,
    value: &str,
    text: &str,
) -> Result<(), LsmError> {
    file.write_all(text.as_bytes()).map_err(|e| {
        let errno = e.raw_os_error();
        let hint = match (what, errno) {
            ("apparmor profile", Some(libc::ENOENT)) => " (is the profile loaded?)",
            (_, Some(libc::EINVAL)) => " (not a valid label for this policy)",
            _ => "",
        };
        LsmError::Write {
            what,
            value: value.to_owned(),
            path,
            desc: nix::errno::Errno::from_raw(errno.unwrap_or(0))
                .desc()
                .to_lowercase(),
            hint,
            errno,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> LsmHost {
        LsmHost {
            apparmor: true,
            selinux: true,
        }
    }

    #[test]
    fn nothing_set_never_probes_the_host() {
        let plan = plan(None, Some(""), None, || panic!("probed")).unwrap();
        assert!(plan.is_empty());
    }

    #[test]
    fn a_profile_without_apparmor_is_refused_by_name() {
        let err = plan(Some("cella-test"), None, None, LsmHost::default).unwrap_err();
        assert_eq!(
            err.to_string(),
            "apparmor profile \"cella-test\" is set but AppArmor is not enabled on this host"
        );
    }

    #[test]
    fn selinux_labels_without_selinux_are_refused_with_runcs_words() {
        for (label, mount) in [
            (Some("system_u:system_r:container_t:s0"), None),
            (None, Some("x:y:z")),
        ] {
            let err = plan(None, label, mount, LsmHost::default).unwrap_err();
            assert_eq!(
                err.to_string(),
                "selinux label is specified in config, but selinux is disabled or not supported"
            );
        }
    }

    #[test]
    fn enabled_lsms_keep_the_values() {
        let p = plan(
            Some("docker-default"),
            Some("system_u:system_r:container_t:s0:c1,c2"),
            Some("system_u:object_r:container_file_t:s0:c1,c2"),
            both,
        )
        .unwrap();
        assert_eq!(p.apparmor_profile.as_deref(), Some("docker-default"));
        assert_eq!(
            p.selinux_label.as_deref(),
            Some("system_u:system_r:container_t:s0:c1,c2")
        );
    }

    #[test]
    fn values_that_would_break_the_kernel_command_are_refused() {
        let err = plan(Some("a\nchangeprofile b"), None, None, both).unwrap_err();
        assert!(err.to_string().contains("process.apparmorProfile"), "{err}");
        let err = plan(None, None, Some("a\"b:c"), both).unwrap_err();
        assert!(err.to_string().contains("linux.mountLabel"), "{err}");
    }

    #[test]
    fn mount_context_spares_proc_and_sysfs() {
        assert_eq!(
            mount_context(Some("tmpfs"), "s:o:t:s0").as_deref(),
            Some("context=\"s:o:t:s0\"")
        );
        assert_eq!(mount_context(Some("proc"), "s:o:t:s0"), None);
        assert_eq!(mount_context(Some("sysfs"), "s:o:t:s0"), None);
    }

    #[test]
    fn host_probe_reads_the_module_parameter_and_selinuxfs() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(LsmHost::probe(root.path()), LsmHost::default());
        let module = root.path().join("sys/module/apparmor/parameters");
        std::fs::create_dir_all(&module).unwrap();
        std::fs::write(module.join("enabled"), "N\n").unwrap();
        assert!(!LsmHost::probe(root.path()).apparmor);
        std::fs::write(module.join("enabled"), "Y\n").unwrap();
        std::fs::create_dir_all(root.path().join("sys/fs/selinux")).unwrap();
        std::fs::write(root.path().join("sys/fs/selinux/enforce"), "0").unwrap();
        assert_eq!(LsmHost::probe(root.path()), both());
    }
}
