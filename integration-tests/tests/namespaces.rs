//! Namespaces: new ones, joined ones by path, user and time namespaces.

use integration_tests::procfs::ns_link;
use integration_tests::{run_script, setup_with, value, Bundle, Holder, Req};
use serde_json::json;

const NS_PROBE: &str = "for n in ipc net mnt uts cgroup pid user time; do \
                        echo $n=$(readlink /proc/self/ns/$n); done; echo self=$$";

#[test]
fn new_namespaces_differ_from_the_host_and_init_is_pid_1() {
    let Some(rt) = setup_with(&[Req::CgroupNs]) else {
        return;
    };
    let b = Bundle::new(&rt, &["/probe.sh"]);
    let out = run_script(&b, NS_PROBE);
    for ns in ["ipc", "net", "mnt", "uts", "cgroup", "pid"] {
        let inside = value(&out, ns);
        assert!(inside.starts_with(ns), "{ns}: {inside}");
        assert_ne!(inside, ns_link("self", ns), "{ns} namespace is the host's");
    }
    // Not asked for: shared with the host.
    assert_eq!(value(&out, "user"), ns_link("self", "user"));
    assert_eq!(value(&out, "self"), "1", "the user process is not pid 1");
    b.assert_no_leftovers();
}

#[test]
fn hostname_and_domainname_are_set_in_the_new_uts_namespace() {
    let Some(rt) = setup_with(&[]) else { return };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| {
        c["hostname"] = "box-one".into();
        c["domainname"] = "cella.example".into();
    });
    let host = nix::unistd::gethostname().unwrap();
    let out = run_script(
        &b,
        "echo host=$(hostname); echo domain=$(cat /proc/sys/kernel/domainname)",
    );
    assert_eq!(value(&out, "host"), "box-one");
    // runc 1.1.5 ignores domainname (RUNC-DIFFERENCES.md).
    if rt.is_cella() {
        assert_eq!(value(&out, "domain"), "cella.example");
    }
    assert_eq!(
        nix::unistd::gethostname().unwrap(),
        host,
        "host name changed"
    );
}

#[test]
fn namespaces_given_by_path_are_joined() {
    let Some(rt) = setup_with(&[Req::HostTool("unshare"), Req::CgroupNs]) else {
        return;
    };
    let holder = Holder::spawn(&["--ipc", "--uts", "--net", "--mount", "--cgroup"]);
    let pid_holder = Holder::spawn(&["--pid"]);
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("hostname");
        let mut list = vec![json!({"type": "pid", "path": pid_holder.ns_path("pid")})];
        for ns in ["ipc", "uts", "network", "mount", "cgroup"] {
            let file = if ns == "network" {
                "net"
            } else if ns == "mount" {
                "mnt"
            } else {
                ns
            };
            list.push(json!({"type": ns, "path": holder.ns_path(file)}));
        }
        c["linux"]["namespaces"] = list.into();
    });
    let out = run_script(&b, NS_PROBE);
    for ns in ["ipc", "uts", "net", "mnt", "cgroup"] {
        assert_eq!(value(&out, ns), holder.ns_link(ns), "{ns} not joined");
    }
    assert_eq!(
        value(&out, "pid"),
        pid_holder.ns_link("pid"),
        "pid not joined"
    );
    assert_ne!(
        value(&out, "self"),
        "1",
        "a joined pid namespace already has its init"
    );
    // pivot_root in the joined mount namespace moved the holder's root too: it would count
    // as a process of the container.
    drop(holder);
    b.assert_no_leftovers();
}

#[test]
fn user_namespace_maps_ids() {
    let Some(rt) = setup_with(&[Req::UserNs]) else {
        return;
    };
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    });
    let out = run_script(
        &b,
        "echo uid_map=$(cat /proc/self/uid_map); echo gid_map=$(cat /proc/self/gid_map); \
         echo id=$(id -u):$(id -g); touch /tmp/made-inside; chown 1000:1000 /tmp/made-inside; \
         echo user=$(readlink /proc/self/ns/user)",
    );
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(words(value(&out, "uid_map")), ["0", "100000", "65536"]);
    assert_eq!(words(value(&out, "gid_map")), ["0", "200000", "65536"]);
    assert_eq!(value(&out, "id"), "0:0");
    assert_ne!(value(&out, "user"), ns_link("self", "user"));
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(b.rootfs().join("tmp/made-inside")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (101000, 201000),
        "file ids not mapped"
    );
    b.assert_no_leftovers();
}

#[test]
fn time_namespace_applies_offsets() {
    let Some(rt) = setup_with(&[Req::TimeNs]) else {
        return;
    };
    let host_uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    let probe = "echo offsets=$(cat /proc/self/timens_offsets); \
                 echo uptime=$(cut -d' ' -f1 /proc/uptime); \
                 echo time=$(readlink /proc/self/ns/time)";
    if !rt.is_cella() {
        // runc 1.1.5 has no time namespace (RUNC-DIFFERENCES.md): check the probe only.
        let out = run_script(&b, probe);
        let words: Vec<&str> = value(&out, "offsets").split_whitespace().collect();
        assert_eq!(words, ["monotonic", "0", "0", "boottime", "0", "0"]);
        let uptime: f64 = value(&out, "uptime").parse().unwrap();
        assert!(
            (uptime - host_uptime).abs() < 60.0,
            "{uptime} vs {host_uptime}"
        );
        return;
    }
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({
            "monotonic": {"secs": 86400, "nanosecs": 0},
            "boottime": {"secs": 172800, "nanosecs": 0}
        });
    });
    let out = run_script(&b, probe);
    let words: Vec<&str> = value(&out, "offsets").split_whitespace().collect();
    assert_eq!(
        words,
        ["monotonic", "86400", "0", "boottime", "172800", "0"]
    );
    let uptime: f64 = value(&out, "uptime").parse().unwrap();
    assert!(
        uptime - host_uptime > 172800.0 - 60.0,
        "{uptime} vs host {host_uptime}"
    );
    assert_ne!(value(&out, "time"), ns_link("self", "time"));
    b.assert_no_leftovers();
}

#[test]
fn time_namespace_given_by_path_is_joined() {
    let Some(rt) = setup_with(&[Req::TimeNs, Req::HostTool("unshare")]) else {
        return;
    };
    // A time namespace applies to the children of the process that unshared it.
    let holder = Holder::spawn(&["--time", "--boottime", "1000", "--fork"]);
    assert_ne!(holder.ns_link("time"), ns_link("self", "time"));
    if !rt.is_cella() {
        eprintln!("SKIPPED: runc 1.1.5 has no time namespace (RUNC-DIFFERENCES.md)");
        return;
    }
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "time", "path": holder.ns_path("time")}));
    });
    let out = run_script(&b, "echo time=$(readlink /proc/self/ns/time)");
    assert_eq!(value(&out, "time"), holder.ns_link("time"));
}
