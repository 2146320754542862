//! state, list, spec, features: commands that print documents.

use std::io::Write;
use std::path::Path;

use crate::cli::{ListArgs, ListFormat, SpecArgs};
use crate::container::{Container, ContainerError};

fn state_doc(c: &Container) -> runtime_spec::State {
    crate::container::state_doc(c, c.status())
}

/// As runc lists it: with the owner of the state directory (`state` leaves it empty), looked
/// up here rather than at every `create`.
fn list_doc(c: &Container) -> runtime_spec::State {
    let mut doc = state_doc(c);
    if let Ok(meta) = std::fs::metadata(&c.dir) {
        let uid = std::os::unix::fs::MetadataExt::uid(&meta);
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        doc.owner = user_name(&passwd, uid).map_or_else(|| format!("#{uid}"), str::to_owned);
    }
    doc
}

/// The name of `uid` in a passwd file, read directly as runc does (no NSS: a static binary
/// cannot load its modules reliably).
fn user_name(passwd: &str, uid: u32) -> Option<&str> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse() == Ok(uid)).then_some(name)
    })
}

pub fn state(root: &Path, id: &str) -> anyhow::Result<()> {
    let c = Container::peek(root, id)?;
    println!("{}", state_doc(&c).to_runc_json());
    Ok(())
}

/// Containers under `root`, sorted by id; ones that vanish while we look are skipped.
fn containers(root: &Path) -> anyhow::Result<Vec<Container>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::anyhow!("read {}: {e}", root.display())),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        match Container::peek(root, &id) {
            Ok(c) => out.push(c),
            Err(ContainerError::NotExist) => {}
            Err(e) => log::warn!("skipping {id}: {e}"),
        }
    }
    out.sort_by(|a, b| a.record.id.cmp(&b.record.id));
    Ok(out)
}

pub fn list(root: &Path, a: &ListArgs) -> anyhow::Result<()> {
    let all = containers(root)?;
    let mut stdout = std::io::stdout().lock();
    if a.quiet {
        for c in &all {
            writeln!(stdout, "{}", c.record.id)?;
        }
        return Ok(());
    }
    match a.format {
        ListFormat::Json => {
            let docs: Vec<_> = all.iter().map(list_doc).collect();
            let items: Vec<_> = docs.iter().map(runtime_spec::State::runc_state).collect();
            writeln!(stdout, "{}", serde_json::to_string(&items)?)?;
        }
        ListFormat::Table => {
            let mut rows =
                vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
            for c in &all {
                let doc = list_doc(c);
                let s = doc.runc_state();
                rows.push([
                    s.id.to_owned(),
                    s.pid.to_string(),
                    s.status.to_string(),
                    s.bundle.display().to_string(),
                    s.created.to_owned(),
                    s.owner.to_owned(),
                ]);
            }
            write!(stdout, "{}", table(&rows))?;
        }
    }
    Ok(())
}

/// Columns padded like Go's tabwriter with minwidth 12, padding 3 (runc's settings).
fn table(rows: &[[String; 6]]) -> String {
    let mut widths = [0usize; 6];
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count() + 3).max(12);
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}

pub fn spec(a: &SpecArgs) -> anyhow::Result<()> {
    let bundle = a
        .bundle
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let rootless = a.rootless.then(|| {
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    });
    runtime_spec::write_default_spec(&bundle, rootless)?;
    Ok(())
}

pub fn features() -> anyhow::Result<()> {
    let mut doc = runtime_spec::features();
    crate::seccomp::host_features(&mut doc);
    print!("{}", doc.to_json());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_come_from_the_passwd_file() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\n# comment\nbad\nsvc:x:1000:1000::/:/bin/sh\n";
        assert_eq!(user_name(passwd, 0), Some("root"));
        assert_eq!(user_name(passwd, 1000), Some("svc"));
        assert_eq!(user_name(passwd, 7), None);
    }

    #[test]
    fn table_pads_like_tabwriter() {
        let rows = vec![
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from),
            ["c1", "42", "running", "/b", "2026-01-01T00:00:00Z", "root"].map(String::from),
        ];
        let t = table(&rows);
        let first: Vec<&str> = t.lines().collect();
        assert_eq!(
            first[0],
            "ID          PID         STATUS      BUNDLE      CREATED                OWNER"
        );
        assert_eq!(
            first[1],
            "c1          42          running     /b          2026-01-01T00:00:00Z   root"
        );
    }
}
