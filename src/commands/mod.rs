//! One handler per subcommand.

mod events;
mod exec;
mod foreground;
mod lifecycle;
mod ps;
mod query;
mod run;
mod units;
mod update;

use crate::cli::{Cli, Command};

/// Runs the parsed command; the value is the process exit status.
pub fn dispatch(cli: &Cli) -> anyhow::Result<u8> {
    if cli.systemd_cgroup {
        anyhow::bail!("systemd cgroup driver is not supported: systemd is not running cella's cgroups (--systemd-cgroup)");
    }
    let root = cli.root.as_path();
    log::debug!("{:?}", cli.command);
    match &cli.command {
        Command::Create(a) => lifecycle::create(root, a).map(|()| 0),
        Command::Start(a) => lifecycle::start(root, &a.id).map(|()| 0),
        Command::Run(a) => run::run(root, a),
        Command::Kill(a) => lifecycle::kill(root, a).map(|()| 0),
        Command::Delete(a) => lifecycle::delete(root, a).map(|()| 0),
        Command::State(a) => query::state(root, &a.id).map(|()| 0),
        Command::List(a) => query::list(root, a).map(|()| 0),
        Command::Spec(a) => query::spec(a).map(|()| 0),
        Command::Features => query::features().map(|()| 0),
        Command::Exec(a) => exec::exec(root, a),
        Command::Ps(a) => ps::ps(root, a).map(|()| 0),
        Command::Pause(a) => ps::pause(root, &a.id).map(|()| 0),
        Command::Resume(a) => ps::resume(root, &a.id).map(|()| 0),
        Command::Update(a) => update::update(root, a).map(|()| 0),
        Command::Events(a) => events::events(root, a).map(|()| 0),
    }
}
