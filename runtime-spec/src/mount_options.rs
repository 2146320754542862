//! The mount options cella recognises (config.md, "Linux mount options"), and what each means.
//!
//! [`MOUNT_OPTIONS`] is what the `features` document lists; [`parse_mount_option`] says what
//! each does, in kernel terms but without kernel numbers, so that the runtime's mount code
//! turns the same table into `MS_*` flags and `MOUNT_ATTR_*` attributes. Options not listed
//! are filesystem-specific and go to mount(2)'s data argument.

/// Every option [`parse_mount_option`] knows, sorted.
pub const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
];

/// A mount(2) flag (`MS_*`) that an option sets or clears.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MountFlag {
    ReadOnly,
    NoSuid,
    NoDev,
    NoExec,
    Synchronous,
    Remount,
    MandLock,
    DirSync,
    NoSymfollow,
    NoAtime,
    NoDirAtime,
    RelAtime,
    StrictAtime,
    LazyTime,
    Silent,
    IVersion,
}

/// A mount_setattr(2) attribute (`MOUNT_ATTR_*`) applied to a whole mount tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MountAttr {
    ReadOnly,
    NoSuid,
    NoDev,
    NoExec,
    NoDirAtime,
    NoSymfollow,
    /// The access-time mode (`MOUNT_ATTR__ATIME` field) set to relatime.
    RelAtime,
    /// The access-time mode set to noatime.
    NoAtime,
    /// The access-time mode set to strictatime.
    StrictAtime,
}

/// Mount propagation type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Propagation {
    Shared,
    Slave,
    Private,
    Unbindable,
}

/// What a recognised option asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MountOption {
    /// `defaults`: nothing beyond the defaults.
    Defaults,
    /// Set (`set == true`) or clear a mount(2) flag.
    Flag { flag: MountFlag, set: bool },
    /// `bind` / `rbind`.
    Bind { recursive: bool },
    /// Change propagation after mounting.
    Propagation { kind: Propagation, recursive: bool },
    /// Set or clear an attribute on the whole tree with mount_setattr(2) (`rro`, `ratime`...).
    Recursive { attr: MountAttr, set: bool },
    /// `idmap` / `ridmap`: apply the mount's (or the user namespace's) id mapping; not passed
    /// to mount(2).
    Idmap { recursive: bool },
}

/// What `option` means, or `None` for a filesystem-specific option.
pub fn parse_mount_option(option: &str) -> Option<MountOption> {
    use MountAttr as A;
    use MountFlag as F;
    use MountOption::*;
    let flag = |flag, set| Some(Flag { flag, set });
    let recursive = |attr, set| Some(Recursive { attr, set });
    let propagation = |kind, recursive| Some(Propagation { kind, recursive });
    match option {
        "defaults" => Some(Defaults),
        "ro" => flag(F::ReadOnly, true),
        "rw" => flag(F::ReadOnly, false),
        "nosuid" => flag(F::NoSuid, true),
        "suid" => flag(F::NoSuid, false),
        "nodev" => flag(F::NoDev, true),
        "dev" => flag(F::NoDev, false),
        "noexec" => flag(F::NoExec, true),
        "exec" => flag(F::NoExec, false),
        "sync" => flag(F::Synchronous, true),
        "async" => flag(F::Synchronous, false),
        "remount" => flag(F::Remount, true),
        "mand" => flag(F::MandLock, true),
        "nomand" => flag(F::MandLock, false),
        "dirsync" => flag(F::DirSync, true),
        "nosymfollow" => flag(F::NoSymfollow, true),
        "symfollow" => flag(F::NoSymfollow, false),
        "noatime" => flag(F::NoAtime, true),
        "atime" => flag(F::NoAtime, false),
        "nodiratime" => flag(F::NoDirAtime, true),
        "diratime" => flag(F::NoDirAtime, false),
        "relatime" => flag(F::RelAtime, true),
        "norelatime" => flag(F::RelAtime, false),
        "strictatime" => flag(F::StrictAtime, true),
        "nostrictatime" => flag(F::StrictAtime, false),
        "lazytime" => flag(F::LazyTime, true),
        "nolazytime" => flag(F::LazyTime, false),
        "silent" => flag(F::Silent, true),
        "loud" => flag(F::Silent, false),
        "iversion" => flag(F::IVersion, true),
        "noiversion" => flag(F::IVersion, false),
        "bind" => Some(Bind { recursive: false }),
        "rbind" => Some(Bind { recursive: true }),
        "shared" => propagation(self::Propagation::Shared, false),
        "rshared" => propagation(self::Propagation::Shared, true),
        "slave" => propagation(self::Propagation::Slave, false),
        "rslave" => propagation(self::Propagation::Slave, true),
        "private" => propagation(self::Propagation::Private, false),
        "rprivate" => propagation(self::Propagation::Private, true),
        "unbindable" => propagation(self::Propagation::Unbindable, false),
        "runbindable" => propagation(self::Propagation::Unbindable, true),
        "rro" => recursive(A::ReadOnly, true),
        "rrw" => recursive(A::ReadOnly, false),
        "rnosuid" => recursive(A::NoSuid, true),
        "rsuid" => recursive(A::NoSuid, false),
        "rnodev" => recursive(A::NoDev, true),
        "rdev" => recursive(A::NoDev, false),
        "rnoexec" => recursive(A::NoExec, true),
        "rexec" => recursive(A::NoExec, false),
        "rnodiratime" => recursive(A::NoDirAtime, true),
        "rdiratime" => recursive(A::NoDirAtime, false),
        "rnosymfollow" => recursive(A::NoSymfollow, true),
        "rsymfollow" => recursive(A::NoSymfollow, false),
        "rrelatime" => recursive(A::RelAtime, true),
        "rnorelatime" => recursive(A::RelAtime, false),
        "rnoatime" => recursive(A::NoAtime, true),
        "ratime" => recursive(A::NoAtime, false),
        "rstrictatime" => recursive(A::StrictAtime, true),
        "rnostrictatime" => recursive(A::StrictAtime, false),
        "idmap" => Some(Idmap { recursive: false }),
        "ridmap" => Some(Idmap { recursive: true }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn list_is_sorted_unique_and_every_entry_parses() {
        assert!(
            MOUNT_OPTIONS.windows(2).all(|w| w[0] < w[1]),
            "sorted and unique"
        );
        for option in MOUNT_OPTIONS {
            assert!(
                parse_mount_option(option).is_some(),
                "{option} is listed but not parsed"
            );
        }
    }

    #[test]
    fn every_parsed_option_is_listed() {
        // Each option has a distinct meaning, so counting distinct meanings over the list
        // catches a parse arm whose name is missing from MOUNT_OPTIONS.
        let meanings: HashSet<_> = MOUNT_OPTIONS
            .iter()
            .map(|o| parse_mount_option(o))
            .collect();
        assert_eq!(meanings.len(), MOUNT_OPTIONS.len());
        for probe in [
            "size=64k",
            "mode=755",
            "newinstance",
            "tmpcopyup",
            "",
            "RO",
            "ro ",
        ] {
            assert_eq!(parse_mount_option(probe), None, "{probe:?}");
        }
    }

    #[test]
    fn spec_must_options_are_recognised() {
        // The options config.md marks MUST.
        let must = [
            "async",
            "atime",
            "bind",
            "defaults",
            "dev",
            "diratime",
            "dirsync",
            "exec",
            "iversion",
            "lazytime",
            "loud",
            "noatime",
            "nodev",
            "nodiratime",
            "noexec",
            "noiversion",
            "nolazytime",
            "norelatime",
            "nostrictatime",
            "nosuid",
            "private",
            "rbind",
            "relatime",
            "remount",
            "ro",
            "rprivate",
            "rshared",
            "rslave",
            "runbindable",
            "rw",
            "shared",
            "silent",
            "slave",
            "strictatime",
            "suid",
            "sync",
            "unbindable",
        ];
        for option in must {
            assert!(MOUNT_OPTIONS.contains(&option), "{option}");
        }
    }

    #[test]
    fn meanings() {
        assert_eq!(
            parse_mount_option("rw"),
            Some(MountOption::Flag {
                flag: MountFlag::ReadOnly,
                set: false
            })
        );
        assert_eq!(
            parse_mount_option("rbind"),
            Some(MountOption::Bind { recursive: true })
        );
        assert_eq!(
            parse_mount_option("rslave"),
            Some(MountOption::Propagation {
                kind: Propagation::Slave,
                recursive: true
            })
        );
        assert_eq!(
            parse_mount_option("ratime"),
            Some(MountOption::Recursive {
                attr: MountAttr::NoAtime,
                set: false
            })
        );
        assert_eq!(
            parse_mount_option("ridmap"),
            Some(MountOption::Idmap { recursive: true })
        );
    }
}
