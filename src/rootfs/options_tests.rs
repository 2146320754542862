use super::*;
use libc::{
    MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY, MOUNT_ATTR_RELATIME,
    MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME,
};

fn flags_of(option: &str) -> MsFlags {
    let parsed = parse_mount_options(&[option]);
    assert!(parsed.data.is_empty(), "{option} must not be data");
    parsed.flags
}

/// Every flag option of the runtime spec's table (config.md, Linux mount options): setting
/// options alone, and clearing options after everything was set.
#[test]
fn flag_options_of_the_spec_table() {
    let setting = [
        ("bind", MsFlags::MS_BIND),
        ("dirsync", MsFlags::MS_DIRSYNC),
        ("iversion", MsFlags::MS_I_VERSION),
        ("lazytime", MsFlags::MS_LAZYTIME),
        ("mand", MsFlags::MS_MANDLOCK),
        ("noatime", MsFlags::MS_NOATIME),
        ("nodev", MsFlags::MS_NODEV),
        ("nodiratime", MsFlags::MS_NODIRATIME),
        ("noexec", MsFlags::MS_NOEXEC),
        ("nosuid", MsFlags::MS_NOSUID),
        ("nosymfollow", MS_NOSYMFOLLOW),
        ("rbind", MsFlags::MS_BIND | MsFlags::MS_REC),
        ("relatime", MsFlags::MS_RELATIME),
        ("remount", MsFlags::MS_REMOUNT),
        ("ro", MsFlags::MS_RDONLY),
        ("silent", MsFlags::MS_SILENT),
        ("strictatime", MsFlags::MS_STRICTATIME),
        ("sync", MsFlags::MS_SYNCHRONOUS),
        ("defaults", MsFlags::empty()),
    ];
    for (option, flags) in setting {
        assert_eq!(flags_of(option), flags, "{option}");
    }
    let clearing = [
        ("async", MsFlags::MS_SYNCHRONOUS, "sync"),
        ("atime", MsFlags::MS_NOATIME, "noatime"),
        ("dev", MsFlags::MS_NODEV, "nodev"),
        ("diratime", MsFlags::MS_NODIRATIME, "nodiratime"),
        ("exec", MsFlags::MS_NOEXEC, "noexec"),
        ("noiversion", MsFlags::MS_I_VERSION, "iversion"),
        ("nolazytime", MsFlags::MS_LAZYTIME, "lazytime"),
        ("loud", MsFlags::MS_SILENT, "silent"),
        ("nomand", MsFlags::MS_MANDLOCK, "mand"),
        ("norelatime", MsFlags::MS_RELATIME, "relatime"),
        ("nostrictatime", MsFlags::MS_STRICTATIME, "strictatime"),
        ("rw", MsFlags::MS_RDONLY, "ro"),
        ("suid", MsFlags::MS_NOSUID, "nosuid"),
        ("symfollow", MS_NOSYMFOLLOW, "nosymfollow"),
    ];
    for (option, flag, opposite) in clearing {
        assert_eq!(flags_of(option), MsFlags::empty(), "{option} alone");
        let parsed = parse_mount_options(&[opposite, option]);
        assert!(!parsed.flags.contains(flag), "{option} after {opposite}");
        let parsed = parse_mount_options(&[option, opposite]);
        assert!(parsed.flags.contains(flag), "{opposite} after {option}");
    }
}

#[test]
fn propagation_options_are_split_out_in_order() {
    let all = [
        "private",
        "rprivate",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "unbindable",
        "runbindable",
    ];
    let parsed = parse_mount_options(&all);
    assert!(parsed.flags.is_empty());
    assert!(parsed.data.is_empty());
    let got: Vec<MsFlags> = parsed.propagation.iter().map(|p| p.mount_flags()).collect();
    let rec = MsFlags::MS_REC;
    assert_eq!(
        got,
        vec![
            MsFlags::MS_PRIVATE,
            MsFlags::MS_PRIVATE | rec,
            MsFlags::MS_SHARED,
            MsFlags::MS_SHARED | rec,
            MsFlags::MS_SLAVE,
            MsFlags::MS_SLAVE | rec,
            MsFlags::MS_UNBINDABLE,
            MsFlags::MS_UNBINDABLE | rec,
        ]
    );
}

#[test]
fn recursive_options_become_mount_setattr_changes() {
    let cases: [(&str, u64, u64); 12] = [
        ("rro", MOUNT_ATTR_RDONLY, 0),
        ("rrw", 0, MOUNT_ATTR_RDONLY),
        ("rnosuid", MOUNT_ATTR_NOSUID, 0),
        ("rsuid", 0, MOUNT_ATTR_NOSUID),
        ("rnodev", MOUNT_ATTR_NODEV, 0),
        ("rdev", 0, MOUNT_ATTR_NODEV),
        ("rnoexec", MOUNT_ATTR_NOEXEC, 0),
        ("rexec", 0, MOUNT_ATTR_NOEXEC),
        ("rnodiratime", MOUNT_ATTR_NODIRATIME, 0),
        ("rdiratime", 0, MOUNT_ATTR_NODIRATIME),
        ("rnosymfollow", MOUNT_ATTR_NOSYMFOLLOW, 0),
        ("rsymfollow", 0, MOUNT_ATTR_NOSYMFOLLOW),
    ];
    for (option, set, clear) in cases {
        let parsed = parse_mount_options(&[option]);
        assert!(
            parsed.flags.is_empty() && parsed.data.is_empty(),
            "{option}"
        );
        assert_eq!(parsed.recursive.set_clear(), (set, clear), "{option}");
    }
    let atime = [
        ("ratime", MOUNT_ATTR_RELATIME),
        ("rrelatime", MOUNT_ATTR_RELATIME),
        ("rnostrictatime", MOUNT_ATTR_RELATIME),
        ("rnoatime", MOUNT_ATTR_NOATIME),
        ("rstrictatime", MOUNT_ATTR_STRICTATIME),
        ("rnorelatime", MOUNT_ATTR_STRICTATIME),
    ];
    for (option, value) in atime {
        let parsed = parse_mount_options(&[option]);
        assert_eq!(
            parsed.recursive.set_clear(),
            (value, MOUNT_ATTR__ATIME),
            "{option}"
        );
    }
    // Later options win: rro then rrw leaves only the clear.
    let parsed = parse_mount_options(&["rro", "rnosuid", "rrw"]);
    assert_eq!(
        parsed.recursive.set_clear(),
        (MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY)
    );
}

#[test]
fn idmap_and_tmpcopyup_are_recognised() {
    assert_eq!(parse_mount_options(&["idmap"]).idmap, Some(false));
    assert_eq!(parse_mount_options(&["ridmap"]).idmap, Some(true));
    assert_eq!(parse_mount_options(&["rbind", "idmap"]).idmap, Some(false));
    let parsed = parse_mount_options(&["tmpcopyup"]);
    assert!(parsed.copy_up && parsed.data.is_empty());
}

#[test]
fn unknown_options_are_filesystem_data_in_order() {
    let parsed = parse_mount_options(&["nosuid", "mode=755", "size=65536k", "newinstance", "ro"]);
    assert_eq!(parsed.flags, MsFlags::MS_NOSUID | MsFlags::MS_RDONLY);
    assert_eq!(parsed.data_string(), "mode=755,size=65536k,newinstance");
}

#[test]
fn bind_remount_attr_means_exactly_these_flags() {
    let all_per_mount = MOUNT_ATTR_RDONLY
        | MOUNT_ATTR_NOSUID
        | MOUNT_ATTR_NODEV
        | MOUNT_ATTR_NOEXEC
        | MOUNT_ATTR_NOSYMFOLLOW;
    let (set, clear) = bind_remount_attr(MsFlags::MS_BIND | MsFlags::MS_RDONLY);
    assert_eq!(set, MOUNT_ATTR_RDONLY);
    assert_eq!(
        clear,
        all_per_mount & !MOUNT_ATTR_RDONLY,
        "atime untouched without atime flags"
    );

    let (set, clear) = bind_remount_attr(MsFlags::MS_NOSUID | MsFlags::MS_NOATIME);
    assert_eq!(set, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME);
    assert_eq!(clear & MOUNT_ATTR__ATIME, MOUNT_ATTR__ATIME);
    assert_ne!(clear & MOUNT_ATTR_NODIRATIME, 0);

    let (set, _) = bind_remount_attr(MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME);
    assert_eq!(
        set & MOUNT_ATTR__ATIME,
        MOUNT_ATTR_STRICTATIME,
        "strictatime wins"
    );
    let (set, _) = bind_remount_attr(MsFlags::MS_NODIRATIME);
    assert_eq!(set, MOUNT_ATTR_NODIRATIME | MOUNT_ATTR_RELATIME);
}

#[test]
fn remount_needed_only_for_flags_beyond_bind() {
    assert!(!bind_needs_remount(MsFlags::MS_BIND | MsFlags::MS_REC));
    assert!(!bind_needs_remount(MsFlags::MS_BIND | MsFlags::MS_REMOUNT));
    assert!(bind_needs_remount(MsFlags::MS_BIND | MsFlags::MS_RDONLY));
    assert!(bind_needs_remount(MsFlags::MS_BIND | MsFlags::MS_NOSUID));
}
