//! SCMP_ACT_NOTIFY: the runtime hands the listener to the seccomp agent at `listenerPath`
//! (config-linux.md, "The Container Process State"): one connection, one message whose
//! payload is the container process state and whose SCM_RIGHTS carry the listener, then
//! the connection is closed.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::LinuxSeccomp;

use serde_json::{json, Value};

use super::SeccompError;

/// The name of the listener in the state's `fds`.
pub const SECCOMP_FD_NAME: &str = "seccompFd";

/// The container process state for the process `pid` (as the runtime sees it); `state` is the
/// container's OCI state document, `metadata` the config's `listenerMetadata`.
pub fn process_state(pid: i32, metadata: Option<&str>, state: &str) -> String {
    let state: Value = serde_json::from_str(state).unwrap_or(Value::Null);
    let mut doc = json!({
        "ociVersion": runtime_spec::OCI_VERSION_MAX,
        "fds": [SECCOMP_FD_NAME],
        "pid": pid,
        "state": state,
    });
    if let Some(m) = metadata.filter(|m| !m.is_empty()) {
        doc["metadata"] = m.into();
    }
    doc.to_string()
}

/// Hands the listener of the process `pid` (as the runtime sees it) to the agent at the
/// config's `listenerPath`, with the container's OCI `state`. Our copy of the listener is
/// closed on return: from then on only the agent holds it.
pub fn hand_to_agent(
    config: Option<&LinuxSeccomp>,
    pid: i32,
    state: &str,
    listener: OwnedFd,
) -> Result<(), SeccompError> {
    let path = config
        .and_then(|s| s.listener_path().as_deref())
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or(SeccompError::NoListenerPath)?;
    let metadata = config.and_then(|s| s.listener_metadata().as_deref());
    let payload = process_state(pid, metadata, state);
    send_to_agent(path, &payload, listener.as_fd())
}

/// Connects to the agent's socket at `path` and sends `payload` with `listener`.
pub fn send_to_agent(
    path: &Path,
    payload: &str,
    listener: BorrowedFd<'_>,
) -> Result<(), SeccompError> {
    crate::process::channel::send_fd_to(path, listener, payload).map_err(|e| SeccompError::Agent {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;

    #[test]
    fn state_has_the_spec_fields() {
        let state =
            r#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":42,"bundle":"/b"}"#;
        let doc: Value = serde_json::from_str(&process_state(42, Some("K=V"), state)).unwrap();
        assert_eq!(doc["ociVersion"], runtime_spec::OCI_VERSION_MAX);
        assert_eq!(doc["fds"], json!(["seccompFd"]));
        assert_eq!(doc["pid"], 42);
        assert_eq!(doc["metadata"], "K=V");
        assert_eq!(doc["state"]["id"], "c1");
        assert_eq!(doc["state"]["status"], "creating");
        let doc: Value = serde_json::from_str(&process_state(7, Some(""), state)).unwrap();
        assert!(doc.get("metadata").is_none());
    }

    #[test]
    fn agent_gets_payload_and_fd_then_eof() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let server = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let file = tempfile::tempfile().unwrap();
        send_to_agent(&path, "{\"pid\":1}", file.as_fd()).unwrap();
        let (mut conn, _) = server.accept().unwrap();
        let mut text = String::new();
        // The runtime closes its end after the one message.
        conn.read_to_string(&mut text).unwrap();
        assert_eq!(text, "{\"pid\":1}");

        let err = send_to_agent(&dir.path().join("none"), "{}", file.as_fd()).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("seccomp notify: send the listener to "));
    }
}
