//! The container state document, in its two forms:
//! - the OCI state (runtime.md "State", state-schema.json), which hooks read on stdin;
//! - the output of runc's `state` command, which adds rootfs, created and owner, and which
//!   containerd and other callers parse.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Lifecycle status. `Paused` is a runtime-defined addition, which runtime.md allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        })
    }
}

/// Everything either form of the state shows. `pid` is 0 when there is no process.
/// Its own serde form (all fields, camelCase) is for the runtime's records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    /// Absolute path of the bundle.
    pub bundle: PathBuf,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 with nanoseconds (see [`format_rfc3339_nano`]).
    pub created: String,
    /// Owner of the container as runc prints it (empty in `state`, the user name in `list`).
    #[serde(default)]
    pub owner: String,
}

/// The OCI state: ociVersion, id, status, pid (omitted when 0), bundle, annotations (omitted
/// when empty), as runc passes it to hooks.
#[derive(Debug, Serialize)]
pub struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: Status,
    #[serde(skip_serializing_if = "is_zero")]
    pub pid: i32,
    pub bundle: &'a Path,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
}

/// runc's `state`/`list` entry: ociVersion, id, pid (0 when stopped), status, bundle, rootfs,
/// created, annotations (omitted when empty), owner, in that order.
#[derive(Debug, Serialize)]
pub struct RuncState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
    pub owner: &'a str,
}

fn is_zero(pid: &i32) -> bool {
    *pid == 0
}

impl State {
    pub fn oci_state(&self) -> OciState<'_> {
        OciState {
            oci_version: &self.oci_version,
            id: &self.id,
            status: self.status,
            pid: self.pid,
            bundle: &self.bundle,
            annotations: &self.annotations,
        }
    }

    pub fn runc_state(&self) -> RuncState<'_> {
        RuncState {
            oci_version: &self.oci_version,
            id: &self.id,
            // runc reports 0 for a stopped container even though it remembers the old pid.
            pid: if self.status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status: self.status,
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            annotations: &self.annotations,
            owner: &self.owner,
        }
    }

    /// The OCI state as compact JSON (what hooks get on stdin).
    pub fn to_oci_json(&self) -> String {
        serde_json::to_string(&self.oci_state()).expect("state serialises")
    }

    /// The output of `state`: runc's fields, 2-space indent, no final newline.
    pub fn to_runc_json(&self) -> String {
        serde_json::to_string_pretty(&self.runc_state()).expect("state serialises")
    }
}

/// `t` in UTC as Go's RFC3339Nano prints it (runc's `created`): "2006-01-02T15:04:05.5Z", the
/// fraction without trailing zeros and left out when zero.
pub fn format_rfc3339_nano(t: SystemTime) -> String {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            match d.subsec_nanos() {
                0 => (-(d.as_secs() as i64), 0),
                n => (-(d.as_secs() as i64) - 1, 1_000_000_000 - n),
            }
        }
    };
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let second_of_day = secs.rem_euclid(86_400);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    );
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's days_to_civil algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn state(status: Status, annotations: &[(&str, &str)]) -> State {
        State {
            oci_version: "1.3.0".to_owned(),
            id: "c1".to_owned(),
            status,
            pid: 4422,
            bundle: PathBuf::from("/containers/redis"),
            annotations: annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            rootfs: PathBuf::from("/containers/redis/rootfs"),
            created: "2026-11-24T19:44:27.65800932Z".to_owned(),
            owner: String::new(),
        }
    }

    #[test]
    fn status_names() {
        assert_eq!(Status::Created.to_string(), "created");
        assert_eq!(Status::Paused.to_string(), "paused");
        assert_eq!(
            serde_json::to_string(&Status::Running).unwrap(),
            "\"running\""
        );
        assert_eq!(
            serde_json::from_str::<Status>("\"stopped\"").unwrap(),
            Status::Stopped
        );
    }

    #[test]
    fn oci_json_matches_hooks_format() {
        let s = state(Status::Running, &[("myKey", "myValue")]);
        assert_eq!(
            s.to_oci_json(),
            r#"{"ociVersion":"1.3.0","id":"c1","status":"running","pid":4422,"bundle":"/containers/redis","annotations":{"myKey":"myValue"}}"#
        );
        let mut stopped = state(Status::Stopped, &[]);
        stopped.pid = 0;
        assert_eq!(
            stopped.to_oci_json(),
            r#"{"ociVersion":"1.3.0","id":"c1","status":"stopped","bundle":"/containers/redis"}"#
        );
    }

    #[test]
    fn runc_json_matches_runc_state_output() {
        let s = state(Status::Created, &[("a", "b")]);
        let expected = "{\n  \"ociVersion\": \"1.3.0\",\n  \"id\": \"c1\",\n  \"pid\": 4422,\n  \"status\": \"created\",\n  \"bundle\": \"/containers/redis\",\n  \"rootfs\": \"/containers/redis/rootfs\",\n  \"created\": \"2026-11-24T19:44:27.65800932Z\",\n  \"annotations\": {\n    \"a\": \"b\"\n  },\n  \"owner\": \"\"\n}";
        assert_eq!(s.to_runc_json(), expected);
    }

    #[test]
    fn runc_json_stopped_pid_zero_and_no_empty_annotations() {
        let text = state(Status::Stopped, &[]).to_runc_json();
        assert!(text.contains("\"pid\": 0,"), "{text}");
        assert!(!text.contains("annotations"), "{text}");
        assert!(text.contains("\"owner\": \"\""), "{text}");
    }

    #[test]
    fn record_round_trips() {
        let s = state(Status::Paused, &[("k", "v")]);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&text).unwrap(), s);
    }

    #[test]
    fn rfc3339_nano_like_go() {
        let at =
            |secs: u64, nanos: u32| format_rfc3339_nano(UNIX_EPOCH + Duration::new(secs, nanos));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_700_000_000, 500_000_000), "2023-11-14T22:13:20.5Z");
        assert_eq!(
            at(1_700_000_000, 658_009_320),
            "2023-11-14T22:13:20.65800932Z"
        );
        assert_eq!(at(1_700_000_000, 1), "2023-11-14T22:13:20.000000001Z");
        assert_eq!(at(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert_eq!(at(4_107_542_399, 0), "2100-02-28T23:59:59Z");
        assert_eq!(
            format_rfc3339_nano(UNIX_EPOCH - Duration::new(1, 0)),
            "1969-12-31T23:59:59Z"
        );
        assert_eq!(
            format_rfc3339_nano(UNIX_EPOCH - Duration::new(0, 250_000_000)),
            "1969-12-31T23:59:59.75Z"
        );
    }
}
