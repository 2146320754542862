use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::*;

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Writes a fresh file, never through an existing symlink (which could lead out of the tree).
fn replace(path: &Path, contents: &str) {
    let _ = fs::remove_file(path);
    fs::write(path, contents).unwrap();
}

/// Whether `applet` in the tree at `root` is a hard link to the tree's busybox.
fn is_busybox(root: &Path, applet: &str) -> bool {
    let Ok(meta) = fs::symlink_metadata(root.join(applet)) else {
        return false;
    };
    let busybox = fs::symlink_metadata(root.join("bin/busybox")).unwrap();
    meta.is_file() && (meta.dev(), meta.ino()) == (busybox.dev(), busybox.ino())
}

fn build() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    busybox_rootfs(dir.path()).unwrap();
    dir
}

#[test]
fn tree_has_busybox_and_one_link_per_applet() {
    let dir = build();
    let root = dir.path();
    let busybox = fs::symlink_metadata(root.join("bin/busybox")).unwrap();
    assert!(
        busybox.is_file(),
        "bin/busybox must be a copy, not a link to the host's"
    );
    assert_eq!(busybox.len(), fs::metadata(BUSYBOX).unwrap().len());
    assert_eq!(mode(&root.join("bin/busybox")) & 0o111, 0o111);

    let applets = list_applets(Path::new(BUSYBOX)).unwrap();
    assert!(
        applets.len() > 100,
        "busybox lists only {} applets",
        applets.len()
    );
    for applet in &applets {
        assert!(is_busybox(root, applet), "{applet}");
    }
    // The applets that tests and examples rely on, wherever busybox puts them.
    for name in [
        "sh", "ls", "cat", "id", "ps", "hostname", "mount", "sleep", "echo",
    ] {
        let found = APPLET_DIRS
            .iter()
            .any(|d| is_busybox(root, &format!("{d}/{name}")));
        assert!(found, "no applet {name}");
    }
    assert!(!root.join("linuxrc").exists());
}

#[test]
fn tree_has_directories_with_their_modes() {
    let dir = build();
    let root = dir.path();
    // tempfile makes 0700 dirs; a container user other than root must still traverse "/".
    assert_eq!(mode(root), 0o755);
    assert_eq!(mode(&root.join("tmp")), 0o1777);
    assert_eq!(mode(&root.join("root")), 0o700);
    for (name, expected) in DIRS {
        assert!(root.join(name).is_dir(), "{name}");
        assert_eq!(mode(&root.join(name)), *expected, "{name}");
    }
    for name in EMPTY_FILES {
        assert_eq!(fs::read(root.join(name)).unwrap(), b"", "{name}");
    }
}

/// Splits colon-separated records, checking the field count of every line.
fn records(text: &str, fields: usize) -> Vec<Vec<&str>> {
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(':').collect()).collect();
    for row in &rows {
        assert_eq!(row.len(), fields, "{row:?}");
    }
    rows
}

#[test]
fn passwd_and_group_parse() {
    let dir = build();
    let passwd = fs::read_to_string(dir.path().join("etc/passwd")).unwrap();
    let group = fs::read_to_string(dir.path().join("etc/group")).unwrap();
    assert_eq!(passwd, ETC_PASSWD);
    assert_eq!(group, ETC_GROUP);

    let users = records(&passwd, 7);
    let groups = records(&group, 4);
    let gids: HashSet<u32> = groups.iter().map(|g| g[2].parse().unwrap()).collect();
    assert_eq!(gids.len(), groups.len(), "duplicate gid");
    let names: HashSet<&str> = groups.iter().map(|g| g[0]).collect();
    assert_eq!(names.len(), groups.len(), "duplicate group name");
    let uids: HashSet<u32> = users.iter().map(|u| u[2].parse().unwrap()).collect();
    assert_eq!(uids.len(), users.len(), "duplicate uid");
    for user in &users {
        let gid: u32 = user[3].parse().unwrap();
        assert!(gids.contains(&gid), "primary group of {} missing", user[0]);
    }
    for g in &groups {
        for member in g[3].split(',').filter(|m| !m.is_empty()) {
            assert!(
                users.iter().any(|u| u[0] == member),
                "unknown member {member}"
            );
        }
    }

    let find = |name: &str| users.iter().find(|u| u[0] == name).unwrap().clone();
    assert_eq!(
        find("root"),
        ["root", "x", "0", "0", "root", "/root", "/bin/sh"]
    );
    let user = find("user");
    assert_eq!(user[2].parse::<u32>().unwrap(), USER_ID);
    assert_eq!(user[3].parse::<u32>().unwrap(), USER_ID);
    assert_eq!(user[5], "/home/user");
    assert!(dir.path().join(&user[5][1..]).is_dir());
    assert_eq!(find("nobody")[2].parse::<u32>().unwrap(), NOBODY_ID);
    // Several supplementary groups with names, for tests of additionalGids.
    assert!(groups.len() >= 8);
    assert!(gids.contains(&NOBODY_ID) && gids.contains(&USER_ID) && gids.contains(&100));
}

#[test]
fn building_again_keeps_and_repairs() {
    let dir = build();
    let root = dir.path();
    let busybox_mtime = fs::metadata(root.join("bin/busybox")).unwrap().mtime_nsec();
    let busybox_ino = fs::metadata(root.join("bin/busybox")).unwrap().ino();
    replace(&root.join("etc/hosts"), "127.0.0.1 localhost\n");
    replace(&root.join("probe"), "mine");
    replace(&root.join("etc/passwd"), "broken");
    fs::remove_file(root.join("bin/sh")).unwrap();
    replace(&root.join("bin/ls"), "not a link");
    fs::remove_file(root.join("bin/cat")).unwrap();
    std::os::unix::fs::symlink("/elsewhere", root.join("bin/cat")).unwrap();

    busybox_rootfs(root).unwrap();

    let busybox = fs::metadata(root.join("bin/busybox")).unwrap();
    assert_eq!(
        (busybox.ino(), busybox.mtime_nsec()),
        (busybox_ino, busybox_mtime),
        "recopied"
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/hosts")).unwrap(),
        "127.0.0.1 localhost\n"
    );
    assert_eq!(fs::read_to_string(root.join("probe")).unwrap(), "mine");
    assert_eq!(
        fs::read_to_string(root.join("etc/passwd")).unwrap(),
        ETC_PASSWD
    );
    for applet in ["bin/sh", "bin/ls", "bin/cat"] {
        assert!(is_busybox(root, applet), "{applet}");
    }
}

#[test]
fn symlinks_left_in_the_tree_are_replaced_not_followed() {
    let host = tempfile::tempdir().unwrap();
    let outside = host.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(outside.join("passwd"), "host").unwrap();
    let dir = build();
    let root = dir.path();
    let pairs = [
        ("tmp", outside.clone()),
        ("etc/passwd", outside.join("passwd")),
        ("etc/hosts", outside.join("hosts")),
        ("bin/busybox", outside.join("busybox")),
        ("bin/.busybox.cella-rootfs.tmp", outside.join("busybox-tmp")),
    ];
    for (name, target) in &pairs {
        let _ = fs::remove_dir(root.join(name));
        let _ = fs::remove_file(root.join(name));
        std::os::unix::fs::symlink(target, root.join(name)).unwrap();
    }

    busybox_rootfs(root).unwrap();

    assert_eq!(mode(&outside), 0o700, "chmod followed tmp");
    assert_eq!(fs::read_to_string(outside.join("passwd")).unwrap(), "host");
    let mut left: Vec<_> = fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["passwd"], "files created outside the tree");
    assert!(root.join("tmp").is_dir() && !root.join("tmp").is_symlink());
    assert_eq!(mode(&root.join("tmp")), 0o1777);
    assert_eq!(
        fs::read_to_string(root.join("etc/passwd")).unwrap(),
        ETC_PASSWD
    );
    assert!(fs::symlink_metadata(root.join("etc/hosts"))
        .unwrap()
        .is_file());
    assert!(fs::symlink_metadata(root.join("bin/busybox"))
        .unwrap()
        .is_file());
    assert!(is_busybox(root, "bin/sh"));
}

#[test]
fn changed_busybox_is_copied_again() {
    let dir = build();
    let busybox = dir.path().join("bin/busybox");
    assert!(fs::symlink_metadata(&busybox).unwrap().is_file());
    replace(&busybox, "stale");
    busybox_rootfs(dir.path()).unwrap();
    assert_eq!(
        fs::metadata(&busybox).unwrap().len(),
        fs::metadata(BUSYBOX).unwrap().len()
    );
    assert!(!dir.path().join("bin/.busybox.cella-rootfs.tmp").exists());
    // The links followed the new copy: none still holds the stale inode.
    assert!(is_busybox(dir.path(), "bin/sh"));
    let applets = list_applets(Path::new(BUSYBOX)).unwrap();
    assert_eq!(
        fs::metadata(&busybox).unwrap().nlink(),
        1 + applets.len() as u64
    );
}

#[test]
fn directory_at_an_applet_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("bin/sh")).unwrap();
    let err = busybox_rootfs(dir.path()).unwrap_err();
    assert!(matches!(&err, BusyboxError::DirInTheWay { path } if path.ends_with("bin/sh")));
}

#[test]
fn missing_busybox_names_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-busybox");
    let err = busybox_rootfs_from(&missing, &dir.path().join("rootfs")).unwrap_err();
    assert!(matches!(&err, BusyboxError::NotFound { path } if *path == missing));
    let message = err.to_string();
    assert!(
        message.contains("apt-get install -y busybox-static"),
        "{message}"
    );
    assert!(
        !dir.path().join("rootfs").exists(),
        "tree built without busybox"
    );
}

#[test]
fn dynamic_busybox_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dynamic = dir.path().join("busybox");
    fs::write(&dynamic, crate::elf::elf64(&[6, 3, 1])).unwrap();
    let err = busybox_rootfs_from(&dynamic, &dir.path().join("rootfs")).unwrap_err();
    assert!(matches!(err, BusyboxError::NotStatic { .. }));
    assert!(err.to_string().contains("busybox-static"));

    fs::write(&dynamic, "#!/bin/sh\n").unwrap();
    let err = busybox_rootfs_from(&dynamic, &dir.path().join("rootfs")).unwrap_err();
    assert!(matches!(err, BusyboxError::NotElf { .. }));
}

#[test]
fn applet_list_keeps_only_applet_dirs() {
    let list = "linuxrc\nbin/busybox\nbin/sh\nusr/bin/[\nusr/bin/[[\nsbin/ip\nusr/sbin/chroot\n\
                etc/x\nbin/\nbin/..\nusr/lib/x/y\n../bin/x\n  bin/ls  \n";
    assert_eq!(
        parse_applets(list),
        [
            "bin/sh",
            "usr/bin/[",
            "usr/bin/[[",
            "sbin/ip",
            "usr/sbin/chroot",
            "bin/ls"
        ]
    );
}
