//! `--pidfd-socket` (runc 1.2): the runtime sends a pidfd of the container's (or exec'd)
//! process over an AF_UNIX socket, in one SCM_RIGHTS message.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::Duration;

use integration_tests::{requires, Bundle, Req, Runtime};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

fn setup() -> Option<Runtime> {
    // runc 1.1.5 has no --pidfd-socket: these tests are about cella only.
    requires(&[Req::Root])
        .then(Runtime::new)
        .filter(Runtime::is_cella)
}

/// Accepts one connection and returns the fds of its first message.
fn receive_fds(listener: &UnixListener) -> Vec<OwnedFd> {
    let (conn, _) = listener.accept().expect("the runtime connects");
    let mut buf = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .unwrap();
    let mut fds = Vec::new();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(raw) = c {
            // SAFETY: the kernel installed these fds in this process for us.
            fds.extend(
                raw.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    fds
}

/// The pid a pidfd refers to, from /proc/self/fdinfo ("Pid:\tN").
fn pidfd_pid(fd: &OwnedFd) -> i32 {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse().ok())
        .expect("a pidfd has a Pid line")
}

#[test]
fn create_sends_a_pidfd_of_the_container_process() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    let sock = rt.scratch().join("pidfd.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || receive_fds(&listener));
    b.create_with(&["--pidfd-socket", sock.to_str().unwrap()])
        .ok();
    let fds = receiver.join().unwrap();
    assert_eq!(fds.len(), 1, "exactly one fd");
    assert_eq!(pidfd_pid(&fds[0]), b.pid());
    b.delete_force().ok();
    b.assert_no_leftovers();
}

#[test]
fn exec_sends_a_pidfd_of_the_new_process() {
    let Some(rt) = setup() else { return };
    let b = Bundle::new(&rt, &["sleep", "100"]);
    b.run_with(&["-d"]).ok();
    let sock = rt.scratch().join("exec-pidfd.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || receive_fds(&listener));
    let pid_file = rt.scratch().join("exec.pid");
    rt.run(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--pidfd-socket",
        sock.to_str().unwrap(),
        b.id(),
        "sleep",
        "50",
    ])
    .ok();
    let fds = receiver.join().unwrap();
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(fds.len(), 1);
    assert_eq!(pidfd_pid(&fds[0]), pid);
    std::thread::sleep(Duration::from_millis(10));
    b.delete_force().ok();
    b.assert_no_leftovers();
}
