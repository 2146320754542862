//! Which namespaces the container gets, and in which order they are made or joined.
//!
//! The order matters because of ownership: a namespace belongs to the user namespace its creator
//! was in, and `setns` into a namespace needs CAP_SYS_ADMIN in the user namespace owning it.
//! So a new user namespace must come before the namespaces it should own, and joins of
//! host-owned namespaces must come before we enter a new user namespace (after that we hold no
//! capability over the host's). New pid and time namespaces only apply to children, so they
//! need a fork after `unshare`. [`plan`] turns those rules into one of two shapes:
//!
//! - one clone: every new namespace is a clone flag; joins (if any) happen in the child. Used
//!   when no user namespace is joined or made together with joins, no pid namespace is joined
//!   and no time namespace is made. The common cases (everything new; a network namespace
//!   joined by path as CNI does) take this path.
//! - two stages: a plain clone; the child joins by path, unshares the new ones and forks the
//!   container process (CLONE_PARENT, so the runtime stays its parent) after mapping ids.

use std::fmt::Write as _;
use std::path::PathBuf;

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespace, LinuxNamespaceType, LinuxTimeOffset};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NamespaceError {
    #[error("namespace {0} is listed twice")]
    Duplicate(&'static str),
    #[error("namespace {0} path {1:?} must be absolute")]
    RelativePath(&'static str, PathBuf),
    #[error("timeOffsets are set but no new time namespace is requested")]
    OffsetsWithoutTimeNs,
    #[error("unknown time offset clock {0:?} (want monotonic or boottime)")]
    UnknownClock(String),
}

/// A namespace to enter by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    pub kind: CloneFlags,
    pub name: &'static str,
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacePlan {
    /// CLONE_NEW* flags passed to clone3.
    pub clone_flags: CloneFlags,
    /// Entered in the child, in this order (user first when joined).
    pub joins: Vec<Join>,
    /// Unshared by the child after the joins.
    pub unshare_flags: CloneFlags,
    /// The child forks the container process after unsharing (new pid/time namespace, or a
    /// joined pid namespace, only apply to children).
    pub fork: bool,
    /// A new user namespace: the runtime writes uid_map/gid_map.
    pub new_user: bool,
    /// Unshare CLONE_NEWCGROUP only once the runtime has moved us into the container's cgroup,
    /// so that the namespace is rooted there (needed when we cannot clone into the cgroup).
    pub late_cgroup: bool,
    /// Content for /proc/self/timens_offsets, written between unshare and fork.
    pub time_offsets: Option<String>,
}

impl Default for NamespacePlan {
    fn default() -> Self {
        NamespacePlan {
            clone_flags: CloneFlags::empty(),
            joins: Vec::new(),
            unshare_flags: CloneFlags::empty(),
            fork: false,
            new_user: false,
            late_cgroup: false,
            time_offsets: None,
        }
    }
}

impl NamespacePlan {
    pub fn has_new(&self, kind: CloneFlags) -> bool {
        self.clone_flags.contains(kind) || self.unshare_flags.contains(kind)
    }
}

pub fn kind_flag(t: LinuxNamespaceType) -> (CloneFlags, &'static str) {
    match t {
        LinuxNamespaceType::Mount => (CloneFlags::CLONE_NEWNS, "mount"),
        LinuxNamespaceType::Cgroup => (CloneFlags::CLONE_NEWCGROUP, "cgroup"),
        LinuxNamespaceType::Uts => (CloneFlags::CLONE_NEWUTS, "uts"),
        LinuxNamespaceType::Ipc => (CloneFlags::CLONE_NEWIPC, "ipc"),
        LinuxNamespaceType::User => (CloneFlags::CLONE_NEWUSER, "user"),
        LinuxNamespaceType::Pid => (CloneFlags::CLONE_NEWPID, "pid"),
        LinuxNamespaceType::Network => (CloneFlags::CLONE_NEWNET, "network"),
        LinuxNamespaceType::Time => (CLONE_NEWTIME, "time"),
    }
}

/// CLONE_NEWTIME: the same bit as CSIGNAL's lowest, so only unshare(2)/clone3 accept it.
pub const CLONE_NEWTIME: CloneFlags = CloneFlags::from_bits_retain(0x80);

/// Joins go user first (so later joins happen with its capabilities) and mount last (so the
/// other namespace paths are still resolved in the runtime's mount namespace).
fn join_rank(kind: CloneFlags) -> u8 {
    if kind == CloneFlags::CLONE_NEWUSER {
        0
    } else if kind == CloneFlags::CLONE_NEWNS {
        2
    } else {
        1
    }
}

/// Builds the namespace plan. `clone_into_cgroup` tells whether the runtime can clone straight
/// into the container's cgroup (cgroup v2), which decides when a new cgroup namespace is made.
pub fn plan(
    namespaces: &[LinuxNamespace],
    offsets: Option<&std::collections::HashMap<String, LinuxTimeOffset>>,
    clone_into_cgroup: bool,
) -> Result<NamespacePlan, NamespaceError> {
    let mut new = CloneFlags::empty();
    let mut joins = Vec::new();
    let mut seen = CloneFlags::empty();
    for ns in namespaces {
        let (kind, name) = kind_flag(ns.typ());
        if seen.contains(kind) {
            return Err(NamespaceError::Duplicate(name));
        }
        seen |= kind;
        match ns.path() {
            Some(p) if !p.as_os_str().is_empty() => {
                if !p.is_absolute() {
                    return Err(NamespaceError::RelativePath(name, p.clone()));
                }
                joins.push(Join {
                    kind,
                    name,
                    path: p.clone(),
                });
            }
            _ => new |= kind,
        }
    }
    joins.sort_by_key(|j| join_rank(j.kind));

    let time_offsets = match offsets {
        Some(o) if !o.is_empty() => {
            if !new.contains(CLONE_NEWTIME) {
                return Err(NamespaceError::OffsetsWithoutTimeNs);
            }
            Some(format_time_offsets(o)?)
        }
        _ => None,
    };

    let joined = |k| joins.iter().any(|j: &Join| j.kind == k);
    let new_user = new.contains(CloneFlags::CLONE_NEWUSER);
    let one_clone = !new.contains(CLONE_NEWTIME)
        && !joined(CloneFlags::CLONE_NEWPID)
        && !joined(CloneFlags::CLONE_NEWUSER)
        && (!new_user || joins.is_empty());

    let mut p = NamespacePlan {
        joins,
        new_user,
        time_offsets,
        ..NamespacePlan::default()
    };
    if one_clone {
        p.clone_flags = new;
        if new.contains(CloneFlags::CLONE_NEWCGROUP) && !clone_into_cgroup {
            p.clone_flags.remove(CloneFlags::CLONE_NEWCGROUP);
            p.late_cgroup = true;
        }
    } else {
        // Everything is unshared after the runtime has moved the child into its cgroup, so
        // the cgroup namespace can go with the rest.
        p.unshare_flags = new;
        p.fork = true;
    }
    Ok(p)
}

/// Joining a running container (`exec`): every namespace its config lists is entered through
/// the container process's /proc/PID/ns links (user first), then a fork puts the process into
/// the pid and time namespaces, which only apply to children.
pub fn exec_plan(namespaces: &[LinuxNamespace], init_pid: i32) -> NamespacePlan {
    let mut joins: Vec<Join> = namespaces
        .iter()
        .map(|ns| {
            let (kind, name) = kind_flag(ns.typ());
            let file = match ns.typ() {
                LinuxNamespaceType::Mount => "mnt",
                LinuxNamespaceType::Network => "net",
                _ => name,
            };
            Join {
                kind,
                name,
                path: PathBuf::from(format!("/proc/{init_pid}/ns/{file}")),
            }
        })
        .collect();
    joins.sort_by_key(|j| join_rank(j.kind));
    NamespacePlan {
        joins,
        fork: true,
        ..NamespacePlan::default()
    }
}

fn format_time_offsets(
    offsets: &std::collections::HashMap<String, LinuxTimeOffset>,
) -> Result<String, NamespaceError> {
    let mut clocks: Vec<_> = offsets.iter().collect();
    clocks.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    for (clock, off) in clocks {
        if clock != "monotonic" && clock != "boottime" {
            return Err(NamespaceError::UnknownClock(clock.clone()));
        }
        let _ = writeln!(
            out,
            "{clock} {} {}",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        );
    }
    Ok(out)
}

/// The text written to /proc/PID/{uid,gid}_map.
pub fn id_map(mappings: &[LinuxIdMapping]) -> String {
    mappings.iter().fold(String::new(), |mut s, m| {
        let _ = writeln!(s, "{} {} {}", m.container_id(), m.host_id(), m.size());
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxNamespaceBuilder;

    fn ns(t: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
        let mut b = LinuxNamespaceBuilder::default().typ(t);
        if let Some(p) = path {
            b = b.path(p);
        }
        b.build().unwrap()
    }

    use LinuxNamespaceType::*;

    #[test]
    fn all_new_is_one_clone() {
        let all = [Pid, Network, Ipc, Uts, Mount, Cgroup].map(|t| ns(t, None));
        let p = plan(&all, None, true).unwrap();
        assert!(!p.fork && p.joins.is_empty() && p.unshare_flags.is_empty());
        assert!(p
            .clone_flags
            .contains(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWCGROUP));
        assert!(!p.late_cgroup);
    }

    #[test]
    fn cgroup_ns_waits_for_the_cgroup_when_we_cannot_clone_into_it() {
        let p = plan(&[ns(Cgroup, None), ns(Mount, None)], None, false).unwrap();
        assert!(!p.clone_flags.contains(CloneFlags::CLONE_NEWCGROUP));
        assert!(p.late_cgroup);
    }

    #[test]
    fn joined_network_stays_one_clone() {
        let p = plan(
            &[ns(Pid, None), ns(Network, Some("/var/run/netns/x"))],
            None,
            true,
        )
        .unwrap();
        assert!(!p.fork);
        assert_eq!(p.clone_flags, CloneFlags::CLONE_NEWPID);
        assert_eq!(p.joins.len(), 1);
    }

    #[test]
    fn new_user_with_all_new_is_one_clone() {
        let p = plan(
            &[ns(User, None), ns(Pid, None), ns(Mount, None)],
            None,
            true,
        )
        .unwrap();
        assert!(!p.fork && p.new_user);
        assert!(p.clone_flags.contains(CloneFlags::CLONE_NEWUSER));
    }

    #[test]
    fn new_user_with_a_join_joins_first_then_unshares_and_forks() {
        let p = plan(
            &[ns(User, None), ns(Pid, None), ns(Network, Some("/n"))],
            None,
            true,
        )
        .unwrap();
        assert!(p.fork && p.new_user);
        assert!(p.clone_flags.is_empty());
        assert!(p
            .unshare_flags
            .contains(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWPID));
    }

    #[test]
    fn joined_pid_needs_a_fork() {
        let p = plan(
            &[ns(Pid, Some("/proc/1/ns/pid")), ns(Mount, None)],
            None,
            true,
        )
        .unwrap();
        assert!(p.fork);
        assert_eq!(p.unshare_flags, CloneFlags::CLONE_NEWNS);
    }

    #[test]
    fn joins_are_ordered_user_first_mount_last() {
        let p = plan(
            &[
                ns(Mount, Some("/m")),
                ns(Network, Some("/n")),
                ns(User, Some("/u")),
            ],
            None,
            true,
        )
        .unwrap();
        let names: Vec<_> = p.joins.iter().map(|j| j.name).collect();
        assert_eq!(names, ["user", "network", "mount"]);
    }

    #[test]
    fn time_namespace_forks_and_formats_offsets() {
        let mut o = std::collections::HashMap::new();
        o.insert(
            "monotonic".to_string(),
            oci_spec::runtime::LinuxTimeOffsetBuilder::default()
                .secs(10i64)
                .nanosecs(5u32)
                .build()
                .unwrap(),
        );
        let p = plan(&[ns(Time, None), ns(Pid, None)], Some(&o), true).unwrap();
        assert!(p.fork);
        assert_eq!(p.time_offsets.as_deref(), Some("monotonic 10 5\n"));
        assert_eq!(
            plan(&[ns(Pid, None)], Some(&o), true),
            Err(NamespaceError::OffsetsWithoutTimeNs)
        );
    }

    #[test]
    fn duplicates_and_relative_paths_are_refused() {
        assert_eq!(
            plan(&[ns(Pid, None), ns(Pid, None)], None, true),
            Err(NamespaceError::Duplicate("pid"))
        );
        assert!(matches!(
            plan(&[ns(Network, Some("rel"))], None, true),
            Err(NamespaceError::RelativePath(..))
        ));
    }

    #[test]
    fn exec_joins_what_the_container_has_through_its_init() {
        let p = exec_plan(
            &[
                ns(Pid, None),
                ns(Mount, None),
                ns(Network, Some("/n")),
                ns(User, None),
            ],
            42,
        );
        let paths: Vec<_> = p
            .joins
            .iter()
            .map(|j| j.path.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            paths,
            [
                "/proc/42/ns/user",
                "/proc/42/ns/pid",
                "/proc/42/ns/net",
                "/proc/42/ns/mnt"
            ]
        );
        assert!(p.fork && p.clone_flags.is_empty() && p.unshare_flags.is_empty());
    }

    #[test]
    fn id_map_text() {
        let m = oci_spec::runtime::LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(100_000u32)
            .size(65_536u32)
            .build()
            .unwrap();
        assert_eq!(id_map(&[m]), "0 100000 65536\n");
    }
}
