//! The `ociVersion` field: SemVer 2.0.0 parsing and the range of spec versions cella accepts.

use std::fmt;

/// Oldest runtime-spec version whose configs cella accepts (the `features` `ociVersionMin`).
pub const OCI_VERSION_MIN: &str = "1.0.0";
/// Newest runtime-spec version cella implements: written by `cella spec`, reported as
/// `ociVersionMax`. Any 1.3.x patch release is accepted as well.
pub const OCI_VERSION_MAX: &str = "1.3.0";

/// Highest accepted minor version of major version 1 (see [`OCI_VERSION_MAX`]).
const MAX_MINOR: u64 = 3;

/// A parsed SemVer 2.0.0 version such as `1.0.2-dev` or `1.1.0-rc.2+build.5`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// The pre-release part after `-`, e.g. `dev` or `rc.2`.
    pub pre: Option<String>,
    /// The build metadata after `+`.
    pub build: Option<String>,
}

impl fmt::Display for OciVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        if let Some(build) = &self.build {
            write!(f, "+{build}")?;
        }
        Ok(())
    }
}

/// Parses `s` as a SemVer 2.0.0 version; the error says what is wrong with it.
pub fn parse_oci_version(s: &str) -> Result<OciVersion, String> {
    let (rest, build) = match s.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (s, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let mut parts = core.split('.');
    let (Some(major), Some(minor), Some(patch), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "{s:?} is not a semantic version (MAJOR.MINOR.PATCH)"
        ));
    };
    let number = |part: &str| -> Result<u64, String> {
        let leading_zero = part.len() > 1 && part.starts_with('0');
        if part.is_empty() || leading_zero || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{s:?} is not a semantic version: bad number {part:?}"
            ));
        }
        part.parse()
            .map_err(|_| format!("{s:?} is not a semantic version: {part:?} is too large"))
    };
    if let Some(pre) = pre {
        check_identifiers(s, pre, true)?;
    }
    if let Some(build) = build {
        check_identifiers(s, build, false)?;
    }
    Ok(OciVersion {
        major: number(major)?,
        minor: number(minor)?,
        patch: number(patch)?,
        pre: pre.map(str::to_owned),
        build: build.map(str::to_owned),
    })
}

/// Dot-separated identifiers of `[0-9A-Za-z-]`; numeric pre-release identifiers have no
/// leading zero (SemVer 2.0.0 items 9 and 10).
fn check_identifiers(s: &str, ids: &str, numeric_rule: bool) -> Result<(), String> {
    for id in ids.split('.') {
        let valid_chars = id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let numeric = id.bytes().all(|b| b.is_ascii_digit());
        if id.is_empty()
            || !valid_chars
            || (numeric_rule && numeric && id.len() > 1 && id.starts_with('0'))
        {
            return Err(format!(
                "{s:?} is not a semantic version: bad identifier {id:?}"
            ));
        }
    }
    Ok(())
}

/// Whether cella accepts a config of this spec version: 1.0.0 up to any 1.3.x, pre-releases
/// included (runc writes `1.0.2-dev`). Configs of 0.x predate the stable format and 2.x may
/// break it; 1.4+ may carry fields whose meaning cella does not know.
pub fn is_supported(version: &OciVersion) -> bool {
    version.major == 1 && version.minor <= MAX_MINOR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_pre_release_and_build() {
        let v = parse_oci_version("1.0.2-dev").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 0, 2));
        assert_eq!(v.pre.as_deref(), Some("dev"));
        let v = parse_oci_version("1.1.0-rc.2+git.abc-1").unwrap();
        assert_eq!(v.pre.as_deref(), Some("rc.2"));
        assert_eq!(v.build.as_deref(), Some("git.abc-1"));
        assert_eq!(v.to_string(), "1.1.0-rc.2+git.abc-1");
        assert_eq!(parse_oci_version("1.3.0").unwrap().to_string(), "1.3.0");
    }

    #[test]
    fn refuses_non_semver() {
        for bad in [
            "",
            "1",
            "1.0",
            "1.0.0.0",
            "v1.0.0",
            "01.0.0",
            "1.0.x",
            "1.0.0-",
            "1.0.0-01",
            "1.0.0+",
            "1.0.0-a..b",
            "1.0.0-é",
        ] {
            assert!(parse_oci_version(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn supported_range_is_1_0_to_1_3() {
        for ok in [
            "1.0.0",
            "1.0.0-rc5",
            "1.0.2-dev",
            "1.1.0",
            "1.2.1",
            "1.3.0",
            "1.3.7",
        ] {
            assert!(is_supported(&parse_oci_version(ok).unwrap()), "{ok}");
        }
        for bad in ["0.1.0", "0.6.0-dev", "1.4.0", "1.4.0-dev", "2.0.0"] {
            assert!(!is_supported(&parse_oci_version(bad).unwrap()), "{bad}");
        }
        assert!(is_supported(&parse_oci_version(OCI_VERSION_MIN).unwrap()));
        assert!(is_supported(&parse_oci_version(OCI_VERSION_MAX).unwrap()));
    }
}
