use super::super::tests::{assert_refused, base, check, check_json, set};
use super::*;
use serde_json::{json, Value};

fn with_namespaces(namespaces: Value) -> Value {
    let mut config = base();
    set(&mut config, "/linux/namespaces", namespaces);
    config
}

fn userns_config(uid_maps: Value, gid_maps: Value) -> Value {
    let mut config = with_namespaces(json!([{"type": "user"}, {"type": "mount"}]));
    set(&mut config, "/linux/uidMappings", uid_maps);
    set(&mut config, "/linux/gidMappings", gid_maps);
    config
}

fn map(container: u32, host: u32, size: u32) -> Value {
    json!({"containerID": container, "hostID": host, "size": size})
}

#[test]
fn namespaces_unique_with_absolute_paths() {
    let all = json!([{"type": "pid"}, {"type": "network", "path": "/var/run/netns/x"}, {"type": "mount"},
        {"type": "ipc"}, {"type": "uts"}, {"type": "cgroup"}, {"type": "time"}, {"type": "ipc2"}]);
    // Unknown types never get here: oci-spec refuses them at load.
    assert!(serde_json::from_value::<Spec>(with_namespaces(all)).is_err());
    let ok = json!([{"type": "pid"}, {"type": "network", "path": "/var/run/netns/x"}, {"type": "mount"},
        {"type": "ipc", "path": ""}, {"type": "uts"}, {"type": "cgroup"}, {"type": "time"}]);
    check_json(with_namespaces(ok)).unwrap();
    let dup = json!([{"type": "pid"}, {"type": "mount"}, {"type": "pid"}]);
    assert_refused(
        check_json(with_namespaces(dup)),
        "linux.namespaces[2].type",
        "duplicate namespace type \"pid\"",
    );
    let relative = json!([{"type": "network", "path": "netns/x"}]);
    assert_refused(
        check_json(with_namespaces(relative)),
        "linux.namespaces[0].path",
        "must be absolute",
    );
}

#[test]
fn user_namespace_needs_mappings() {
    check_json(userns_config(
        json!([map(0, 1000, 1)]),
        json!([map(0, 1000, 1)]),
    ))
    .unwrap();
    let no_uid = userns_config(Value::Null, json!([map(0, 1000, 1)]));
    assert_refused(
        check_json(no_uid),
        "linux.uidMappings",
        "user namespaces enabled, but no uid mappings found",
    );
    let no_gid = userns_config(json!([map(0, 1000, 1)]), json!([]));
    assert_refused(
        check_json(no_gid),
        "linux.gidMappings",
        "user namespaces enabled, but no gid mappings found",
    );
    // Joining an existing user namespace needs no mappings.
    check_json(with_namespaces(
        json!([{"type": "user", "path": "/proc/1/ns/user"}]),
    ))
    .unwrap();
}

#[test]
fn mappings_need_a_user_namespace() {
    let mut config = base();
    set(&mut config, "/linux/uidMappings", json!([map(0, 1000, 1)]));
    assert_refused(
        check_json(config),
        "linux.uidMappings",
        "user namespace mappings specified, but USER namespace isn't enabled",
    );
    let mut config = base();
    set(&mut config, "/linux/gidMappings", json!([map(0, 1000, 1)]));
    assert_refused(
        check_json(config),
        "linux.gidMappings",
        "USER namespace isn't enabled",
    );
}

#[test]
fn mappings_are_sane() {
    let two = json!([map(0, 1000, 10), map(10, 5000, 10)]);
    check_json(userns_config(two.clone(), two)).unwrap();
    let full = json!([map(0, 0, u32::MAX)]);
    check_json(userns_config(full.clone(), full)).unwrap();
    let ok = json!([map(0, 1000, 1)]);
    let field = "linux.uidMappings[1]";
    let overlap_container = json!([map(0, 1000, 10), map(5, 5000, 10)]);
    assert_refused(
        check_json(userns_config(overlap_container, ok.clone())),
        field,
        "container id range overlaps",
    );
    let overlap_host = json!([map(0, 1000, 10), map(100, 1005, 10)]);
    assert_refused(
        check_json(userns_config(overlap_host, ok.clone())),
        field,
        "host id range overlaps",
    );
    let overflow = json!([map(0, u32::MAX, 2)]);
    assert_refused(
        check_json(userns_config(overflow, ok.clone())),
        "linux.uidMappings[0]",
        "largest id",
    );
    let empty = json!([map(0, 1000, 0)]);
    assert_refused(
        check_json(userns_config(ok, empty)),
        "linux.gidMappings[0].size",
        "greater than zero",
    );
    let many: Vec<Value> = (0..341).map(|i| map(i, 1000 + i, 1)).collect();
    let many = json!(many);
    assert_refused(
        check_json(userns_config(many.clone(), many)),
        "linux.uidMappings",
        "at most 340",
    );
}

#[test]
fn process_ids_must_be_mapped_in_a_new_user_namespace() {
    let maps = json!([map(0, 1000, 100)]);
    let mut config = userns_config(maps.clone(), maps);
    set(
        &mut config,
        "/process/user",
        json!({"uid": 99, "gid": 5, "additionalGids": [1, 2]}),
    );
    check_json(config.clone()).unwrap();
    set(&mut config, "/process/user", json!({"uid": 100, "gid": 5}));
    assert_refused(
        check_json(config.clone()),
        "process.user.uid",
        "uid 100 is not mapped",
    );
    set(&mut config, "/process/user", json!({"uid": 0, "gid": 500}));
    assert_refused(
        check_json(config.clone()),
        "process.user.gid",
        "gid 500 is not mapped",
    );
    set(
        &mut config,
        "/process/user",
        json!({"uid": 0, "gid": 0, "additionalGids": [3, 1000]}),
    );
    assert_refused(
        check_json(config),
        "process.user.additionalGids[1]",
        "gid 1000 is not mapped",
    );
}

#[test]
fn hostname_and_domainname_need_uts_namespace() {
    let mut config = with_namespaces(json!([{"type": "uts"}]));
    set(&mut config, "/hostname", json!("box"));
    set(&mut config, "/domainname", json!("example.org"));
    check_json(config).unwrap();
    check("/hostname", json!("")).unwrap();
    assert_refused(
        check("/hostname", json!("box")),
        "hostname",
        "unable to set hostname without a private UTS namespace",
    );
    assert_refused(
        check("/domainname", json!("x")),
        "domainname",
        "unable to set domainname without a private UTS namespace",
    );
    let mut no_linux = base();
    set(&mut no_linux, "/linux", Value::Null);
    set(&mut no_linux, "/hostname", json!("box"));
    assert_refused(check_json(no_linux), "hostname", "private UTS namespace");
}

#[test]
fn time_offsets_need_a_new_time_namespace() {
    let offsets = json!({"monotonic": {"secs": 10, "nanosecs": 5}, "boottime": {"secs": -3}});
    let mut config = with_namespaces(json!([{"type": "time"}]));
    set(&mut config, "/linux/timeOffsets", offsets.clone());
    check_json(config.clone()).unwrap();
    set(
        &mut config,
        "/linux/timeOffsets",
        json!({"realtime": {"secs": 1}}),
    );
    assert_refused(
        check_json(config.clone()),
        "linux.timeOffsets.realtime",
        "unknown clock",
    );
    set(
        &mut config,
        "/linux/timeOffsets",
        json!({"monotonic": {"nanosecs": 1_000_000_000}}),
    );
    assert_refused(
        check_json(config),
        "linux.timeOffsets.monotonic.nanosecs",
        "less than",
    );
    assert_refused(
        check("/linux/timeOffsets", offsets.clone()),
        "linux.timeOffsets",
        "time namespace offsets specified, but time namespace isn't enabled",
    );
    let mut joined = with_namespaces(json!([{"type": "time", "path": "/proc/1/ns/time"}]));
    set(&mut joined, "/linux/timeOffsets", offsets);
    assert_refused(
        check_json(joined),
        "linux.timeOffsets",
        "new time namespace",
    );
}

fn sysctl(namespaces: Value, key: &str) -> Result<(), ValidationError> {
    let mut config = with_namespaces(namespaces);
    set(&mut config, "/linux/sysctl", json!({key: "1"}));
    check_json(config)
}

#[test]
fn sysctls_follow_their_namespace() {
    let net = json!([{"type": "network"}]);
    let ipc = json!([{"type": "ipc"}]);
    let uts = json!([{"type": "uts"}]);
    sysctl(net.clone(), "net.ipv4.ip_forward").unwrap();
    sysctl(
        json!([{"type": "network", "path": "/run/netns/a"}]),
        "net.core.somaxconn",
    )
    .unwrap();
    sysctl(net.clone(), "net/ipv4/conf/eth0.100/rp_filter").unwrap();
    sysctl(ipc.clone(), "kernel.shmmax").unwrap();
    sysctl(ipc.clone(), "fs.mqueue.msg_max").unwrap();
    sysctl(uts.clone(), "kernel.domainname").unwrap();
    let field = "linux.sysctl";
    assert_refused(
        sysctl(ipc.clone(), "net.ipv4.ip_forward"),
        field,
        "sysctl \"net.ipv4.ip_forward\" is not allowed in the hosts network namespace",
    );
    assert_refused(
        sysctl(net.clone(), "kernel.msgmax"),
        field,
        "sysctl \"kernel.msgmax\" is not allowed in the hosts ipc namespace",
    );
    assert_refused(
        sysctl(net.clone(), "fs.mqueue.queues_max"),
        field,
        "hosts ipc namespace",
    );
    assert_refused(
        sysctl(uts.clone(), "kernel.hostname"),
        field,
        "conflicts with the OCI \"hostname\" field",
    );
    assert_refused(
        sysctl(net.clone(), "kernel.domainname"),
        field,
        "sysctl \"kernel.domainname\" is not in a separate kernel namespace",
    );
    assert_refused(
        sysctl(uts, "vm.swappiness"),
        field,
        "not in a separate kernel namespace",
    );
    assert_refused(
        sysctl(ipc, "net/ipv4/ip_forward"),
        field,
        "\"net.ipv4.ip_forward\" is not allowed",
    );
}

#[test]
fn sysctl_slash_form_is_converted() {
    assert_eq!(
        dotted_sysctl("net/ipv4/conf/eno2.100/rp_filter"),
        "net.ipv4.conf.eno2/100.rp_filter"
    );
    assert_eq!(dotted_sysctl("net.ipv4.ip_forward"), "net.ipv4.ip_forward");
    assert_eq!(dotted_sysctl("kernel"), "kernel");
}

#[test]
fn masked_and_readonly_paths_absolute_and_need_mount_namespace() {
    check("/linux/maskedPaths", json!(["/proc/kcore"])).unwrap();
    check("/linux/readonlyPaths", json!(["/proc/sys"])).unwrap();
    assert_refused(
        check("/linux/maskedPaths", json!(["/proc/kcore", "proc/keys"])),
        "linux.maskedPaths[1]",
        "must be absolute",
    );
    assert_refused(
        check("/linux/readonlyPaths", json!(["sys"])),
        "linux.readonlyPaths[0]",
        "must be absolute",
    );
    let mut config = with_namespaces(json!([{"type": "pid"}]));
    set(&mut config, "/linux/maskedPaths", json!(["/proc/kcore"]));
    assert_refused(
        check_json(config),
        "linux.maskedPaths",
        "unable to restrict sys entries without a private MNT namespace",
    );
}

#[test]
fn devices_absolute_typed_and_unique() {
    let ok = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438},
        {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0}, {"path": "/fifo", "type": "p"},
        {"path": "/dev/u", "type": "u", "major": 1, "minor": 3}]);
    check("/linux/devices", ok).unwrap();
    let relative = json!([{"path": "dev/fuse", "type": "c", "major": 10, "minor": 229}]);
    assert_refused(
        check("/linux/devices", relative),
        "linux.devices[0].path",
        "must be absolute",
    );
    let all = json!([{"path": "/dev/x", "type": "a"}]);
    assert_refused(
        check("/linux/devices", all),
        "linux.devices[0].type",
        "c, b, u or p",
    );
    let twice = json!([{"path": "/dev/x", "type": "c", "major": 1, "minor": 3}, {"path": "/dev/x", "type": "c", "major": 1, "minor": 5}]);
    assert_refused(
        check("/linux/devices", twice),
        "linux.devices[1].path",
        "listed twice",
    );
    let bad_type = json!([{"path": "/dev/x", "type": "x"}]);
    let mut config = base();
    set(&mut config, "/linux/devices", bad_type);
    assert!(
        serde_json::from_value::<Spec>(config).is_err(),
        "oci-spec refuses unknown types"
    );
}

#[test]
fn rootfs_propagation_values() {
    for ok in [
        "shared",
        "slave",
        "private",
        "unbindable",
        "rshared",
        "rslave",
        "rprivate",
        "runbindable",
        "",
    ] {
        check("/linux/rootfsPropagation", json!(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    assert_refused(
        check("/linux/rootfsPropagation", json!("rshred")),
        "linux.rootfsPropagation",
        "\"rshred\"",
    );
}

#[test]
fn cgroups_path_forms() {
    for ok in ["/abs/path", "relative/path", "system.slice:cella:abc"] {
        check("/linux/cgroupsPath", json!(ok)).unwrap();
    }
    assert_refused(
        check("/linux/cgroupsPath", json!("a\u{0}b")),
        "linux.cgroupsPath",
        "nul",
    );
    let parsed = parse_systemd_cgroups_path("system.slice:cella:abc").unwrap();
    assert_eq!(
        (
            parsed.slice.as_str(),
            parsed.prefix.as_str(),
            parsed.name.as_str()
        ),
        ("system.slice", "cella", "abc")
    );
    let err = parse_systemd_cgroups_path("/a/b").unwrap_err();
    assert!(err.reason.contains("\"slice:prefix:name\""), "{err}");
    assert!(parse_systemd_cgroups_path("a:b:c:d").is_err());
}

#[test]
fn personality_flags_are_refused() {
    check("/linux/personality", json!({"domain": "LINUX32"})).unwrap();
    check(
        "/linux/personality",
        json!({"domain": "LINUX", "flags": []}),
    )
    .unwrap();
    assert_refused(
        check(
            "/linux/personality",
            json!({"domain": "LINUX", "flags": ["X"]}),
        ),
        "linux.personality.flags",
        "not supported",
    );
    let mut config = base();
    set(
        &mut config,
        "/linux/personality",
        json!({"domain": "LINUX64"}),
    );
    assert!(
        serde_json::from_value::<Spec>(config).is_err(),
        "oci-spec refuses unknown domains"
    );
}

#[test]
fn net_devices_need_network_namespace_and_valid_names() {
    let mut config = with_namespaces(json!([{"type": "network"}]));
    set(
        &mut config,
        "/linux/netDevices",
        json!({"eth0": {"name": "ctr0"}, "eth1": {}, "eth2": {"name": "net%d"}, "eth3": {"name": "net%d"}}),
    );
    check_json(config.clone()).unwrap();
    set(
        &mut config,
        "/linux/netDevices",
        json!({"eth0": {"name": "a-name-that-is-too-long"}}),
    );
    assert_refused(
        check_json(config.clone()),
        "linux.netDevices.eth0.name",
        "invalid interface name",
    );
    set(&mut config, "/linux/netDevices", json!({"eth/0": {}}));
    assert_refused(
        check_json(config.clone()),
        "linux.netDevices.eth/0",
        "invalid interface name",
    );
    set(
        &mut config,
        "/linux/netDevices",
        json!({"eth0": {"name": "eth1"}, "eth1": {}}),
    );
    assert_refused(
        check_json(config),
        "linux.netDevices.eth1.name",
        "two devices",
    );
    assert_refused(
        check("/linux/netDevices", json!({"eth0": {}})),
        "linux.netDevices",
        "private network namespace",
    );
}

#[test]
fn namespace_names_match_the_spec() {
    for typ in [
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Time,
        LinuxNamespaceType::User,
    ] {
        assert_eq!(
            serde_json::to_value(typ).unwrap(),
            json!(namespace_name(typ))
        );
    }
}
