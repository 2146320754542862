//! `process.terminal`: the pty made in the container, its master sent on `--console-socket`
//! (create, run -d, exec -d) or proxied by a foreground `run`, `consoleSize`, /dev/console,
//! and runc's refusals of a terminal nobody could reach.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use integration_tests::{
    read_pty_until, requires, setup, value, Bundle, ConsoleMessage, ConsoleSocket, Req, Runtime,
};
use serde_json::json;

const SECS: Duration = Duration::from_secs(10);

/// A bundle with `terminal: true` and a 30x100 console running /probe.sh.
fn terminal_bundle(rt: &Runtime, probe: &str) -> Bundle {
    let mut b = Bundle::new(rt, &["/probe.sh"]);
    b.edit(|c| {
        c["process"]["terminal"] = true.into();
        c["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    });
    b.script("/probe.sh", probe);
    b
}

/// Shell lines that print the terminal as the process sees it: its name, its size, and the
/// device numbers (hex, as busybox stat prints them) and type of it and of /dev/console.
const TTY_PROBE: &str = "echo tty=$(tty)\necho size=$(stty size)\n\
     echo ttydev=$(stat -c %t:%T $(tty))\necho console=$(stat -c %t:%T /dev/console)\n\
     echo consoletype=$(stat -c %F /dev/console)\necho ready";

/// Checks what [`TTY_PROBE`] printed: a /dev/pts/N terminal, the console size asked for, and
/// /dev/console the same char device 136:N. Returns N.
#[track_caller]
fn check_tty_probe(out: &str, size: &str) -> u32 {
    let tty = value(out, "tty");
    let n: u32 = tty
        .strip_prefix("/dev/pts/")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("`tty` did not print /dev/pts/N:\n{out}"));
    assert_eq!(value(out, "size"), size, "{out}");
    assert_eq!(value(out, "ttydev"), format!("88:{n:x}"), "{out}");
    assert_eq!(value(out, "console"), format!("88:{n:x}"), "{out}");
    assert_eq!(value(out, "consoletype"), "character special file", "{out}");
    n
}

/// Shell lines that wait (up to 5 s) until the terminal is `size`: a foreground runtime copies
/// its own terminal's size to the pty once the process runs (runc too), so the first look may
/// see the config's consoleSize or 0 0.
fn wait_for_size(size: &str) -> String {
    format!(
        "i=0; while [ \"$(stty size 2>/dev/null)\" != \"{size}\" ] && [ $i -lt 100 ]; do \
         sleep 0.05; i=$((i+1)); done\n"
    )
}

/// Writes `line` and a newline to the pty master, as a user typing.
fn type_line(master: &OwnedFd, line: &str) {
    let data = format!("{line}\n");
    let n = nix::unistd::write(master, data.as_bytes()).expect("write to the pty master");
    assert_eq!(n, data.len());
}

/// Exactly one message carrying one descriptor, a pty master; returns its number.
#[track_caller]
fn check_one_master(msg: &ConsoleMessage) -> u32 {
    assert_eq!(
        (msg.message_count, msg.fd_count),
        (1, 1),
        "expected exactly one message carrying one descriptor: {msg:?}"
    );
    msg.pty_index()
        .unwrap_or_else(|| panic!("the descriptor is not a pty master: {msg:?}"))
}

/// runc 1.1.5 sends the name of the file it opened ("/dev/ptmx"), cella the pty's
/// ("/dev/pts/N"); containerd ignores it. Either names this pty.
#[track_caller]
fn check_payload(msg: &ConsoleMessage, n: u32) {
    assert!(
        msg.payload == "/dev/ptmx" || msg.payload == format!("/dev/pts/{n}"),
        "payload names neither /dev/ptmx nor /dev/pts/{n}: {msg:?}"
    );
}

#[test]
fn create_sends_the_pty_master_on_the_console_socket() {
    let Some(rt) = setup() else { return };
    let b = terminal_bundle(&rt, &format!("{TTY_PROBE}\nread line\necho got=$line"));
    let sock = ConsoleSocket::new();
    b.create_with(&["--console-socket", &sock.arg()]).ok();
    let msg = sock.receive(SECS);
    let n = check_one_master(&msg);
    check_payload(&msg, n);

    b.start().ok();
    let out = read_pty_until(&msg.master, SECS, |o| o.contains("ready"));
    assert_eq!(
        check_tty_probe(&out, "30 100"),
        n,
        "the master is not the container's tty"
    );
    type_line(&msg.master, "hello there");
    let out = read_pty_until(&msg.master, SECS, |o| o.contains("got="));
    assert_eq!(value(&out, "got"), "hello there", "{out}");
    b.wait_status("stopped");
    b.delete().ok();
    b.assert_no_leftovers();
}

/// Runs `shell` (which calls the runtime) under util-linux `script`, so the runtime's stdio is
/// a terminal, feeding it `input`. Returns script's exit code (the command's, with -e) and
/// what went through the terminal, carriage returns dropped.
fn under_script(shell: &str, input: &str) -> (Option<i32>, String) {
    let mut child = Command::new("script")
        .args(["-qec", shell, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn script");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    // script ignores the end of its input; the container reads only what is sent.
    let pid = child.id();
    let out = std::thread::spawn(move || child.wait_with_output());
    let start = std::time::Instant::now();
    while !out.is_finished() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("script {shell:?} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stdin);
    let out = out.join().unwrap().expect("wait for script");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    let err = String::from_utf8_lossy(&out.stderr);
    (out.status.code(), format!("{text}{err}"))
}

#[test]
fn foreground_run_proxies_the_pty_and_passes_the_exit_status() {
    let Some(rt) = setup() else { return };
    if !requires(&[Req::HostTool("script")]) {
        return;
    }
    let probe = format!(
        "{}{TTY_PROBE}\nread line\necho got=$line\nexit 3",
        wait_for_size("22 77")
    );
    let b = terminal_bundle(&rt, &probe);
    // The runtime's own terminal is 22x77: the container's pty takes its size from it.
    let shell = format!(
        "stty rows 22 cols 77; exec {} --root {} run --bundle {} {}",
        rt.bin().display(),
        rt.root().display(),
        b.path().display(),
        b.id()
    );
    let (code, out) = under_script(&shell, "hello there\n");
    assert_eq!(
        code,
        Some(3),
        "the exit status did not pass through:\n{out}"
    );
    check_tty_probe(&out, "22 77");
    assert_eq!(value(&out, "got"), "hello there", "{out}");
    b.assert_no_leftovers();
}

#[test]
fn run_detached_sends_the_pty_master_on_the_console_socket() {
    let Some(rt) = setup() else { return };
    let b = terminal_bundle(&rt, &format!("{TTY_PROBE}\nread line\necho got=$line"));
    let sock = ConsoleSocket::new();
    b.run_with(&["--detach", "--console-socket", &sock.arg()])
        .ok();
    let msg = sock.receive(SECS);
    let n = check_one_master(&msg);
    check_payload(&msg, n);
    let out = read_pty_until(&msg.master, SECS, |o| o.contains("ready"));
    assert_eq!(check_tty_probe(&out, "30 100"), n);
    type_line(&msg.master, "detached");
    let out = read_pty_until(&msg.master, SECS, |o| o.contains("got="));
    assert_eq!(value(&out, "got"), "detached", "{out}");
    b.wait_status("stopped");
    b.delete().ok();
    b.assert_no_leftovers();
}

const NO_SOCKET: &str = "cannot allocate tty if runc will detach without setting console socket";
const NO_TTY: &str = "cannot use console socket if runc will not detach or allocate tty";

#[test]
fn a_detached_terminal_needs_a_console_socket() {
    let Some(rt) = setup() else { return };
    let b = terminal_bundle(&rt, "echo ran > /ran");
    b.create().failed().says(NO_SOCKET);
    b.assert_no_leftovers();
    b.run_with(&["--detach"]).failed().says(NO_SOCKET);
    b.assert_no_leftovers();
    assert!(!b.rootfs().join("ran").exists(), "the process ran");
}

#[test]
fn a_console_socket_needs_a_terminal_and_a_detached_runtime() {
    let Some(rt) = setup() else { return };
    let mut b = terminal_bundle(&rt, "echo ran > /ran");
    let sock = ConsoleSocket::new();
    // A foreground `run` proxies the terminal itself: nobody would read the socket.
    b.run_with(&["--console-socket", &sock.arg()])
        .failed()
        .says(NO_TTY);
    b.assert_no_leftovers();
    b.edit(|c| c["process"]["terminal"] = false.into());
    for detach in [&["create"][..], &["run", "--detach"]] {
        let mut extra = detach[1..].to_vec();
        extra.extend(["--console-socket", sock.path().to_str().unwrap()]);
        b.call(detach[0], &extra).output().failed().says(NO_TTY);
        b.assert_no_leftovers();
    }
    assert!(!b.rootfs().join("ran").exists(), "the process ran");
    assert!(!sock.was_connected(), "the runtime connected to the socket");
}

/// A running container with a terminal whose init (pts/0) sleeps, its master kept open.
fn running_terminal_container(rt: &Runtime) -> (Bundle, ConsoleMessage) {
    let b = terminal_bundle(rt, "exec sleep 1000");
    let sock = ConsoleSocket::new();
    b.create_with(&["--console-socket", &sock.arg()]).ok();
    let msg = sock.receive(SECS);
    b.start().ok();
    (b, msg)
}

#[test]
fn exec_with_a_tty_sends_a_new_pty_master_on_the_console_socket() {
    let Some(rt) = setup() else { return };
    let (b, init) = running_terminal_container(&rt);
    let init_n = check_one_master(&init);
    let sock = ConsoleSocket::new();
    let probe = "echo tty=$(tty); echo ttydev=$(stat -c %t:%T $(tty)); echo ready; \
                 read line; echo got=$line";
    rt.run(&[
        "exec",
        "--detach",
        "--tty",
        "--console-socket",
        &sock.arg(),
        b.id(),
        "/bin/sh",
        "-c",
        probe,
    ])
    .ok();
    let msg = sock.receive(SECS);
    let n = check_one_master(&msg);
    assert_ne!(n, init_n, "exec got the init's pty");
    check_payload(&msg, n);
    let out = read_pty_until(&msg.master, SECS, |o| o.contains("ready"));
    assert_eq!(value(&out, "tty"), format!("/dev/pts/{n}"), "{out}");
    assert_eq!(value(&out, "ttydev"), format!("88:{n:x}"), "{out}");
    type_line(&msg.master, "from exec");
    let out = read_pty_until(&msg.master, SECS, |o| o.contains("got="));
    assert_eq!(value(&out, "got"), "from exec", "{out}");
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn exec_refuses_a_terminal_nobody_could_reach() {
    let Some(rt) = setup() else { return };
    let (b, _init) = running_terminal_container(&rt);
    let sock = ConsoleSocket::new();
    let s = sock.arg();
    let id = b.id();
    let marker = "touch /exec-ran";
    rt.run(&["exec", "-d", "-t", id, "sh", "-c", marker])
        .failed()
        .says(NO_SOCKET);
    for flags in [
        &["-d", "--console-socket", &s][..],
        &["-t", "--console-socket", &s],
    ] {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.extend([id, "sh", "-c", marker]);
        let out = rt.run(&args);
        assert_eq!(out.code(), Some(255), "{out:?}");
        out.says(NO_TTY);
    }
    assert!(!sock.was_connected(), "the runtime connected to the socket");
    assert!(
        !b.rootfs().join("exec-ran").exists(),
        "an exec'd process ran"
    );
    assert_eq!(b.status(), "running");
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn foreground_exec_with_a_tty_proxies_it_and_passes_the_exit_status() {
    let Some(rt) = setup() else { return };
    if !requires(&[Req::HostTool("script")]) {
        return;
    }
    // No terminal for init and no consoleSize: the exec'd process's pty is its own.
    let b = Bundle::new(&rt, &["sleep", "1000"]);
    b.create().ok();
    b.start().ok();
    b.script(
        "/exec-probe.sh",
        &format!(
            "{}echo tty=$(tty)\necho size=$(stty size)\nread line\necho got=$line\nexit 4",
            wait_for_size("21 66")
        ),
    );
    let shell = format!(
        "stty rows 21 cols 66; exec {} --root {} exec -t {} /exec-probe.sh",
        rt.bin().display(),
        rt.root().display(),
        b.id()
    );
    let (code, out) = under_script(&shell, "typed\n");
    assert_eq!(
        code,
        Some(4),
        "the exit status did not pass through:\n{out}"
    );
    assert!(value(&out, "tty").starts_with("/dev/pts/"), "{out}");
    assert_eq!(value(&out, "size"), "21 66", "{out}");
    assert_eq!(value(&out, "got"), "typed", "{out}");
    assert_eq!(b.status(), "running");
    b.delete_force().ok();
    b.assert_no_leftovers();
}

/// An exec'd process's pty is its own: unlike init's it does not go over the container's
/// /dev/console, which the container's other processes share. A bind mount there would outlive
/// the short-lived process and its pty, and the next `exec -t` would fail (containerd's
/// `ctr task exec -t` did, with ENOENT on /dev/console).
#[test]
fn exec_with_a_tty_leaves_the_containers_dev_console_alone() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "1000"]);
    b.create().ok();
    b.start().ok();
    for round in 0..3 {
        let sock = ConsoleSocket::new();
        rt.run(&[
            "exec",
            "--detach",
            "--tty",
            "--console-socket",
            &sock.arg(),
            b.id(),
            "/bin/sh",
            "-c",
            "echo tty=$(tty)",
        ])
        .ok();
        let msg = sock.receive(SECS);
        let out = read_pty_until(&msg.master, SECS, |o| o.contains("tty="));
        assert!(
            value(&out, "tty").starts_with("/dev/pts/"),
            "round {round}: {out}"
        );
    }
    let mounts = std::fs::read_to_string(format!("/proc/{}/mountinfo", b.pid())).unwrap();
    let console: Vec<&str> = mounts
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some("/dev/console"))
        .collect();
    assert!(
        console.is_empty(),
        "exec mounted on /dev/console: {console:?}"
    );
    b.delete_force().ok();
    b.assert_no_leftovers();
}
