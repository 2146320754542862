//! `run`: create + start, then (in the foreground) forward signals, wait, delete.

use std::path::Path;

use super::foreground;
use super::lifecycle::create_request;
use crate::cli::RunArgs;
use crate::container::{self, create};

pub fn run(root: &Path, a: &RunArgs) -> anyhow::Result<u8> {
    let req = create_request(root, &a.create, a.detach)?;
    // Block before the clone so no signal is lost between start and the wait loop; the
    // container process clears its mask before execve.
    let guard = (!a.detach).then(foreground::block_signals).transpose()?;
    let created = create::create(&req)?;
    let mut c = created.container;
    if let Err(e) = container::start::start(&mut c) {
        let _ = container::delete::delete(&c, true);
        return Err(e.into());
    }
    let Some(guard) = guard else { return Ok(0) };
    let pid = c.pid().expect("a started container has a pid");
    let code = foreground::supervise(pid, &guard, created.console)?;
    if !a.keep {
        container::delete::delete(&c, true)?;
    }
    Ok(code)
}
