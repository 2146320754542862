//! The host-dependent parts of the `features` document's seccomp entry: the architectures the
//! linked libseccomp knows, and the flags this kernel accepts (`supportedFlags`).

use std::str::FromStr;

use libseccomp::{ScmpAction, ScmpArch, ScmpFilterContext};
use oci_spec::runtime::LinuxSeccompFilterFlag;

use super::compile::{flag_bit, probe_bits};
use crate::sys::seccomp as sys;

/// Narrows `archs` to what libseccomp knows here and fills `supportedFlags` from
/// `knownFlags`, when the document says seccomp is enabled.
pub fn host_features(doc: &mut runtime_spec::Features) {
    let Some(seccomp) = doc
        .linux
        .as_mut()
        .and_then(|l| l.seccomp.as_mut())
        .filter(|s| s.enabled == Some(true))
    else {
        return;
    };
    if let Some(archs) = seccomp.archs.as_mut() {
        archs.retain(|a| arch_supported(a));
    }
    seccomp.supported_flags = seccomp.known_flags.as_ref().map(|known| {
        known
            .iter()
            .filter(|f| flag_supported(f, &sys::filter_flags_supported))
            .cloned()
            .collect()
    });
}

/// Whether the linked libseccomp knows `name`. An architecture of the other byte order is
/// known (runc lists it too) even though it cannot share a filter with the native one.
fn arch_supported(name: &str) -> bool {
    let Ok(arch) = ScmpArch::from_str(name) else {
        return false;
    };
    if arch == ScmpArch::native() {
        return true;
    }
    let Ok(mut ctx) = ScmpFilterContext::new(ScmpAction::Allow) else {
        return false;
    };
    match ctx.add_arch(arch) {
        Ok(_) => true,
        Err(e) => e.errno() == Some(libseccomp::error::SeccompErrno::EDOM),
    }
}

fn flag_supported(name: &str, kernel: &dyn Fn(u32) -> bool) -> bool {
    serde_json::from_value::<LinuxSeccompFilterFlag>(name.into())
        .is_ok_and(|f| kernel(probe_bits(flag_bit(f).1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_the_kernel_probe() {
        let only_log = |bits: u32| bits == sys::FLAG_LOG;
        assert!(flag_supported("SECCOMP_FILTER_FLAG_LOG", &only_log));
        assert!(!flag_supported("SECCOMP_FILTER_FLAG_TSYNC", &only_log));
        assert!(!flag_supported("SECCOMP_FILTER_FLAG_NOPE", &|_| true));
        // WAIT_KILLABLE_RECV is only valid next to NEW_LISTENER.
        let with_listener = |bits: u32| bits & sys::FLAG_NEW_LISTENER != 0;
        assert!(flag_supported(
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            &with_listener
        ));
    }

    #[test]
    fn document_is_narrowed_to_the_host() {
        let on = runtime_spec::FeatureSwitches {
            seccomp: true,
            ..runtime_spec::FeatureSwitches::CURRENT
        };
        let mut doc = runtime_spec::features_with(&on);
        host_features(&mut doc);
        let s = doc.linux.unwrap().seccomp.unwrap();
        let archs = s.archs.unwrap();
        assert!(archs.contains(&"SCMP_ARCH_X86_64".to_owned()), "{archs:?}");
        assert!(archs.contains(&"SCMP_ARCH_X86".to_owned()), "{archs:?}");
        // Known to every libseccomp >= 2.5, of the other byte order on x86_64.
        assert!(archs.contains(&"SCMP_ARCH_S390X".to_owned()), "{archs:?}");
        let v = libseccomp::ScmpVersion::current().unwrap();
        if (v.major, v.minor) < (2, 6) {
            assert!(
                !archs.contains(&"SCMP_ARCH_LOONGARCH64".to_owned()),
                "{archs:?}"
            );
        }
        let supported = s.supported_flags.unwrap();
        assert!(supported.contains(&"SECCOMP_FILTER_FLAG_LOG".to_owned()));
        assert!(supported
            .iter()
            .all(|f| s.known_flags.as_ref().unwrap().contains(f)));
    }
}
