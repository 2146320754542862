//! prepare/enter/finalize for real. Each test forks a child that unshares its mount (and UTS)
//! namespace and makes every mount private before anything else, so no mount reaches the host:
//! they all die with the child's namespace. Skipped unless run as root.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use serde_json::json;

use super::mountinfo::parse_mountinfo;
use super::*;
use crate::sys::idmap_userns::run_in_child;

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: needs root");
    false
}

/// A temporary bundle with a rootfs of empty directories and a static busybox.
struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cella-test-rootfs-")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        for sub in ["bin", "proc", "sys", "dev", "tmp", "etc", "data"] {
            fs::create_dir_all(rootfs.join(sub)).unwrap();
        }
        if Path::new("/bin/busybox").exists() {
            fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        }
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    fn plan(&self, config: serde_json::Value, new_user_ns: bool) -> RootfsPlan {
        let mut base = json!({"ociVersion": "1.2.0", "root": {"path": "rootfs"}});
        for (k, v) in config.as_object().unwrap() {
            base[k] = v.clone();
        }
        let spec: oci_spec::runtime::Spec = serde_json::from_value(base).unwrap();
        let opts = RootfsOptions {
            no_pivot: false,
            new_user_ns,
            new_cgroup_ns: false,
            cgroup: CgroupView::V2 {
                container_dir: None,
            },
            bundle: self.path().to_path_buf(),
            mount_label: None,
        };
        plan(&spec, &self.rootfs(), opts).expect("plan")
    }
}

/// Run `f` in a forked child with private mount and UTS namespaces; its error message comes
/// back through a pipe.
fn contained(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let (read_end, write_end) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    let code = run_in_child(|| {
        let result = unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS)
            .map_err(|e| format!("unshare: {e}"))
            .and_then(|()| {
                let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
                mount(None::<&str>, "/", None::<&str>, private, None::<&str>)
                    .map_err(|e| format!("make / private: {e}"))
            })
            .and_then(|()| f());
        match result {
            Ok(()) => 0,
            Err(msg) => {
                let _ = nix::unistd::write(&write_end, msg.as_bytes());
                1
            }
        }
    })
    .map_err(|e| e.to_string())?;
    // The child had the only other copy of the write end: reading ends at its exit.
    drop(write_end);
    let mut msg = String::new();
    let _ = fs::File::from(read_end).read_to_string(&mut msg);
    match code {
        0 => Ok(()),
        _ if !msg.is_empty() => Err(msg),
        code => Err(format!("child exited with {code}")),
    }
}

fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}

fn mount_points() -> Result<Vec<PathBuf>, String> {
    let text = fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
    Ok(parse_mountinfo(&text)
        .into_iter()
        .map(|m| m.mount_point)
        .collect())
}

fn erofs(result: std::io::Result<()>) -> bool {
    matches!(result, Err(e) if e.raw_os_error() == Some(libc::EROFS))
}

#[test]
fn full_container_rootfs() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let shared = bundle.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::write(shared.join("file"), "hello").unwrap();
    fs::write(bundle.path().join("hostname"), "cella\n").unwrap();
    let plan = bundle.plan(
        json!({
            "root": {"path": "rootfs", "readonly": true},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "nodev", "noexec"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]},
                {"destination": "/data", "source": "shared", "options": ["rbind", "ro", "nosuid"]},
                {"destination": "/etc/hostname", "source": "hostname", "options": ["bind", "rprivate"]},
                {"destination": "/rro", "source": "shared", "options": ["rbind", "rro", "rshared"]}
            ],
            "linux": {
                "sysctl": {"kernel.domainname": "cella-test"},
                "maskedPaths": ["/proc/kcore", "/proc/timer_list", "/sys/firmware", "/does/not/exist"],
                "readonlyPaths": ["/proc/sys", "/proc/missing"]
            }
        }),
        false,
    );
    contained(|| {
        plan.prepare(IdmappedMounts::default())
            .map_err(|e| format!("prepare: {e}"))?;
        plan.enter().map_err(|e| format!("enter: {e}"))?;
        plan.finalize().map_err(|e| format!("finalize: {e}"))?;
        check(
            std::env::current_dir().ok() == Some(PathBuf::from("/")),
            "cwd is /",
        )?;
        check(
            Path::new("/bin/busybox").exists(),
            "busybox visible at /bin/busybox",
        )?;
        let points = mount_points()?;
        for p in [
            "/",
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/sys",
            "/tmp",
            "/data",
            "/etc/hostname",
            "/proc/timer_list",
            "/sys/firmware",
            "/proc/sys",
        ] {
            check(
                points.contains(&PathBuf::from(p)),
                &format!("{p} in mountinfo: {points:?}"),
            )?;
        }
        check(points.len() < 20, &format!("old root is gone: {points:?}"))?;
        // Devices and links.
        let null = fs::metadata("/dev/null").map_err(|e| e.to_string())?;
        check(
            null.file_type().is_char_device() && null.rdev() == nix::sys::stat::makedev(1, 3),
            "/dev/null is 1:3",
        )?;
        check(
            null.permissions().mode() & 0o777 == 0o666,
            "/dev/null mode 0666",
        )?;
        fs::write("/dev/null", "x").map_err(|e| format!("write /dev/null: {e}"))?;
        check(
            fs::read_link("/dev/ptmx").ok() == Some(PathBuf::from("pts/ptmx")),
            "/dev/ptmx link",
        )?;
        check(
            fs::read_link("/dev/fd").ok() == Some(PathBuf::from("/proc/self/fd")),
            "/dev/fd link",
        )?;
        check(
            fs::read_link("/dev/stderr").ok() == Some(PathBuf::from("/proc/self/fd/2")),
            "/dev/stderr link",
        )?;
        check(
            fs::metadata("/dev/tty").map(|m| m.rdev()).ok() == Some(nix::sys::stat::makedev(5, 0)),
            "/dev/tty",
        )?;
        // Sysctl written before /proc/sys became read-only.
        let domain =
            fs::read_to_string("/proc/sys/kernel/domainname").map_err(|e| e.to_string())?;
        check(domain.trim() == "cella-test", "sysctl kernel.domainname")?;
        check(
            erofs(fs::write("/proc/sys/kernel/domainname", "x")),
            "/proc/sys read-only",
        )?;
        // Masked paths.
        check(
            fs::read_to_string("/proc/timer_list")
                .map_err(|e| e.to_string())?
                .is_empty(),
            "timer_list masked",
        )?;
        check(
            fs::read_dir("/sys/firmware")
                .map_err(|e| e.to_string())?
                .next()
                .is_none(),
            "/sys/firmware empty",
        )?;
        check(
            erofs(fs::write("/sys/firmware/x", "x")),
            "/sys/firmware read-only",
        )?;
        // Read-only mounts.
        check(erofs(fs::write("/newfile", "x")), "root read-only")?;
        check(
            erofs(fs::write("/tmp/x", "x")),
            "ro tmpfs remounted read-only",
        )?;
        check(fs::write("/dev/shm/x", "x").is_ok(), "/dev/shm writable")?;
        check(
            fs::read_to_string("/data/file").ok().as_deref() == Some("hello"),
            "bind content",
        )?;
        check(erofs(fs::write("/data/file", "x")), "ro bind")?;
        check(
            fs::read_to_string("/etc/hostname").ok().as_deref() == Some("cella\n"),
            "file bind",
        )?;
        let sys = nix::sys::statvfs::statvfs("/sys").map_err(|e| e.to_string())?;
        check(
            sys.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
            "sysfs ro",
        )?;
        let data = nix::sys::statvfs::statvfs("/data").map_err(|e| e.to_string())?;
        check(
            data.flags().contains(nix::sys::statvfs::FsFlags::ST_NOSUID),
            "bind nosuid",
        )?;
        check(erofs(fs::write("/rro/file", "x")), "rro bind")?;
        let text = fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
        let infos = parse_mountinfo(&text);
        let rro = infos.iter().find(|m| m.mount_point == Path::new("/rro"));
        check(
            rro.is_some_and(|m| m.is_shared()),
            "rshared applied to /rro",
        )?;
        let hostname = infos
            .iter()
            .find(|m| m.mount_point == Path::new("/etc/hostname"));
        check(
            hostname.is_some_and(|m| m.optional.is_empty()),
            "rprivate /etc/hostname",
        )?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn hostile_symlinks_stay_inside_the_rootfs() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let rootfs = bundle.rootfs();
    let outside: Vec<tempfile::TempDir> = (0..3)
        .map(|_| {
            tempfile::Builder::new()
                .prefix("cella-test-outside-")
                .tempdir()
                .unwrap()
        })
        .collect();
    let host = |i: usize| outside[i].path().to_path_buf();
    let in_rootfs = |p: &Path| rootfs.join(p.strip_prefix("/").unwrap());
    // /abs -> absolute host path, /escape -> relative path climbing out: both resolve inside
    // the rootfs, where their targets exist. (A symlinked /proc is refused outright.)
    std::os::unix::fs::symlink(host(0), rootfs.join("abs")).unwrap();
    fs::create_dir_all(in_rootfs(&host(0))).unwrap();
    let climb =
        PathBuf::from("../../../../../../../../..").join(host(1).strip_prefix("/").unwrap());
    std::os::unix::fs::symlink(&climb, rootfs.join("escape")).unwrap();
    fs::create_dir_all(in_rootfs(&host(1))).unwrap();
    // /dangling -> a host path with no counterpart in the rootfs: made inside the rootfs.
    std::os::unix::fs::symlink(host(2), rootfs.join("dangling")).unwrap();
    let plan = bundle.plan(
        json!({"mounts": [
            {"destination": "/abs", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/escape/sub", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/dangling/x", "type": "tmpfs", "source": "tmpfs"}
        ]}),
        false,
    );
    let hosts: Vec<PathBuf> = (0..3).map(host).collect();
    contained(|| {
        let result = plan.prepare(IdmappedMounts::default());
        let points = mount_points()?;
        for h in &hosts {
            let on_host = points.iter().any(|p| p.starts_with(h));
            check(
                !on_host,
                &format!("nothing mounted under {h:?}: {points:?}"),
            )?;
        }
        let proc_at = in_rootfs(&hosts[0]);
        check(
            points.contains(&proc_at),
            &format!("tmpfs inside the rootfs at {proc_at:?}"),
        )?;
        check(
            points.contains(&in_rootfs(&hosts[1]).join("sub")),
            "tmpfs inside the rootfs",
        )?;
        // Like runc: the dangling link's target is made inside the rootfs, never on the host.
        check(result.is_ok(), &format!("prepare succeeds: {result:?}"))?;
        check(
            points.contains(&in_rootfs(&hosts[2]).join("x")),
            "tmpfs at the dangling link's target, inside the rootfs",
        )
    })
    .unwrap();
    for dir in &outside {
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert!(leftovers.is_empty(), "host dir untouched: {leftovers:?}");
    }
}

#[test]
fn hostile_dev_null_is_refused() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let outside = tempfile::Builder::new()
        .prefix("cella-test-outside-")
        .tempdir()
        .unwrap();
    fs::write(outside.path().join("secret"), "host").unwrap();
    // An image whose /dev/null points at a host file, with /dev not a tmpfs: device creation
    // must refuse it instead of reusing it.
    std::os::unix::fs::symlink(
        outside.path().join("secret"),
        bundle.rootfs().join("dev/null"),
    )
    .unwrap();
    let plan = bundle.plan(json!({}), false);
    contained(|| match plan.prepare(IdmappedMounts::default()) {
        Err(RootfsError::DeviceMismatch { path }) if path == Path::new("/dev/null") => Ok(()),
        other => Err(format!("expected a device mismatch, got {other:?}")),
    })
    .unwrap();
    assert_eq!(
        fs::read_to_string(outside.path().join("secret")).unwrap(),
        "host"
    );
}

#[test]
fn no_pivot_bind_devices_and_copyup() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let rootfs = bundle.rootfs();
    fs::create_dir_all(rootfs.join("etc/sub")).unwrap();
    fs::write(rootfs.join("etc/conf"), "kept").unwrap();
    fs::set_permissions(rootfs.join("etc/conf"), fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("conf", rootfs.join("etc/link")).unwrap();
    let mut plan = bundle.plan(
        json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]},
            {"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}
        ]}),
        true,
    );
    plan.no_pivot = true;
    contained(|| {
        plan.prepare(IdmappedMounts::default())
            .map_err(|e| format!("prepare: {e}"))?;
        plan.enter().map_err(|e| format!("enter: {e}"))?;
        plan.finalize().map_err(|e| format!("finalize: {e}"))?;
        check(
            Path::new("/bin/busybox").exists(),
            "chrooted into the rootfs",
        )?;
        let points = mount_points()?;
        check(
            points.contains(&PathBuf::from("/dev/null")),
            &format!("/dev/null bind-mounted from the host: {points:?}"),
        )?;
        let null = fs::metadata("/dev/null").map_err(|e| e.to_string())?;
        check(
            null.file_type().is_char_device(),
            "bound /dev/null is the device",
        )?;
        check(
            fs::read_to_string("/etc/conf").ok().as_deref() == Some("kept"),
            "tmpcopyup copied the file",
        )?;
        let mode = fs::metadata("/etc/conf")
            .map_err(|e| e.to_string())?
            .permissions()
            .mode();
        check(mode & 0o777 == 0o640, "tmpcopyup kept the mode")?;
        check(
            fs::read_link("/etc/link").ok() == Some(PathBuf::from("conf")),
            "tmpcopyup copied the link",
        )?;
        check(
            Path::new("/etc/sub").is_dir(),
            "tmpcopyup copied the directory",
        )?;
        check(points.contains(&PathBuf::from("/etc")), "tmpfs on /etc")?;
        Ok(())
    })
    .unwrap();
    // The copy went into the tmpfs, the original is unchanged.
    assert_eq!(fs::read_to_string(rootfs.join("etc/conf")).unwrap(), "kept");
}

#[test]
fn idmapped_bind_mount_with_own_mappings() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let source = bundle.path().join("owned");
    fs::create_dir(&source).unwrap();
    fs::write(source.join("file"), "x").unwrap();
    nix::unistd::chown(&source.join("file"), Some(0.into()), Some(0.into())).unwrap();
    let plan = bundle.plan(
        json!({"mounts": [{"destination": "/data", "source": "owned", "options": ["bind", "idmap"],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 1}]}]}),
        false,
    );
    let idmapped = plan
        .open_idmapped_mounts(None)
        .expect("open idmapped mounts");
    contained(move || {
        plan.prepare(idmapped)
            .map_err(|e| format!("prepare: {e}"))?;
        plan.enter().map_err(|e| format!("enter: {e}"))?;
        let st = fs::metadata("/data/file").map_err(|e| e.to_string())?;
        check(
            (st.uid(), st.gid()) == (1000, 2000),
            &format!("idmapped owner, got {}:{}", st.uid(), st.gid()),
        )
    })
    .unwrap();
    let st = fs::metadata(source.join("file")).unwrap();
    assert_eq!(
        (st.uid(), st.gid()),
        (0, 0),
        "the source itself is unchanged"
    );
}

#[test]
fn missing_idmapped_source_is_an_error() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    fs::create_dir(bundle.path().join("owned")).unwrap();
    let plan = bundle.plan(
        json!({"mounts": [{"destination": "/data", "source": "owned", "options": ["bind"],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}]}),
        false,
    );
    let err = contained(|| match plan.prepare(IdmappedMounts::default()) {
        Err(RootfsError::MissingIdmapSource { .. }) => Ok(()),
        other => Err(format!("{other:?}")),
    });
    err.unwrap();
}

fn chown_tree(path: &Path, id: u32) {
    let (uid, gid) = (
        Some(nix::unistd::Uid::from_raw(id)),
        Some(nix::unistd::Gid::from_raw(id)),
    );
    nix::unistd::fchownat(
        None,
        path,
        uid,
        gid,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    if fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), id);
        }
    }
}

/// A container in a user namespace (0 -> 100000) with its own mount, PID, IPC and UTS
/// namespaces. `locked` gets a nosuid,nodev tmpfs before the user namespace is entered, so those
/// flags are locked in the container's mount namespace.
fn contained_in_userns(
    userns: &std::os::fd::OwnedFd,
    locked: &Path,
    f: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    contained(|| {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        mount(Some("tmpfs"), locked, Some("tmpfs"), flags, None::<&str>)
            .map_err(|e| format!("tmpfs on {locked:?}: {e}"))?;
        nix::sched::setns(userns, CloneFlags::CLONE_NEWUSER).map_err(|e| format!("setns: {e}"))?;
        let root = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresuid(root, root, root).map_err(|e| format!("setresuid: {e}"))?;
        let group = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(group, group, group).map_err(|e| format!("setresgid: {e}"))?;
        let namespaces = CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWUTS;
        unshare(namespaces).map_err(|e| format!("unshare: {e}"))?;
        // The container's init: the first process of the new PID namespace.
        contained_inner(f)
    })
}

fn contained_inner(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let (read_end, write_end) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    let code = run_in_child(|| match f() {
        Ok(()) => 0,
        Err(msg) => {
            let _ = nix::unistd::write(&write_end, msg.as_bytes());
            1
        }
    })
    .map_err(|e| e.to_string())?;
    drop(write_end);
    let mut msg = String::new();
    let _ = fs::File::from(read_end).read_to_string(&mut msg);
    match code {
        0 => Ok(()),
        _ if !msg.is_empty() => Err(msg),
        code => Err(format!("init exited with {code}")),
    }
}

#[test]
fn user_namespace_container() {
    if !is_root() {
        return;
    }
    let bundle = Bundle::new();
    let shared = bundle.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::write(shared.join("file"), "host root's").unwrap();
    let locked = bundle.path().join("locked");
    fs::create_dir(&locked).unwrap();
    chown_tree(&bundle.rootfs(), 100000);
    let plan = bundle.plan(
        json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "ptmxmode=0666"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "nodev", "noexec"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/data", "source": "shared", "options": ["bind", "idmap"]},
            {"destination": "/locked", "source": "locked", "options": ["bind", "ro"]}
        ],
        "linux": {"maskedPaths": ["/proc/timer_list"], "readonlyPaths": ["/proc/sys"]}}),
        true,
    );
    let map = "0 100000 65536\n";
    let userns = crate::sys::idmap_userns::userns_with_mappings(map, map).unwrap();
    let idmapped = plan
        .open_idmapped_mounts(Some(std::os::fd::AsFd::as_fd(&userns)))
        .unwrap();
    assert!(!idmapped.is_empty());
    contained_in_userns(&userns, &locked, move || {
        plan.prepare(idmapped)
            .map_err(|e| format!("prepare: {e}"))?;
        plan.enter().map_err(|e| format!("enter: {e}"))?;
        plan.finalize().map_err(|e| format!("finalize: {e}"))?;
        let points = mount_points()?;
        check(
            points.contains(&PathBuf::from("/dev/null")),
            &format!("host /dev/null bound: {points:?}"),
        )?;
        let null = fs::metadata("/dev/null").map_err(|e| e.to_string())?;
        check(null.file_type().is_char_device(), "/dev/null is a device")?;
        let st = fs::metadata("/data/file").map_err(|e| e.to_string())?;
        check(
            st.uid() == 0 && st.gid() == 0,
            &format!("idmapped to container root, got {}", st.uid()),
        )?;
        let locked = nix::sys::statvfs::statvfs("/locked").map_err(|e| e.to_string())?;
        use nix::sys::statvfs::FsFlags;
        let want = FsFlags::ST_RDONLY | FsFlags::ST_NOSUID | FsFlags::ST_NODEV;
        check(
            locked.flags().contains(want),
            &format!("ro added, locked flags kept: {:?}", locked.flags()),
        )?;
        check(
            Path::new("/sys/kernel").is_dir(),
            "sysfs (or its host bind) at /sys",
        )?;
        check(erofs(fs::write("/sys/kernel/x", "x")), "/sys read-only")?;
        check(
            fs::read_to_string("/proc/timer_list")
                .map_err(|e| e.to_string())?
                .is_empty(),
            "masked",
        )?;
        check(std::process::id() == 1, "init is PID 1")?;
        Ok(())
    })
    .unwrap();
}

/// This process's cgroup path in the v1 hierarchy named `name` ("memory", "name=systemd").
fn own_v1_cgroup(name: &str) -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        (names == name).then(|| PathBuf::from(path.trim_start_matches('/')))
    })
}

fn v1_plan(bundle: &Bundle, hierarchies: Vec<(String, PathBuf)>, cgroupns: bool) -> RootfsPlan {
    let spec: oci_spec::runtime::Spec = serde_json::from_value(json!({
        "ociVersion": "1.2.0", "root": {"path": "rootfs"},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                    "options": ["nosuid", "noexec", "nodev", "ro"]}]
    }))
    .unwrap();
    let opts = RootfsOptions {
        no_pivot: false,
        new_user_ns: false,
        new_cgroup_ns: cgroupns,
        cgroup: CgroupView::V1 { hierarchies },
        bundle: bundle.path().to_path_buf(),
        mount_label: None,
    };
    plan(&spec, &bundle.rootfs(), opts).unwrap()
}

#[test]
fn cgroup_v1_mounts() {
    let hybrid =
        Path::new("/sys/fs/cgroup/memory").is_dir() && Path::new("/sys/fs/cgroup/systemd").is_dir();
    if !is_root() || !hybrid {
        return;
    }
    let (Some(memory), Some(systemd)) = (own_v1_cgroup("memory"), own_v1_cgroup("name=systemd"))
    else {
        return;
    };
    let bundle = Bundle::new();
    // Without a cgroup namespace: read-only binds of our own cgroup directories. The mount name
    // only names the directory here, which lets us check the co-mount links.
    let plan = v1_plan(
        &bundle,
        vec![
            (
                "cpu,cpuacct".into(),
                Path::new("/sys/fs/cgroup/memory").join(&memory),
            ),
            (
                "name=systemd".into(),
                Path::new("/sys/fs/cgroup/systemd").join(&systemd),
            ),
        ],
        false,
    );
    contained(|| {
        plan.prepare(IdmappedMounts::default())
            .map_err(|e| format!("prepare: {e}"))?;
        plan.enter().map_err(|e| format!("enter: {e}"))?;
        let base = Path::new("/sys/fs/cgroup");
        check(
            base.join("cpu,cpuacct/cgroup.procs").exists(),
            "hierarchy dir bound",
        )?;
        check(
            base.join("systemd/cgroup.procs").exists(),
            "name=systemd as systemd",
        )?;
        for link in ["cpu", "cpuacct"] {
            let target = fs::read_link(base.join(link)).map_err(|e| format!("{link}: {e}"))?;
            check(target == Path::new("cpu,cpuacct"), "co-mount link")?;
        }
        check(erofs(fs::create_dir(base.join("x"))), "tmpfs read-only")?;
        check(
            erofs(fs::create_dir(base.join("systemd/cella-test-x"))),
            "hierarchy read-only",
        )?;
        Ok(())
    })
    .unwrap();
    // With a cgroup namespace: fresh cgroup mounts, rooted at our cgroup.
    let plan = v1_plan(
        &bundle,
        vec![
            ("memory".into(), PathBuf::new()),
            ("name=systemd".into(), PathBuf::new()),
        ],
        true,
    );
    contained(|| {
        unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|e| format!("unshare cgroupns: {e}"))?;
        plan.prepare(IdmappedMounts::default())
            .map_err(|e| format!("prepare: {e}"))?;
        plan.enter().map_err(|e| format!("enter: {e}"))?;
        let text = fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
        let mounts = parse_mountinfo(&text);
        let memory = mounts
            .iter()
            .find(|m| m.mount_point == Path::new("/sys/fs/cgroup/memory"));
        check(
            memory.map(|m| m.fstype.as_str()) == Some("cgroup"),
            &format!("memory cgroup mount: {mounts:?}"),
        )?;
        check(
            Path::new("/sys/fs/cgroup/systemd/cgroup.procs").exists(),
            "systemd hierarchy",
        )?;
        check(
            erofs(fs::create_dir("/sys/fs/cgroup/memory/cella-test-x")),
            "read-only",
        )?;
        Ok(())
    })
    .unwrap();
}
