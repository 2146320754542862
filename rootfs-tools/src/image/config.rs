//! The image configuration and the runtime config.json made from it, as the OCI image spec's
//! conversion rules say: args = Entrypoint + Cmd, Env, WorkingDir, User (names looked up in the
//! image's own /etc/passwd and /etc/group), StopSignal, Labels and ExposedPorts as annotations.
//! Everything else comes from cella's default spec.

use std::collections::{BTreeMap, HashMap};

use oci_spec::runtime::{Spec, User};
use serde::Deserialize;

pub const ANNOTATION_STOP_SIGNAL: &str = "org.opencontainers.image.stopSignal";
pub const ANNOTATION_EXPOSED_PORTS: &str = "org.opencontainers.image.exposedPorts";
const ANNOTATION_OS: &str = "org.opencontainers.image.os";
const ANNOTATION_ARCHITECTURE: &str = "org.opencontainers.image.architecture";
const ANNOTATION_AUTHOR: &str = "org.opencontainers.image.author";
const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// An image configuration (OCI or docker; both use these field names).
#[derive(Debug, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub config: Option<ContainerConfig>,
    pub rootfs: RootFs,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub stop_signal: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UserError {
    #[error("user {0:?} of the image is not in its /etc/passwd")]
    NoUser(String),
    #[error("group {0:?} of the image is not in its /etc/group")]
    NoGroup(String),
}

/// The ids a process of the image runs with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> Vec<PasswdEntry<'_>> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let _password = fields.next()?;
            let uid = fields.next()?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some(PasswdEntry { name, uid, gid })
        })
        .collect()
}

fn group_entries(text: &str) -> Vec<GroupEntry<'_>> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let _password = fields.next()?;
            let gid = fields.next()?.parse().ok()?;
            let members = fields
                .next()
                .unwrap_or("")
                .split(',')
                .filter(|m| !m.is_empty())
                .collect();
            Some(GroupEntry { name, gid, members })
        })
        .collect()
}

/// Resolves the image's `User` (`name`, `uid`, `name:group`, `uid:gid`, mixed) against the
/// image's /etc/passwd and /etc/group (`None` when the image has none). Names must exist;
/// numbers are taken as they are. Without an explicit group the user's primary group comes from
/// /etc/passwd (0 when the uid has no entry) and the groups listing the user are added, as runc
/// and Docker do; an explicit group is the only group.
pub fn resolve_user(
    user: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<Ids, UserError> {
    let users = passwd_entries(passwd.unwrap_or(""));
    let groups = group_entries(group.unwrap_or(""));
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let entry = match user_part.parse::<u32>() {
        Ok(uid) => users.iter().find(|e| e.uid == uid),
        Err(_) if user_part.is_empty() => users.iter().find(|e| e.uid == 0),
        Err(_) => Some(
            users
                .iter()
                .find(|e| e.name == user_part)
                .ok_or_else(|| UserError::NoUser(user_part.to_string()))?,
        ),
    };
    let uid = user_part
        .parse()
        .unwrap_or_else(|_| entry.map_or(0, |e| e.uid));
    match group_part {
        Some(group_part) => {
            let gid = match group_part.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => groups
                    .iter()
                    .find(|g| g.name == group_part)
                    .map(|g| g.gid)
                    .ok_or_else(|| UserError::NoGroup(group_part.to_string()))?,
            };
            Ok(Ids {
                uid,
                gid,
                additional_gids: Vec::new(),
            })
        }
        None => {
            let gid = entry.map_or(0, |e| e.gid);
            let mut additional_gids = Vec::new();
            if let Some(entry) = entry {
                for g in &groups {
                    if g.members.contains(&entry.name)
                        && g.gid != gid
                        && !additional_gids.contains(&g.gid)
                    {
                        additional_gids.push(g.gid);
                    }
                }
            }
            Ok(Ids {
                uid,
                gid,
                additional_gids,
            })
        }
    }
}

/// The runtime config for a container of the image: cella's default spec with the image's
/// process and annotations, terminal off, rootfs `rootfs`. The second value lists what the
/// caller should tell the user.
pub fn spec_for_image(image: &ImageConfig, ids: &Ids) -> (Spec, Vec<String>) {
    let mut warnings = Vec::new();
    let mut spec = runtime_spec::default_spec();
    let empty = ContainerConfig::default();
    let config = image.config.as_ref().unwrap_or(&empty);
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_terminal(Some(false));

    let args: Vec<String> = config
        .entrypoint
        .iter()
        .flatten()
        .chain(config.cmd.iter().flatten())
        .cloned()
        .collect();
    if args.is_empty() {
        warnings.push(format!(
            "the image has no Entrypoint or Cmd: config.json runs {:?}",
            process.args().clone().unwrap_or_default()
        ));
    } else {
        process.set_args(Some(args));
    }

    let mut env: Vec<String> = config.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        // Docker's rule: an image without PATH gets the default one.
        let default_path = process
            .env()
            .iter()
            .flatten()
            .find(|e| e.starts_with("PATH="))
            .cloned();
        env.extend(default_path);
    }
    process.set_env(Some(env));

    let cwd = match config.working_dir.as_deref() {
        None | Some("") => "/".to_string(),
        Some(dir) if dir.starts_with('/') => dir.to_string(),
        Some(dir) => format!("/{dir}"),
    };
    process.set_cwd(cwd.into());

    let mut user = User::default();
    user.set_uid(ids.uid);
    user.set_gid(ids.gid);
    if !ids.additional_gids.is_empty() {
        user.set_additional_gids(Some(ids.additional_gids.clone()));
    }
    process.set_user(user);
    spec.set_process(Some(process));

    let mut annotations: HashMap<String, String> = HashMap::new();
    for (key, value) in [
        (ANNOTATION_OS, Some(&image.os)),
        (ANNOTATION_ARCHITECTURE, Some(&image.architecture)),
        (ANNOTATION_AUTHOR, image.author.as_ref()),
        (ANNOTATION_CREATED, image.created.as_ref()),
        (ANNOTATION_STOP_SIGNAL, config.stop_signal.as_ref()),
    ] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            annotations.insert(key.to_string(), value.clone());
        }
    }
    if let Some(ports) = config.exposed_ports.as_ref().filter(|p| !p.is_empty()) {
        let ports: Vec<&str> = ports.keys().map(String::as_str).collect();
        annotations.insert(ANNOTATION_EXPOSED_PORTS.to_string(), ports.join(","));
    }
    // Labels last: the conversion rules let them override the derived annotations.
    for (key, value) in config.labels.iter().flatten() {
        annotations.insert(key.clone(), value.clone());
    }
    spec.set_annotations(Some(annotations));
    (spec, warnings)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
