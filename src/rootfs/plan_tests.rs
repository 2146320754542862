use super::*;
use serde_json::json;

fn spec(extra: serde_json::Value) -> Spec {
    let mut base = json!({"ociVersion": "1.2.0", "root": {"path": "rootfs"}});
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    serde_json::from_value(base).expect("valid spec")
}

fn opts() -> RootfsOptions {
    RootfsOptions {
        no_pivot: false,
        new_user_ns: false,
        new_cgroup_ns: false,
        cgroup: CgroupView::V2 {
            container_dir: Some(PathBuf::from("/sys/fs/cgroup/ctr")),
        },
        bundle: PathBuf::from("/bundle"),
        mount_label: None,
    }
}

fn plan_of(extra: serde_json::Value) -> RootfsPlan {
    plan(&spec(extra), Path::new("/bundle/rootfs"), opts()).expect("plan")
}

fn plan_err(extra: serde_json::Value, o: RootfsOptions) -> String {
    plan(&spec(extra), Path::new("/bundle/rootfs"), o)
        .expect_err("must fail")
        .to_string()
}

fn fs(entry: &MountEntry) -> &FsMount {
    match &entry.kind {
        MountKind::Filesystem(fs) => fs,
        other => panic!("not a filesystem mount: {other:?}"),
    }
}

fn bind(entry: &MountEntry) -> &BindMount {
    match &entry.kind {
        MountKind::Bind(b) => b,
        other => panic!("not a bind mount: {other:?}"),
    }
}

#[test]
fn runc_spec_default_mounts_are_classified() {
    let p = plan_of(json!({"mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
    ]}));
    let dests: Vec<&Path> = p.mounts.iter().map(|m| m.destination.as_path()).collect();
    assert_eq!(
        dests,
        ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup"].map(Path::new)
    );
    assert_eq!(fs(&p.mounts[0]).fstype.as_deref(), Some("proc"));
    assert_eq!(fs(&p.mounts[0]).flags, MsFlags::empty());
    let dev = fs(&p.mounts[1]);
    assert_eq!(dev.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
    assert_eq!(dev.data, "mode=755,size=65536k");
    assert_eq!(
        fs(&p.mounts[2]).data,
        "newinstance,ptmxmode=0666,mode=0620,gid=5"
    );
    let ro = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV | MsFlags::MS_RDONLY;
    assert_eq!(
        fs(&p.mounts[3]).flags,
        ro,
        "sysfs stays read-only at mount time"
    );
    match &p.mounts[4].kind {
        MountKind::Cgroup(CgroupMount::V2 {
            flags,
            data,
            fallback_source,
        }) => {
            assert_eq!(*flags, ro | MsFlags::MS_RELATIME);
            assert!(data.is_empty());
            assert_eq!(
                fallback_source,
                Path::new("/sys/fs/cgroup"),
                "no cgroupns: whole tree"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(p.readonly_remounts.is_empty());
    assert_eq!(p.root_propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
    assert_eq!(p.final_root_propagation, None);
    assert!(!p.no_pivot && !p.readonly_root);
}

#[test]
fn bind_mounts_resolve_sources_and_keep_flags() {
    let p = plan_of(json!({"mounts": [
        {"destination": "/data", "source": "data", "options": ["rbind", "ro", "rprivate"]},
        {"destination": "etc/hosts", "type": "bind", "source": "/etc/hosts"},
        {"destination": "/rro", "type": "none", "source": "/srv", "options": ["rbind", "rro", "rshared"]}
    ]}));
    let data = bind(&p.mounts[0]);
    assert_eq!(
        data.source,
        Path::new("/bundle/data"),
        "relative to the bundle"
    );
    assert!(data.recursive);
    assert_eq!(
        data.flags,
        MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
    );
    assert_eq!(
        p.mounts[0].propagation,
        vec![PropagationChange {
            kind: super::super::options::PropagationKind::Private,
            recursive: true
        }]
    );
    let hosts = bind(&p.mounts[1]);
    assert_eq!(
        p.mounts[1].destination,
        Path::new("/etc/hosts"),
        "relative destination"
    );
    assert_eq!(hosts.source, Path::new("/etc/hosts"));
    assert!(!hosts.recursive, "type bind alone is a plain bind");
    assert_eq!(
        p.mounts[2].recursive.set_clear(),
        (libc::MOUNT_ATTR_RDONLY, 0)
    );
    assert!(bind(&p.mounts[2]).idmap.is_none());

    let err = plan_err(
        json!({"mounts": [{"destination": "/x", "options": ["bind"]}]}),
        opts(),
    );
    assert!(err.contains("bind mount without a source"), "{err}");
}

#[test]
fn default_devices_unless_spec_lists_the_path() {
    let p = plan_of(json!({"linux": {"devices": [
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o100600, "uid": 5},
        {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "gid": 6},
        {"path": "/dev/fifo", "type": "p"},
        {"path": "/dev/../dev/ttyS0", "type": "u", "major": 4, "minor": 64}
    ]}}));
    let dev = p.dev.expect("dev setup");
    assert!(!dev.bind_from_host);
    let paths: Vec<&Path> = dev.devices.iter().map(|d| d.path.as_path()).collect();
    assert_eq!(
        paths,
        [
            "/dev/random",
            "/dev/full",
            "/dev/tty",
            "/dev/zero",
            "/dev/urandom",
            "/dev/null",
            "/dev/sda",
            "/dev/fifo",
            "/dev/ttyS0"
        ]
        .map(Path::new)
    );
    let null = &dev.devices[5];
    assert_eq!(
        (null.kind, null.major, null.minor, null.mode, null.uid, null.gid),
        (DeviceKind::Char, 1, 3, 0o600, 5, 0)
    );
    let sda = &dev.devices[6];
    assert_eq!(
        (sda.kind, sda.major, sda.mode, sda.gid),
        (DeviceKind::Block, 8, 0o666, 6)
    );
    assert_eq!(dev.devices[7].kind, DeviceKind::Fifo);
    assert_eq!(
        dev.devices[8].kind,
        DeviceKind::Char,
        "u is an unbuffered char device"
    );
    let tty = &dev.devices[2];
    assert_eq!((tty.major, tty.minor, tty.mode), (5, 0, 0o666));

    let mut o = opts();
    o.new_user_ns = true;
    let p = plan(&spec(json!({})), Path::new("/r"), o).unwrap();
    let dev = p.dev.unwrap();
    assert!(dev.bind_from_host);
    assert_eq!(dev.devices.len(), DEFAULT_DEVICES.len());

    for (device, reason) in [
        (
            json!({"path": "/dev/x", "type": "a"}),
            "type must be one of",
        ),
        (
            json!({"path": "/dev/x", "type": "c", "major": -1, "minor": 0}),
            "major must not be negative",
        ),
        (
            json!({"path": "dev/x", "type": "c", "major": 1, "minor": 0}),
            "must be absolute",
        ),
        (
            json!({"path": "/dev", "type": "c", "major": 1, "minor": 0}),
            "must name a file",
        ),
    ] {
        let err = plan_err(json!({"linux": {"devices": [device]}}), opts());
        assert!(err.contains(reason), "{err}");
    }
}

#[test]
fn dev_bind_mount_means_no_device_setup() {
    let p = plan_of(
        json!({"mounts": [{"destination": "/dev", "source": "/dev", "options": ["rbind"]}]}),
    );
    assert!(p.dev.is_none());
    let p =
        plan_of(json!({"mounts": [{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}]}));
    assert!(p.dev.is_some());
}

#[test]
fn masked_and_readonly_paths_keep_order() {
    let p = plan_of(json!({"linux": {
        "maskedPaths": ["/proc/kcore", "/proc/acpi", "/sys/firmware", "/proc/kcore"],
        "readonlyPaths": ["/proc/sys", "/proc/bus/../fs"]
    }}));
    assert_eq!(
        p.masked_paths,
        ["/proc/kcore", "/proc/acpi", "/sys/firmware", "/proc/kcore"].map(PathBuf::from)
    );
    assert_eq!(
        p.readonly_paths,
        ["/proc/sys", "/proc/fs"].map(PathBuf::from)
    );
    let err = plan_err(json!({"linux": {"maskedPaths": ["proc/kcore"]}}), opts());
    assert!(
        err.contains("maskedPaths") && err.contains("absolute"),
        "{err}"
    );
}

#[test]
fn sysctl_keys_become_sorted_proc_sys_paths() {
    let p = plan_of(json!({"linux": {"sysctl": {
        "net.ipv4.ip_forward": "1",
        "kernel.shm_rmid_forced": "1",
        "net/ipv4/conf/eth0.100/rp_filter": "2"
    }}}));
    let got: Vec<(&str, &Path, &str)> = p
        .sysctl
        .iter()
        .map(|s| (s.key.as_str(), s.path.as_path(), s.value.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "kernel.shm_rmid_forced",
                Path::new("kernel/shm_rmid_forced"),
                "1"
            ),
            ("net.ipv4.ip_forward", Path::new("net/ipv4/ip_forward"), "1"),
            (
                "net/ipv4/conf/eth0.100/rp_filter",
                Path::new("net/ipv4/conf/eth0.100/rp_filter"),
                "2"
            ),
        ]
    );
    for key in ["net..x", "../../etc/passwd", "kernel/../x", ""] {
        let err = plan_err(json!({"linux": {"sysctl": {key: "1"}}}), opts());
        assert!(err.contains("invalid sysctl key"), "{key}: {err}");
    }
}

#[test]
fn rootfs_propagation_and_root_readonly() {
    let rec = MsFlags::MS_REC;
    for (value, first, after) in [
        ("shared", MsFlags::MS_SHARED, Some(MsFlags::MS_SHARED)),
        (
            "rshared",
            MsFlags::MS_SHARED | rec,
            Some(MsFlags::MS_SHARED | rec),
        ),
        ("slave", MsFlags::MS_SLAVE, Some(MsFlags::MS_SLAVE)),
        (
            "rslave",
            MsFlags::MS_SLAVE | rec,
            Some(MsFlags::MS_SLAVE | rec),
        ),
        ("private", MsFlags::MS_PRIVATE, None),
        ("rprivate", MsFlags::MS_PRIVATE | rec, None),
        (
            "unbindable",
            MsFlags::MS_UNBINDABLE,
            Some(MsFlags::MS_UNBINDABLE),
        ),
        (
            "runbindable",
            MsFlags::MS_UNBINDABLE | rec,
            Some(MsFlags::MS_UNBINDABLE | rec),
        ),
    ] {
        let p = plan_of(json!({"linux": {"rootfsPropagation": value}}));
        assert_eq!(
            (p.root_propagation, p.final_root_propagation),
            (first, after),
            "{value}"
        );
    }
    let err = plan_err(json!({"linux": {"rootfsPropagation": "sideways"}}), opts());
    assert_eq!(err, "invalid rootfsPropagation \"sideways\"");
    let p = plan_of(json!({"root": {"path": "rootfs", "readonly": true}}));
    assert!(p.readonly_root);
}

#[test]
fn readonly_tmpfs_and_dev_are_remounted_later() {
    let p = plan_of(json!({"mounts": [
        {"destination": "/dev", "type": "devtmpfs", "source": "udev", "options": ["ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "nosuid"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]}
    ]}));
    assert_eq!(
        p.readonly_remounts,
        [PathBuf::from("/dev"), PathBuf::from("/tmp")]
    );
    assert_eq!(fs(&p.mounts[0]).flags, MsFlags::empty());
    assert_eq!(fs(&p.mounts[1]).flags, MsFlags::MS_NOSUID);
    assert_eq!(fs(&p.mounts[2]).flags, MsFlags::MS_RDONLY);
}

#[test]
fn mounts_over_proc_are_refused() {
    for (mount, ok) in [
        (
            json!({"destination": "/proc", "type": "proc", "source": "proc"}),
            true,
        ),
        (
            json!({"destination": "proc", "type": "proc", "source": "proc"}),
            true,
        ),
        (
            json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}),
            false,
        ),
        (
            json!({"destination": "/proc/cpuinfo", "source": "/var/lib/lxcfs/proc/cpuinfo", "options": ["bind"]}),
            true,
        ),
        (
            json!({"destination": "/proc/sys/kernel/core_pattern", "source": "/tmp/x", "options": ["bind"]}),
            false,
        ),
        (
            json!({"destination": "/proc/self/../sys", "type": "tmpfs", "source": "tmpfs"}),
            false,
        ),
        (
            json!({"destination": "/procfs", "type": "tmpfs", "source": "tmpfs"}),
            true,
        ),
    ] {
        let result = plan(
            &spec(json!({"mounts": [mount.clone()]})),
            Path::new("/r"),
            opts(),
        );
        assert_eq!(result.is_ok(), ok, "{mount}: {result:?}");
    }
    assert!(check_proc_destination(Path::new("/proc"), ProcMountKind::Bind).is_ok());
    assert!(check_proc_destination(Path::new("/proc/net/dev"), ProcMountKind::Other).is_ok());
    let err = plan_err(
        json!({"mounts": [{"destination": "/", "type": "tmpfs", "source": "tmpfs"}]}),
        opts(),
    );
    assert!(err.contains("container's root"), "{err}");
}

#[test]
fn cgroup_mounts_follow_the_cgroup_view() {
    let mount = json!({"mounts": [{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid"]}]});
    let mut o = opts();
    o.new_cgroup_ns = true;
    let p = plan(&spec(mount.clone()), Path::new("/r"), o.clone()).unwrap();
    match &p.mounts[0].kind {
        MountKind::Cgroup(CgroupMount::V2 {
            fallback_source, ..
        }) => {
            assert_eq!(
                fallback_source,
                Path::new("/sys/fs/cgroup/ctr"),
                "cgroupns: own cgroup only"
            );
        }
        other => panic!("{other:?}"),
    }
    o.cgroup = CgroupView::V1 {
        hierarchies: vec![
            (
                "cpu,cpuacct".into(),
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/ctr"),
            ),
            (
                "name=systemd".into(),
                PathBuf::from("/sys/fs/cgroup/systemd/ctr"),
            ),
        ],
    };
    let p = plan(&spec(mount.clone()), Path::new("/r"), o.clone()).unwrap();
    match &p.mounts[0].kind {
        MountKind::Cgroup(CgroupMount::V1 {
            flags,
            hierarchies,
            cgroupns,
        }) => {
            assert_eq!(*flags, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
            assert!(*cgroupns);
            let names: Vec<(&str, &str)> = hierarchies
                .iter()
                .map(|h| (h.dir_name.as_str(), h.options.as_str()))
                .collect();
            assert_eq!(
                names,
                [("cpu,cpuacct", "cpu,cpuacct"), ("systemd", "name=systemd")]
            );
            assert_eq!(
                hierarchies[1].source,
                Path::new("/sys/fs/cgroup/systemd/ctr")
            );
        }
        other => panic!("{other:?}"),
    }
    // cgroup2 on a v1 view is an ordinary filesystem mount.
    let v2 = json!({"mounts": [{"destination": "/sys/fs/cgroup/unified", "type": "cgroup2", "source": "cgroup2"}]});
    let p = plan(&spec(v2), Path::new("/r"), o.clone()).unwrap();
    assert_eq!(fs(&p.mounts[0]).fstype.as_deref(), Some("cgroup2"));
    o.cgroup = CgroupView::None;
    let err = plan_err(mount, o);
    assert!(err.contains("no cgroup hierarchy"), "{err}");
}

#[test]
fn no_pivot_is_carried() {
    let mut o = opts();
    o.no_pivot = true;
    assert!(plan(&spec(json!({})), Path::new("/r"), o).unwrap().no_pivot);
}

#[test]
fn idmapped_mounts_need_mappings_or_a_user_namespace() {
    let with_maps = json!({"mounts": [{"destination": "/data", "source": "/srv", "options": ["rbind", "ridmap"],
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 1000}, {"containerID": 1000, "hostID": 5, "size": 1}]}]});
    let p = plan_of(with_maps);
    let idmap = bind(&p.mounts[0]).idmap.clone().expect("idmap");
    assert!(idmap.recursive);
    let maps = idmap.mappings.expect("own mappings");
    assert_eq!(maps.uid_map, "0 100000 65536\n");
    assert_eq!(maps.gid_map, "0 200000 1000\n1000 5 1\n");
    assert!(p.has_idmapped_mounts());

    let bare = json!({"mounts": [{"destination": "/data", "source": "/srv", "options": ["bind", "idmap"]}]});
    let err = plan_err(bare.clone(), opts());
    assert!(err.contains("needs a user namespace"), "{err}");
    let mut o = opts();
    o.new_user_ns = true;
    let p = plan(&spec(bare), Path::new("/r"), o).unwrap();
    assert_eq!(
        bind(&p.mounts[0]).idmap,
        Some(Idmap {
            recursive: false,
            mappings: None
        })
    );

    let half = json!({"mounts": [{"destination": "/d", "source": "/srv", "options": ["bind", "idmap"],
        "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}]});
    assert!(plan_err(half, opts()).contains("must both be given"));
    let tmpfs = json!({"mounts": [{"destination": "/d", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}]});
    assert!(plan_err(tmpfs, opts()).contains("only supported for bind mounts"));
    let copyup = json!({"mounts": [{"destination": "/d", "type": "ext4", "source": "/dev/sdb", "options": ["tmpcopyup"]}]});
    assert!(plan_err(copyup, opts()).contains("tmpcopyup"));
    assert!(!plan_of(json!({})).has_idmapped_mounts());
}

#[test]
fn the_mount_label_is_a_context_option_of_filesystem_mounts_but_proc_and_sysfs() {
    let mut o = opts();
    o.mount_label = Some("system_u:object_r:container_file_t:s0:c1,c2".into());
    let spec = spec(serde_json::json!({"mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
         "options": ["context=\"a:b:c:s0\""]},
        {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind"]}
    ]}));
    let plan = plan(&spec, Path::new("/bundle/rootfs"), o).expect("plan");
    let data: Vec<Option<&str>> = plan
        .mounts
        .iter()
        .map(|m| match &m.kind {
            MountKind::Filesystem(fs) => Some(fs.data.as_str()),
            _ => None,
        })
        .collect();
    let label = "context=\"system_u:object_r:container_file_t:s0:c1,c2\"";
    assert_eq!(
        data,
        [
            Some(""),
            Some(""),
            Some(format!("mode=755,{label}").as_str()),
            Some(label),
            Some("context=\"a:b:c:s0\""),
            None
        ]
    );
}
