//! The command line, runc's contract in one place.
//!
//! Engines (containerd's shim, conmon, Docker) call the runtime with runc's exact flags, so every
//! flag, alias and default here mirrors runc's. Handlers live in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Where container state lives unless `--root` says otherwise.
pub const DEFAULT_ROOT: &str = "/run/cella";

#[derive(Debug, Parser)]
#[command(
    name = "cella",
    version,
    about = "Run OCI containers",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,

    /// Set the log file to write cella logs to (default is stderr)
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Set the log format ('text' (default), or 'json')
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Root directory for storage of container state (this should be located in tmpfs)
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_ROOT)]
    pub root: PathBuf,

    /// Enable systemd cgroup support (expects cgroupsPath to be of form "slice:prefix:name")
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,

    /// Ignore cgroup permission errors ('true', 'false', or 'auto'). Not global: `spec` has a
    /// `--rootless` switch of its own, as in runc.
    #[arg(long, value_name = "VALUE", default_value = "auto")]
    pub rootless: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container
    Create(CreateArgs),
    /// Execute the user defined process in a created container
    Start(IdArgs),
    /// Create and run a container
    Run(RunArgs),
    /// Output the state of a container
    State(IdArgs),
    /// Kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill(KillArgs),
    /// Delete any resources held by the container often used with detached container
    Delete(DeleteArgs),
    /// Lists containers started by cella with the given root
    List(ListArgs),
    /// Create a new specification file
    Spec(SpecArgs),
    /// Show the enabled features
    Features,
    /// Execute new process inside the container
    Exec(Box<ExecArgs>),
    /// ps displays the processes running inside a container
    Ps(PsArgs),
    /// pause suspends all processes inside the container
    Pause(IdArgs),
    /// resume resumes all processes that have been previously paused
    Resume(IdArgs),
    /// update container resource constraints
    Update(Box<UpdateArgs>),
    /// display container events such as OOM notifications, cpu, memory, and IO usage statistics
    Events(EventsArgs),
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// The container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Path to the root of the bundle directory, defaults to the current directory
    #[arg(short, long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,

    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end
    /// of the console's pseudoterminal
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,

    /// Path to an AF_UNIX socket which will receive a pidfd of the process
    #[arg(long = "pidfd-socket", value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,

    /// Specify the file to write the process id to
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// Do not use pivot root to jail process inside rootfs
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,

    /// Do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,

    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,

    /// The container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,

    /// Detach from the container's process
    #[arg(short, long)]
    pub detach: bool,

    /// Do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Send the specified signal to all processes inside the container
    #[arg(short, long)]
    pub all: bool,

    /// The container id
    pub id: String,

    /// The signal, by name (KILL, SIGKILL) or number (9); SIGTERM when absent
    pub signal: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Forcibly delete the container if it is still running (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,

    /// The container id
    pub id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Select one of: table or json
    #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,

    /// Display only container IDs
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Path to the root of the bundle directory
    #[arg(short, long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,

    /// Generate a configuration for a rootless container
    #[arg(long = "rootless")]
    pub rootless: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end
    /// of the console's pseudoterminal
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,

    /// Path to an AF_UNIX socket which will receive a pidfd of the process
    #[arg(long = "pidfd-socket", value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,

    /// Current working directory in the container
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,

    /// Set environment variables
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,

    /// UID (format: <uid>[:<gid>])
    #[arg(short, long, value_name = "UID[:GID]")]
    pub user: Option<String>,

    /// Additional gids
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,

    /// Path to the process.json
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,

    /// Detach from the container's process
    #[arg(short, long)]
    pub detach: bool,

    /// Specify the file to write the process id to
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// Set the asm process label for the process commonly used with selinux
    #[arg(long = "process-label", value_name = "LABEL")]
    pub process_label: Option<String>,

    /// Set the apparmor profile for the process
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,

    /// Set the no new privileges value for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,

    /// Add a capability to the bounding set for the process
    #[arg(short, long, value_name = "CAP")]
    pub cap: Vec<String>,

    /// Pass N additional file descriptors to the container (stdio + N in total)
    #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,

    /// Run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.
    #[arg(long = "cgroup", value_name = "[CONTROLLER:]PATH")]
    pub cgroup: Vec<String>,

    /// Allow exec in a paused container
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,

    /// The container id
    pub id: String,

    /// The command and its arguments (unless --process is given)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PsFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// select one of: table or json
    #[arg(short, long, value_enum, default_value_t = PsFormat::Table)]
    pub format: PsFormat,

    /// The container id
    pub id: String,

    /// Options for ps(1) (default: -ef); everything after the id goes to ps as is
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PS_ARGS"
    )]
    pub ps_args: Vec<String>,
}

/// runc's `update` flags; values stay strings so the handler reports bad ones in runc's words
/// ("invalid value for memory: ...").
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// path to the file containing the resources to update or '-' to read from the standard
    /// input (all other options are then ignored)
    #[arg(short, long, value_name = "FILE")]
    pub resources: Option<PathBuf>,

    /// Specifies per cgroup weight, range is from 10 to 1000
    #[arg(long = "blkio-weight", value_name = "VALUE")]
    pub blkio_weight: Option<u16>,

    /// CPU CFS period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-period", value_name = "VALUE", allow_hyphen_values = true)]
    pub cpu_period: Option<String>,

    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-quota", value_name = "VALUE", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,

    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share", value_name = "VALUE", allow_hyphen_values = true)]
    pub cpu_share: Option<String>,

    /// CPU realtime period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(
        long = "cpu-rt-period",
        value_name = "VALUE",
        allow_hyphen_values = true
    )]
    pub cpu_rt_period: Option<String>,

    /// CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(
        long = "cpu-rt-runtime",
        value_name = "VALUE",
        allow_hyphen_values = true
    )]
    pub cpu_rt_runtime: Option<String>,

    /// CPU(s) to use
    #[arg(long = "cpuset-cpus", value_name = "VALUE")]
    pub cpuset_cpus: Option<String>,

    /// Memory node(s) to use
    #[arg(long = "cpuset-mems", value_name = "VALUE")]
    pub cpuset_mems: Option<String>,

    /// Kernel memory limit (ignored, as in runc)
    #[arg(long = "kernel-memory", value_name = "VALUE", hide = true)]
    pub kernel_memory: Option<String>,

    /// Kernel memory limit for TCP buffer (ignored, as in runc)
    #[arg(long = "kernel-memory-tcp", value_name = "VALUE", hide = true)]
    pub kernel_memory_tcp: Option<String>,

    /// Memory limit (in bytes)
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub memory: Option<String>,

    /// Memory reservation or soft_limit (in bytes)
    #[arg(
        long = "memory-reservation",
        value_name = "VALUE",
        allow_hyphen_values = true
    )]
    pub memory_reservation: Option<String>,

    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "VALUE", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,

    /// Maximum number of pids allowed in the container
    #[arg(long = "pids-limit", value_name = "VALUE", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,

    /// The string of Intel RDT/CAT L3 cache schema
    #[arg(long = "l3-cache-schema", value_name = "VALUE")]
    pub l3_cache_schema: Option<String>,

    /// The string of Intel RDT/MBA memory bandwidth schema
    #[arg(long = "mem-bw-schema", value_name = "VALUE")]
    pub mem_bw_schema: Option<String>,

    /// The container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// set the stats collection interval (Go duration: 5s, 100ms, 1m30s)
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub interval: String,

    /// display the container's stats then exit
    #[arg(long)]
    pub stats: bool,

    /// The container id
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_before_the_subcommand_as_containerd_passes_them() {
        let cli = Cli::try_parse_from([
            "cella",
            "--root",
            "/r",
            "--log",
            "/b/log.json",
            "--log-format",
            "json",
            "kill",
            "--all",
            "c1",
            "9",
        ])
        .unwrap();
        assert_eq!(cli.root, PathBuf::from("/r"));
        assert_eq!(cli.log_format, LogFormat::Json);
        match cli.command {
            Command::Kill(k) => {
                assert!(k.all);
                assert_eq!(k.id, "c1");
                assert_eq!(k.signal.as_deref(), Some("9"));
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn exec_stops_its_own_flags_at_the_command() {
        let cli = Cli::try_parse_from([
            "cella",
            "exec",
            "-e",
            "A=1",
            "--env",
            "B=2",
            "-u",
            "1000:1000",
            "-t",
            "c1",
            "sh",
            "-c",
            "ls -l",
        ])
        .unwrap();
        match cli.command {
            Command::Exec(e) => {
                assert_eq!(e.env, ["A=1", "B=2"]);
                assert_eq!(e.user.as_deref(), Some("1000:1000"));
                assert!(e.tty);
                assert_eq!(e.id, "c1");
                assert_eq!(e.command, ["sh", "-c", "ls -l"]);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn run_takes_create_flags() {
        let cli = Cli::try_parse_from([
            "cella",
            "run",
            "-d",
            "-b",
            "/bundle",
            "--pid-file",
            "/p",
            "--keep",
            "c2",
        ])
        .unwrap();
        match cli.command {
            Command::Run(r) => {
                assert!(r.detach && r.keep);
                assert_eq!(r.create.bundle, Some(PathBuf::from("/bundle")));
                assert_eq!(r.create.pid_file, Some(PathBuf::from("/p")));
                assert_eq!(r.create.id, "c2");
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}
