//! Loading and checking config.json, through the runtime-spec crate.

use std::path::Path;

use oci_spec::runtime::Spec;

/// Loads and validates `<bundle>/config.json`; the message names the file, field and problem.
pub fn load(bundle: &Path) -> Result<Spec, String> {
    let spec = runtime_spec::load_config(bundle).map_err(|e| e.to_string())?;
    runtime_spec::validate(&spec, bundle).map_err(|e| e.to_string())?;
    for w in runtime_spec::validate::warnings(&spec) {
        log::warn!("{w}");
    }
    if spec
        .linux()
        .as_ref()
        .and_then(|l| l.intel_rdt().as_ref())
        .is_some()
    {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        check_intel_rdt(&mountinfo)?;
    }
    Ok(spec)
}

/// linux.intelRdt is set: config-linux.md wants an error when no resctrl file system is
/// mounted (`mountinfo` is /proc/self/mountinfo); where one is, cella still refuses, as it does
/// not manage resctrl groups and must not drop the setting silently.
fn check_intel_rdt(mountinfo: &str) -> Result<(), String> {
    let mounted = mountinfo.lines().any(|l| {
        l.split_once(" - ")
            .is_some_and(|(_, fs)| fs.split(' ').next() == Some("resctrl"))
    });
    if mounted {
        Err("linux.intelRdt: cella does not manage resctrl groups".to_owned())
    } else {
        Err("linux.intelRdt: no resctrl file system is mounted".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intel_rdt_is_refused_naming_why() {
        let without = "22 1 0:20 / /proc rw - proc proc rw\n";
        assert!(check_intel_rdt(without).unwrap_err().contains("no resctrl"));
        let with = format!("{without}40 1 0:30 / /sys/fs/resctrl rw - resctrl resctrl rw\n");
        assert!(check_intel_rdt(&with)
            .unwrap_err()
            .contains("does not manage"));
    }
}
