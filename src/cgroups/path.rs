//! Where the container's cgroup goes: runc's `cgroupsPath` rules for the cgroupfs driver.
//!
//! runc 1.1 (`libcontainer/specconv` + `cgroups/fs` + `cgroups/fs2`), which we match:
//! - the path is first cleaned lexically; `..` cannot climb above the start;
//! - absent or empty: the container id, as a *relative* path (runc sets `Name = id`, and its
//!   inner path `id` has no leading slash), so it lands below the runtime's own cgroup;
//! - absolute: from the root of every hierarchy;
//! - relative, v1: below the runtime's own cgroup in that hierarchy (`/proc/self/cgroup`);
//! - relative, v2: below the *parent* of the runtime's own cgroup (the `0::` line): the own
//!   cgroup usually holds processes, and a cgroup with processes cannot delegate controllers;
//! - relative, the cgroup2 mount of a hybrid host: from that mount's root (runc's v1 manager
//!   treats it like a named hierarchy whose "own path" is the mount point).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::fsutil;
use super::mountinfo::{parse_mountinfo, Layout, ProcSelfCgroup, CGROUP_MOUNT_PREFIX};
use super::{CgroupError, CgroupMode};

/// The container's cgroup, before it is placed on the mounted hierarchies (which
/// [`super::Manager::new`] does, because mount roots come from mountinfo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupPath {
    /// The cleaned `cgroupsPath` (or the id when absent): "/a/b" absolute, "a/b" relative.
    pub inner: String,
    /// The runtime's own cgroup in each v1 hierarchy, keyed by the controller list as
    /// `/proc/self/cgroup` prints it ("cpu,cpuacct", "name=systemd"): the base of a relative
    /// `inner`, and the list of hierarchies to join. Empty on a unified host.
    pub v1_base: BTreeMap<String, String>,
    /// What a relative `inner` is below in the cgroup2 hierarchy; `None` on a legacy host.
    pub unified_base: Option<Base>,
}

/// The starting point of a relative cgroup path in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// The hierarchy's mount point (cgroup2 on a hybrid host).
    MountPoint,
    /// A cgroup as `/proc/self/cgroup` names it (mountinfo's mount root is removed later).
    Cgroup(String),
}

impl CgroupPath {
    pub fn is_absolute(&self) -> bool {
        self.inner.starts_with('/')
    }
}

/// Computes [`CgroupPath`] from the spec's `linux.cgroupsPath`, the container id and the
/// runtime's own cgroups. Pure.
pub fn resolve(
    cgroups_path: Option<&str>,
    id: &str,
    own: &ProcSelfCgroup,
    mode: CgroupMode,
) -> Result<CgroupPath, CgroupError> {
    let given = cgroups_path.filter(|p| !p.is_empty()).unwrap_or(id);
    let invalid = |reason: &str| CgroupError::InvalidPath {
        path: given.to_string(),
        reason: reason.to_string(),
    };
    if given.contains('\0') {
        return Err(invalid("contains a NUL byte"));
    }
    let inner = clean_path(given);
    if inner == "/" {
        return Err(invalid("it names the root cgroup"));
    }
    if inner.is_empty() {
        return Err(invalid("it names the runtime's own cgroup"));
    }
    let v1_base = match mode {
        CgroupMode::Unified => BTreeMap::new(),
        CgroupMode::Legacy | CgroupMode::Hybrid => own.v1.iter().cloned().collect(),
    };
    let unified_base = match mode {
        CgroupMode::Legacy => None,
        CgroupMode::Hybrid => Some(Base::MountPoint),
        CgroupMode::Unified => {
            let own_path = own.unified.as_deref().ok_or_else(|| CgroupError::Parse {
                what: "/proc/self/cgroup".into(),
                reason: "no 0:: line on a cgroup v2 host".into(),
            })?;
            Some(Base::Cgroup(parent(own_path)))
        }
    };
    Ok(CgroupPath {
        inner,
        v1_base,
        unified_base,
    })
}

/// The container's directory relative to a hierarchy's mount point ("a/b/ctr"): an absolute
/// path is taken from the mount point (as runc does), a relative one from `base`, whose
/// mountinfo root (`mount_root`) is cut off first so nested hierarchies work.
pub fn mount_relative(
    path: &CgroupPath,
    base: &Base,
    mount_root: &str,
    hierarchy: &str,
) -> Result<String, CgroupError> {
    if path.is_absolute() {
        return Ok(path.inner.trim_start_matches('/').to_string());
    }
    let base_rel = match base {
        Base::MountPoint => String::new(),
        Base::Cgroup(cgroup) => {
            let root = mount_root.trim_end_matches('/');
            let rest = if root.is_empty() {
                Some(cgroup.as_str())
            } else if cgroup == root {
                Some("")
            } else {
                cgroup.strip_prefix(root).filter(|r| r.starts_with('/'))
            };
            rest.ok_or_else(|| CgroupError::OutsideMount {
                hierarchy: hierarchy.to_string(),
                cgroup: cgroup.clone(),
                root: mount_root.to_string(),
            })?
            .trim_matches('/')
            .to_string()
        }
    };
    Ok(if base_rel.is_empty() {
        path.inner.clone()
    } else {
        format!("{base_rel}/{}", path.inner)
    })
}

/// Lexical cleaning as runc's `CleanPath`: absolute stays absolute, `..` stops at the start, a
/// relative path stays relative. Returns "" for a relative path that cleans to nothing.
pub fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if path.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

fn parent(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((p, _)) => p.to_string(),
    }
}

/// Where the manager reads and writes: the cgroup root and the two proc files. Tests point all
/// three into a temporary directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupSources {
    /// Where `/sys/fs/cgroup` is; mount points in mountinfo are rebased onto it.
    pub root: PathBuf,
    pub mountinfo: PathBuf,
    pub self_cgroup: PathBuf,
}

impl Default for CgroupSources {
    fn default() -> Self {
        CgroupSources {
            root: PathBuf::from(CGROUP_MOUNT_PREFIX),
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
            self_cgroup: PathBuf::from("/proc/self/cgroup"),
        }
    }
}

impl CgroupSources {
    /// Reads mountinfo and detects the layout.
    pub fn layout(&self) -> Result<Layout, CgroupError> {
        parse_mountinfo(&fsutil::read(&self.mountinfo)?)
    }

    /// Reads the runtime's own cgroups.
    pub fn own(&self) -> Result<ProcSelfCgroup, CgroupError> {
        ProcSelfCgroup::parse(&fsutil::read(&self.self_cgroup)?)
    }

    /// Everything [`super::Manager::new`] needs for one container.
    pub fn config(
        &self,
        cgroups_path: Option<&str>,
        id: &str,
    ) -> Result<CgroupConfig, CgroupError> {
        let layout = self.layout()?;
        let own = self.own()?;
        let path = resolve(cgroups_path, id, &own, layout.mode)?;
        Ok(CgroupConfig {
            root: self.root.clone(),
            layout,
            path,
        })
    }
}

/// Input of [`super::Manager::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupConfig {
    pub root: PathBuf,
    pub layout: Layout,
    pub path: CgroupPath,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hybrid_own() -> ProcSelfCgroup {
        ProcSelfCgroup::parse(
            "9:name=systemd:/user.slice/s.scope\n4:memory:/process_api/817d\n2:cpu,cpuacct:/\n0::/user.slice/s.scope\n",
        )
        .unwrap()
    }

    #[test]
    fn clean_path_matches_runc() {
        assert_eq!(clean_path("/a/../../b/./c/"), "/b/c");
        assert_eq!(clean_path("../../x"), "x");
        assert_eq!(clean_path("a//b/.."), "a");
        assert_eq!(clean_path("."), "");
        assert_eq!(clean_path("/.."), "/");
    }

    fn rel(p: &CgroupPath, key: &str, mount_root: &str) -> String {
        let base = match key {
            "" => p.unified_base.clone().unwrap(),
            k => Base::Cgroup(p.v1_base[k].clone()),
        };
        mount_relative(p, &base, mount_root, key).unwrap()
    }

    #[test]
    fn absent_path_is_the_id_below_own_cgroup_on_v1() {
        let p = resolve(None, "ctr", &hybrid_own(), CgroupMode::Legacy).unwrap();
        assert_eq!(p.inner, "ctr");
        assert_eq!(rel(&p, "memory", "/"), "process_api/817d/ctr");
        assert_eq!(rel(&p, "cpu,cpuacct", "/"), "ctr");
        assert_eq!(rel(&p, "name=systemd", "/"), "user.slice/s.scope/ctr");
        assert_eq!(p.unified_base, None);
        // An empty cgroupsPath is the same as an absent one.
        assert_eq!(
            resolve(Some(""), "ctr", &hybrid_own(), CgroupMode::Legacy).unwrap(),
            p
        );
    }

    #[test]
    fn absolute_path_is_from_every_mount_point() {
        let p = resolve(Some("/a/../b/c"), "ctr", &hybrid_own(), CgroupMode::Hybrid).unwrap();
        assert_eq!(p.inner, "/b/c");
        for key in ["memory", "name=systemd", ""] {
            assert_eq!(rel(&p, key, "/"), "b/c");
            // Even when the hierarchy is mounted from a deeper cgroup (nested runtime).
            assert_eq!(rel(&p, key, "/docker/abc"), "b/c");
        }
    }

    #[test]
    fn relative_path_drops_the_mount_root() {
        let own = ProcSelfCgroup::parse("4:memory:/docker/abc/sub\n0::/\n").unwrap();
        let p = resolve(None, "ctr", &own, CgroupMode::Legacy).unwrap();
        assert_eq!(rel(&p, "memory", "/docker/abc"), "sub/ctr");
        assert_eq!(rel(&p, "memory", "/docker/abc/sub"), "ctr");
        let err = mount_relative(&p, &Base::Cgroup("/other".into()), "/docker/abc", "memory");
        assert!(matches!(err, Err(CgroupError::OutsideMount { .. })));
        let err = mount_relative(&p, &Base::Cgroup("/docker/abcd".into()), "/docker/abc", "m");
        assert!(err.is_err());
    }

    #[test]
    fn hybrid_unified_relative_is_from_the_mount_point() {
        let p = resolve(Some("x/y"), "ctr", &hybrid_own(), CgroupMode::Hybrid).unwrap();
        assert_eq!(rel(&p, "memory", "/"), "process_api/817d/x/y");
        assert_eq!(rel(&p, "", "/"), "x/y");
    }

    #[test]
    fn v2_relative_is_below_the_parent_of_own_cgroup() {
        let own =
            ProcSelfCgroup::parse("0::/user.slice/user-1000.slice/session-1.scope\n").unwrap();
        let p = resolve(None, "ctr", &own, CgroupMode::Unified).unwrap();
        assert!(p.v1_base.is_empty());
        assert_eq!(rel(&p, "", "/"), "user.slice/user-1000.slice/ctr");
        let root = ProcSelfCgroup::parse("0::/\n").unwrap();
        let p = resolve(Some("../../k/ctr"), "ctr", &root, CgroupMode::Unified).unwrap();
        assert_eq!(rel(&p, "", "/"), "k/ctr");
        let p = resolve(Some("/abs"), "ctr", &own, CgroupMode::Unified).unwrap();
        assert_eq!(rel(&p, "", "/"), "abs");
    }

    #[test]
    fn root_own_and_nul_paths_are_refused() {
        let own = hybrid_own();
        for bad in ["/", "/..", ".", "a/..", "a\0b"] {
            let err = resolve(Some(bad), "ctr", &own, CgroupMode::Hybrid).unwrap_err();
            assert!(
                matches!(err, CgroupError::InvalidPath { .. }),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn v2_without_0_line_is_an_error() {
        let own = ProcSelfCgroup::parse("4:memory:/\n").unwrap();
        assert!(resolve(None, "ctr", &own, CgroupMode::Unified).is_err());
    }

    #[test]
    fn parent_of_paths() {
        assert_eq!(parent("/"), "/");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/a/b/"), "/a");
    }
}
