//! `mounts`: destinations, bind sources and id-mapped mounts.

use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};

use super::linux::check_id_mappings;
use super::{invalid, Namespaces, ValidationError};

/// A bind mount: `bind`/`rbind` in the options (config.md), or type `bind`, which runc also
/// treats as a bind mount.
pub fn is_bind(mount: &Mount) -> bool {
    let bind_option = mount
        .options()
        .iter()
        .flatten()
        .any(|o| o == "bind" || o == "rbind");
    bind_option || mount.typ().as_deref() == Some("bind")
}

pub(super) fn check(spec: &Spec, namespaces: &Namespaces) -> Result<(), ValidationError> {
    for (i, mount) in spec.mounts().iter().flatten().enumerate() {
        check_mount(&format!("mounts[{i}]"), mount, namespaces)?;
    }
    Ok(())
}

fn check_mount(field: &str, mount: &Mount, namespaces: &Namespaces) -> Result<(), ValidationError> {
    // A relative destination is deprecated but allowed on Linux (read as relative to "/"):
    // see warnings().
    if mount.destination().as_os_str().is_empty() {
        return Err(invalid(
            format!("{field}.destination"),
            "destination must not be empty",
        ));
    }
    let bind = is_bind(mount);
    let source_empty = mount
        .source()
        .as_ref()
        .is_none_or(|s| s.as_os_str().is_empty());
    if bind && source_empty {
        return Err(invalid(
            format!("{field}.source"),
            "a bind mount needs a source",
        ));
    }
    if !bind && mount.typ().as_deref().unwrap_or_default().is_empty() {
        return Err(invalid(
            format!("{field}.type"),
            "type is required unless the options contain bind or rbind",
        ));
    }
    for (j, option) in mount.options().iter().flatten().enumerate() {
        if option.is_empty() || option.contains('\0') {
            return Err(invalid(
                format!("{field}.options[{j}]"),
                format!("invalid option {option:?}"),
            ));
        }
    }
    let uid = mount.uid_mappings().as_deref().unwrap_or_default();
    let gid = mount.gid_mappings().as_deref().unwrap_or_default();
    if uid.is_empty() != gid.is_empty() {
        return Err(invalid(
            field,
            "uidMappings and gidMappings must be specified together",
        ));
    }
    check_id_mappings(&format!("{field}.uidMappings"), uid)?;
    check_id_mappings(&format!("{field}.gidMappings"), gid)?;
    let idmap = mount
        .options()
        .iter()
        .flatten()
        .find(|o| *o == "idmap" || *o == "ridmap");
    // config.md, idmap/ridmap: without mount mappings the container's user namespace
    // mapping is used, and without that either an error MUST be returned.
    if let Some(option) = idmap {
        if uid.is_empty() && !namespaces.contains(LinuxNamespaceType::User) {
            return Err(invalid(
                field,
                format!("{option} needs uidMappings and gidMappings, or a user namespace"),
            ));
        }
    }
    Ok(())
}

pub(super) fn warnings(spec: &Spec) -> Vec<String> {
    spec.mounts()
        .iter()
        .flatten()
        .filter(|m| !m.destination().is_absolute() && !m.destination().as_os_str().is_empty())
        .map(|m| {
            format!(
                "mount destination {:?} is relative; relative destinations are deprecated and \
                 read as relative to \"/\"",
                m.destination()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_refused, base, check, check_json, set};
    use serde_json::json;

    fn tmpfs(dest: &str) -> serde_json::Value {
        json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]})
    }

    #[test]
    fn ordinary_mounts_are_valid() {
        let mounts = json!([tmpfs("/tmp"), {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/data", "type": "none", "source": "/volumes", "options": ["rbind", "rw"]},
            {"destination": "/b", "type": "bind", "source": "/volumes"},
            {"destination": "/c", "source": "relative/to/bundle", "options": ["bind"]}]);
        check("/mounts", mounts).unwrap();
    }

    #[test]
    fn relative_destination_is_allowed_with_a_warning() {
        let mut config = base();
        set(&mut config, "/mounts", json!([tmpfs("tmp")]));
        check_json(config.clone()).unwrap();
        let spec = serde_json::from_value(config).unwrap();
        let warnings = super::warnings(&spec);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("\"tmp\" is relative"), "{warnings:?}");
    }

    #[test]
    fn destination_must_not_be_empty() {
        assert_refused(
            check("/mounts", json!([tmpfs("")])),
            "mounts[0].destination",
            "must not be empty",
        );
    }

    #[test]
    fn bind_mount_needs_source_and_others_need_type() {
        let no_source = json!([tmpfs("/t"), {"destination": "/x", "options": ["rbind"]}]);
        assert_refused(
            check("/mounts", no_source),
            "mounts[1].source",
            "needs a source",
        );
        let no_type = json!([{"destination": "/x", "source": "tmpfs"}]);
        assert_refused(
            check("/mounts", no_type),
            "mounts[0].type",
            "type is required",
        );
    }

    #[test]
    fn options_must_be_non_empty_strings() {
        let bad = json!([{"destination": "/x", "type": "tmpfs", "options": ["ro", ""]}]);
        assert_refused(
            check("/mounts", bad),
            "mounts[0].options[1]",
            "invalid option",
        );
    }

    #[test]
    fn mount_mappings_come_in_pairs_and_are_sane() {
        let map = json!([{"containerID": 0, "hostID": 1000, "size": 10}]);
        let both = json!([{"destination": "/x", "source": "/s", "options": ["bind", "idmap"],
            "uidMappings": map, "gidMappings": map}]);
        check("/mounts", both).unwrap();
        let only_uid =
            json!([{"destination": "/x", "source": "/s", "options": ["bind"], "uidMappings": map}]);
        assert_refused(
            check("/mounts", only_uid),
            "mounts[0]",
            "must be specified together",
        );
        let zero = json!([{"containerID": 0, "hostID": 1000, "size": 0}]);
        let bad = json!([{"destination": "/x", "source": "/s", "options": ["bind"],
            "uidMappings": zero, "gidMappings": map}]);
        assert_refused(
            check("/mounts", bad),
            "mounts[0].uidMappings[0].size",
            "greater than zero",
        );
    }

    #[test]
    fn idmap_without_mappings_needs_a_user_namespace() {
        let mount = json!([{"destination": "/x", "source": "/s", "options": ["rbind", "ridmap"]}]);
        assert_refused(
            check("/mounts", mount.clone()),
            "mounts[0]",
            "ridmap needs uidMappings",
        );
        let mut config = base();
        set(&mut config, "/mounts", mount);
        set(
            &mut config,
            "/linux/namespaces",
            json!([{"type": "mount"}, {"type": "user"}]),
        );
        let map = json!([{"containerID": 0, "hostID": 1000, "size": 1000}]);
        set(&mut config, "/linux/uidMappings", map.clone());
        set(&mut config, "/linux/gidMappings", map);
        check_json(config).unwrap();
    }
}
