//! Recursive read-only (`rro`) and idmapped (OCI 1.1+ `idmap`, `uidMappings`) bind mounts.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use integration_tests::{run_script, setup_with, value, Bundle, HostDir, Req};
use serde_json::{json, Value};

fn add_mount(b: &mut Bundle, m: Value) {
    b.edit(|c| c["mounts"].as_array_mut().unwrap().push(m));
}

/// Shell code printing `<key>=ok` when `touch <path>` works, else `<key>=<its error>`.
fn try_write(key: &str, path: &str) -> String {
    format!("echo {key}=$(touch {path} 2>&1 && echo ok)\n")
}

#[test]
fn rro_makes_submounts_read_only_and_ro_does_not() {
    let Some(rt) = setup_with(&[]) else { return };
    let mut host = HostDir::new();
    let sub = host.path().join("sub");
    host.mount_tmpfs(&sub);
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    let src = host.path().to_str().unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/mnt/ro", "type": "bind", "source": src,
               "options": ["rbind", "ro"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/mnt/rro", "type": "bind", "source": src,
               "options": ["rbind", "rro"]}),
    );
    let probe = [
        try_write("ro_top", "/mnt/ro/w"),
        try_write("ro_sub", "/mnt/ro/sub/w-ro"),
        try_write("rro_top", "/mnt/rro/w"),
        try_write("rro_sub", "/mnt/rro/sub/w-rro"),
    ]
    .concat();
    let out = run_script(&b, &probe);
    let erofs = |key: &str| {
        let v = value(&out, key);
        assert!(v.contains("Read-only file system"), "{key}: {v:?}");
    };
    erofs("ro_top");
    // `ro` is applied to the top mount only: the submount rbind carried stays writable.
    assert_eq!(value(&out, "ro_sub"), "ok");
    assert!(sub.join("w-ro").exists());
    // `rro` (mount_setattr with AT_RECURSIVE) reaches the submount too.
    erofs("rro_top");
    erofs("rro_sub");
    assert!(!sub.join("w-rro").exists());
    drop(host);
    b.assert_no_leftovers();
}

/// The kernel's overflow uid and gid (what unmapped ids show as), as "uid:gid".
fn overflow_ids() -> String {
    let read = |f: &str| {
        fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .unwrap()
            .trim()
            .to_string()
    };
    format!("{}:{}", read("overflowuid"), read("overflowgid"))
}

#[test]
fn idmap_mount_maps_owners_with_its_own_mappings() {
    let Some(rt) = setup_with(&[]) else { return };
    let host = HostDir::new();
    fs::set_permissions(host.path(), fs::Permissions::from_mode(0o755)).unwrap();
    for (name, id) in [("own0", 0), ("own1000", 1000)] {
        let f = host.path().join(name);
        fs::write(&f, name).unwrap();
        std::os::unix::fs::chown(&f, Some(id), Some(id)).unwrap();
    }
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    let src = host.path().to_str().unwrap();
    // Mapping semantics as a user namespace's: the file system's id `containerID` shows
    // as `hostID` in the mount; ids outside the mapping show as the overflow id.
    let idmapped = |dest: &str, from: u32, to: u32| {
        let map = json!([{"containerID": from, "hostID": to, "size": 1}]);
        json!({"destination": dest, "type": "bind", "source": src,
               "options": ["bind", "idmap"], "uidMappings": map, "gidMappings": map})
    };
    add_mount(&mut b, idmapped("/mnt/to0", 1000, 0));
    add_mount(&mut b, idmapped("/mnt/to1000", 0, 1000));
    let out = run_script(
        &b,
        "for m in to0 to1000; do for f in own0 own1000; do \
         echo $m.$f=$(stat -c %u:%g /mnt/$m/$f); done; done",
    );
    if rt.is_cella() {
        let overflow = overflow_ids();
        assert_eq!(value(&out, "to0.own1000"), "0:0");
        assert_eq!(value(&out, "to0.own0"), overflow);
        assert_eq!(value(&out, "to1000.own0"), "1000:1000");
        assert_eq!(value(&out, "to1000.own1000"), overflow);
    } else {
        // runc 1.1.5 ignores the mappings and `idmap` (RUNC-DIFFERENCES.md): plain binds.
        assert_eq!(value(&out, "to0.own1000"), "1000:1000");
        assert_eq!(value(&out, "to1000.own0"), "0:0");
    }
    b.assert_no_leftovers();
}

#[test]
fn idmap_mount_without_mappings_uses_the_containers_user_namespace() {
    let Some(rt) = setup_with(&[Req::UserNs]) else {
        return;
    };
    let host = HostDir::new();
    fs::set_permissions(host.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(host.path().join("own0"), "root's").unwrap();
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    });
    // The container's root cannot mkdir in a rootfs owned by the host's root.
    for d in ["mnt/id", "mnt/plain"] {
        fs::create_dir_all(b.rootfs().join(d)).unwrap();
    }
    let src = host.path().to_str().unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/mnt/id", "type": "bind", "source": src,
               "options": ["bind", "idmap"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/mnt/plain", "type": "bind", "source": src,
               "options": ["bind"]}),
    );
    let out = run_script(
        &b,
        "echo id=$(stat -c %u:%g /mnt/id/own0)\necho plain=$(stat -c %u:%g /mnt/plain/own0)\n\
         echo made=$(touch /mnt/id/made-inside 2>&1 && echo ok)",
    );
    let overflow = overflow_ids();
    assert_eq!(value(&out, "plain"), overflow);
    if rt.is_cella() {
        // Host root's file is the container root's through the mount, both ways.
        assert_eq!(value(&out, "id"), "0:0");
        assert_eq!(value(&out, "made"), "ok");
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(host.path().join("made-inside")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (0, 0));
    } else {
        // runc 1.1.5 lacks idmap (RUNC-DIFFERENCES.md): a plain bind, so overflow ids.
        assert_eq!(value(&out, "id"), overflow);
    }
    b.assert_no_leftovers();
}

/// config.md `ridmap`: "the mount MUST have an idmapping applied, and the mapping is applied
/// recursively": on an rbind, a submount is idmapped too with `ridmap`, and with `idmap` only
/// the top mount is.
#[test]
fn ridmap_maps_submounts_and_idmap_does_not() {
    let Some(rt) = setup_with(&[]) else { return };
    let mut host = HostDir::new();
    fs::set_permissions(host.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let sub = host.path().join("sub");
    host.mount_tmpfs(&sub);
    for f in [host.path().join("top"), sub.join("inner")] {
        fs::write(&f, "x").unwrap();
        std::os::unix::fs::chown(&f, Some(1000), Some(1000)).unwrap();
    }
    let mut b = Bundle::new(&rt, &["/probe.sh"]);
    let src = host.path().to_str().unwrap();
    let map = json!([{"containerID": 1000, "hostID": 0, "size": 1}]);
    for (dest, opt) in [("/mnt/r", "ridmap"), ("/mnt/i", "idmap")] {
        add_mount(
            &mut b,
            json!({"destination": dest, "type": "bind", "source": src,
                   "options": ["rbind", opt], "uidMappings": map, "gidMappings": map}),
        );
    }
    let out = run_script(
        &b,
        "for m in r i; do echo $m.top=$(stat -c %u:%g /mnt/$m/top); \
         echo $m.inner=$(stat -c %u:%g /mnt/$m/sub/inner); done",
    );
    if rt.is_cella() {
        assert_eq!(value(&out, "r.top"), "0:0");
        assert_eq!(value(&out, "r.inner"), "0:0", "ridmap reaches the submount");
        assert_eq!(value(&out, "i.top"), "0:0");
        assert_eq!(
            value(&out, "i.inner"),
            "1000:1000",
            "idmap stays on the top mount"
        );
    } else {
        // runc 1.1.5 knows neither option nor the mappings (RUNC-DIFFERENCES.md): plain binds.
        assert_eq!(value(&out, "r.inner"), "1000:1000");
    }
    drop(host);
    b.assert_no_leftovers();
}
