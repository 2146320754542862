//! Writing a [`Spec`] as config.json text: deterministic and in the order people know from
//! runc's `spec` output.
//!
//! oci-spec keeps capability sets in a `HashSet`, whose order changes from run to run, and
//! spells two scheduler flags its own way (see `load`). The spec is therefore turned into a
//! JSON value, fixed up (capabilities sorted, scheduler flags spelled as config.md does) and
//! printed with keys in a preferred order, the rest alphabetically.

use oci_spec::runtime::Spec;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::load::SCHED_FLAG_NAMES;

/// Keys in the order they are printed; keys not listed follow, alphabetically. One list
/// serves every object: the names rarely collide and then agree on the order anyway.
const KEY_ORDER: &[&str] = &[
    // top level
    "ociVersion",
    "process",
    "root",
    "hostname",
    "domainname",
    "mounts",
    "hooks",
    "annotations",
    "linux",
    // process
    "terminal",
    "consoleSize",
    "user",
    "args",
    "commandLine",
    "env",
    "cwd",
    "capabilities",
    "rlimits",
    "noNewPrivileges",
    "apparmorProfile",
    "oomScoreAdj",
    "scheduler",
    "selinuxLabel",
    "ioPriority",
    "execCPUAffinity",
    "height",
    "width",
    "uid",
    "gid",
    "umask",
    "additionalGids",
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
    "policy",
    "nice",
    "priority",
    "flags",
    // mounts, root, hooks, rlimits, namespaces, devices
    "destination",
    "type",
    "source",
    "path",
    "readonly",
    "options",
    "timeout",
    "hard",
    "soft",
    "major",
    "minor",
    "fileMode",
    // linux
    "uidMappings",
    "gidMappings",
    "containerID",
    "hostID",
    "size",
    "sysctl",
    "resources",
    "cgroupsPath",
    "namespaces",
    "devices",
    "netDevices",
    "seccomp",
    "rootfsPropagation",
    "maskedPaths",
    "readonlyPaths",
    "mountLabel",
    "intelRdt",
    "memoryPolicy",
    "personality",
    "timeOffsets",
    "allow",
    "access",
];

/// The spec as pretty-printed JSON, indented with tabs like `runc spec`, no trailing newline.
pub fn spec_to_json(spec: &Spec) -> String {
    let mut value = serde_json::to_value(spec).expect("a Spec always serialises");
    canonicalise(&mut value);
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    Ordered(&value)
        .serialize(&mut serializer)
        .expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

fn canonicalise(config: &mut Value) {
    drop_nulls(config);
    let Some(process) = config.get_mut("process") else {
        return;
    };
    if let Some(sets) = process
        .get_mut("capabilities")
        .and_then(Value::as_object_mut)
    {
        for caps in sets.values_mut().filter_map(Value::as_array_mut) {
            caps.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
    }
    let flags = process
        .get_mut("scheduler")
        .and_then(|s| s.get_mut("flags"));
    for flag in flags.and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some((spec_name, _)) = SCHED_FLAG_NAMES
            .iter()
            .find(|(_, oci)| flag.as_str() == Some(oci))
        {
            *flag = Value::from(*spec_name);
        }
    }
}

/// oci-spec writes some unset optional fields as `null` (`netDevices.*.name`); the schema
/// wants them absent.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

struct Ordered<'a>(&'a Value);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let rank = |key: &str| {
                    KEY_ORDER
                        .iter()
                        .position(|k| *k == key)
                        .unwrap_or(usize::MAX)
                };
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_by_key(|key| (rank(key), key.as_str()));
                let mut out = serializer.serialize_map(Some(keys.len()))?;
                for key in keys {
                    out.serialize_entry(key, &Ordered(&map[key]))?;
                }
                out.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(Ordered)),
            other => other.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_config;
    use std::path::Path;

    const CONFIG: &str = r#"{"linux":{"namespaces":[{"type":"pid"}]},"ociVersion":"1.0.0",
        "root":{"readonly":true,"path":"rootfs"},"x-unknown":1,
        "process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
        "capabilities":{"bounding":["CAP_SYS_ADMIN","CAP_CHOWN","CAP_KILL","CAP_AUDIT_WRITE"]},
        "scheduler":{"policy":"SCHED_DEADLINE","flags":["SCHED_FLAG_RESET_ON_FORK","SCHED_FLAG_DL_OVERRUN"]}}}"#;

    #[test]
    fn keys_in_runc_order_and_tabs() {
        let spec = parse_config(CONFIG.as_bytes(), Path::new("c"))
            .unwrap()
            .spec;
        let text = spec_to_json(&spec);
        let top: Vec<usize> = ["\"ociVersion\"", "\"process\"", "\"root\"", "\"linux\""]
            .iter()
            .map(|k| text.find(k).unwrap())
            .collect();
        assert!(top.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(
            text.find("\"path\"").unwrap() < text.find("\"readonly\"").unwrap(),
            "{text}"
        );
        assert!(
            text.find("\"policy\"").unwrap() < text.find("\"flags\"").unwrap(),
            "{text}"
        );
        assert!(
            text.starts_with("{\n\t\"ociVersion\": \"1.0.0\",\n\t\"process\": {"),
            "{text}"
        );
        assert!(!text.ends_with('\n'));
        assert!(!text.contains("x-unknown"));
    }

    #[test]
    fn capabilities_sorted_and_deterministic() {
        let spec = parse_config(CONFIG.as_bytes(), Path::new("c"))
            .unwrap()
            .spec;
        let text = spec_to_json(&spec);
        let order = ["CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"]
            .map(|c| text.find(c).unwrap());
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        for _ in 0..5 {
            let again = parse_config(CONFIG.as_bytes(), Path::new("c"))
                .unwrap()
                .spec;
            assert_eq!(spec_to_json(&again), text);
        }
    }

    #[test]
    fn unset_fields_are_left_out_not_null() {
        let text = r#"{"ociVersion":"1.0.0","linux":{"netDevices":{"eth0":{}}}}"#;
        let spec = parse_config(text.as_bytes(), Path::new("c")).unwrap().spec;
        assert!(
            serde_json::to_string(&spec).unwrap().contains("null"),
            "oci-spec writes null"
        );
        let written = spec_to_json(&spec);
        assert!(!written.contains("null"), "{written}");
        assert!(written.contains("\"eth0\": {}"), "{written}");
    }

    #[test]
    fn scheduler_flags_written_as_the_spec_spells_them() {
        let spec = parse_config(CONFIG.as_bytes(), Path::new("c"))
            .unwrap()
            .spec;
        let text = spec_to_json(&spec);
        assert!(text.contains("\"SCHED_FLAG_RESET_ON_FORK\""), "{text}");
        assert!(text.contains("\"SCHED_FLAG_DL_OVERRUN\""), "{text}");
        let reloaded = parse_config(text.as_bytes(), Path::new("c")).unwrap().spec;
        assert_eq!(reloaded, spec);
    }
}
