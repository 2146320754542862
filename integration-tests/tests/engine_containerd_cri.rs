//! containerd's CRI plugin (kubelet's path) runs a pod through the runtime under test: a CRI v1
//! client over the daemon's unix socket runs a pod sandbox (runtime handler whose BinaryName is
//! the runtime), two containers, ExecSync, a resource update, reads the container logs CRI
//! writes, stops and removes everything, and the test checks that nothing is left.
//!
//!   CELLA_RUNTIME=/usr/sbin/runc cargo test -p integration-tests --test engine_containerd_cri

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use integration_tests::containerd::{Containerd, BUSYBOX_IMAGE, CRI_HANDLER, PAUSE_IMAGE};

/// One CRI call with a time limit; panics with the call's name on error or timeout.
async fn call<T>(
    what: &str,
    f: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> T {
    match tokio::time::timeout(Duration::from_secs(60), f).await {
        Ok(Ok(r)) => r.into_inner(),
        Ok(Err(status)) => panic!("CRI {what}: {status}"),
        Err(_) => panic!("CRI {what}: no answer after 60s"),
    }
}

async fn connect(socket: &Path) -> Channel {
    let socket = socket.to_path_buf();
    Endpoint::try_from("http://[::]")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
        .expect("connect to containerd's CRI socket")
}

/// kubelet's usual namespaces, with the node's network (no CNI here).
fn namespaces() -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

fn container(name: &str, script: &str) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: BUSYBOX_IMAGE.into(),
            ..Default::default()
        }),
        command: vec!["sh".into(), "-c".into(), script.into()],
        log_path: format!("{name}.log"),
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(namespaces()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn status(rs: &mut RuntimeServiceClient<Channel>, id: &str) -> ContainerStatus {
    let req = ContainerStatusRequest {
        container_id: id.into(),
        verbose: false,
    };
    call("ContainerStatus", rs.container_status(req))
        .await
        .status
        .expect("a container status")
}

async fn wait_exited(rs: &mut RuntimeServiceClient<Channel>, id: &str) -> ContainerStatus {
    let start = Instant::now();
    loop {
        let s = status(rs, id).await;
        if s.state == ContainerState::ContainerExited as i32 {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{id} still {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until CRI's image store has `image` (it learns of `ctr images import` by event).
async fn wait_image(is: &mut ImageServiceClient<Channel>, image: &str) {
    let start = Instant::now();
    loop {
        let req = ImageStatusRequest {
            image: Some(ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            verbose: false,
        };
        if call("ImageStatus", is.image_status(req))
            .await
            .image
            .is_some()
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "CRI does not see {image}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The lines of `stream` in a CRI log ("<time> <stream> <tag> <text>", tag F for a full
/// line), as "<tag> <text>".
fn log_lines(log: &str, stream: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ' ');
            let (_time, s, rest) = (f.next()?, f.next()?, f.next()?);
            (s == stream).then(|| rest.to_string())
        })
        .collect()
}

async fn pod_lifecycle(d: &Containerd) {
    let channel = connect(&d.socket()).await;
    let mut rs = RuntimeServiceClient::new(channel.clone());
    let mut is = ImageServiceClient::new(channel);

    let v = call("Version", rs.version(VersionRequest::default())).await;
    assert_eq!(v.runtime_name, "containerd");
    wait_image(&mut is, PAUSE_IMAGE).await;
    wait_image(&mut is, BUSYBOX_IMAGE).await;

    let log_dir = d.log_dir().join("pod");
    std::fs::create_dir_all(&log_dir).unwrap();
    let sandbox_config = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "pod".into(),
            uid: d.tag().into(),
            namespace: "cella-test".into(),
            attempt: 0,
        }),
        // No hostname: kubelet sets none for a pod on the node's network (runtimes refuse a
        // hostname without a private UTS namespace).
        log_directory: log_dir.display().to_string(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: format!("/{}", d.tag()),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let req = RunPodSandboxRequest {
        config: Some(sandbox_config.clone()),
        runtime_handler: CRI_HANDLER.into(),
    };
    let pod = call("RunPodSandbox", rs.run_pod_sandbox(req))
        .await
        .pod_sandbox_id;
    let req = PodSandboxStatusRequest {
        pod_sandbox_id: pod.clone(),
        verbose: false,
    };
    let ps = call("PodSandboxStatus", rs.pod_sandbox_status(req))
        .await
        .status
        .unwrap();
    assert_eq!(ps.state, PodSandboxState::SandboxReady as i32, "{ps:?}");
    assert_eq!(ps.runtime_handler, CRI_HANDLER);

    // c1 runs until SIGTERM; c2 ends by itself with status 3.
    let c1_script = "trap 'echo c1-term; exit 0' TERM; echo c1-hello; echo c1-err >&2; \
                     while :; do sleep 1; done";
    let c2_script = "echo c2-start; sleep 1; exit 3";
    let mut ids = Vec::new();
    for (name, script) in [("c1", c1_script), ("c2", c2_script)] {
        let req = CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container(name, script)),
            sandbox_config: Some(sandbox_config.clone()),
        };
        let id = call("CreateContainer", rs.create_container(req))
            .await
            .container_id;
        let req = StartContainerRequest {
            container_id: id.clone(),
        };
        call("StartContainer", rs.start_container(req)).await;
        ids.push(id);
    }
    let (c1, c2) = (ids[0].clone(), ids[1].clone());
    assert_eq!(
        status(&mut rs, &c1).await.state,
        ContainerState::ContainerRunning as i32
    );

    // ExecSync: the runtime's exec with a process file, output and status back.
    let exec = |cmd: &str| ExecSyncRequest {
        container_id: c1.clone(),
        cmd: vec!["sh".into(), "-c".into(), cmd.into()],
        timeout: 20,
    };
    let r = call(
        "ExecSync",
        rs.exec_sync(exec("echo exec-out; echo exec-err >&2; exit 5")),
    )
    .await;
    assert_eq!(r.exit_code, 5, "{r:?}");
    assert_eq!(String::from_utf8_lossy(&r.stdout), "exec-out\n");
    assert_eq!(String::from_utf8_lossy(&r.stderr), "exec-err\n");
    // The node's network namespace, the pod's IPC namespace (the sandbox's, joined by path).
    let r = call(
        "ExecSync",
        rs.exec_sync(exec(
            "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc",
        )),
    )
    .await;
    let out = String::from_utf8_lossy(&r.stdout).into_owned();
    let err = String::from_utf8_lossy(&r.stderr).into_owned();
    let r = (r.exit_code, &out, &err);
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(host_net.to_str().unwrap()), "{r:?}");
    assert_ne!(lines.next(), Some(host_ipc.to_str().unwrap()), "{r:?}");

    // UpdateContainerResources: the shim's `update --resources -`.
    let req = UpdateContainerResourcesRequest {
        container_id: c1.clone(),
        linux: Some(LinuxContainerResources {
            memory_limit_in_bytes: 64 << 20,
            cpu_period: 100_000,
            cpu_quota: 50_000,
            ..Default::default()
        }),
        ..Default::default()
    };
    call(
        "UpdateContainerResources",
        rs.update_container_resources(req),
    )
    .await;
    let memory = Path::new("/sys/fs/cgroup/memory")
        .join(d.tag())
        .join(&c1)
        .join("memory.limit_in_bytes");
    if memory.exists() {
        let limit = std::fs::read_to_string(&memory).unwrap();
        assert_eq!(
            limit.trim(),
            (64u64 << 20).to_string(),
            "{}",
            memory.display()
        );
    }

    let s2 = wait_exited(&mut rs, &c2).await;
    assert_eq!(s2.exit_code, 3, "{s2:?}");

    // StopContainer: SIGTERM (as a number) reaches the trap; exit status 0.
    let req = StopContainerRequest {
        container_id: c1.clone(),
        timeout: 10,
    };
    call("StopContainer", rs.stop_container(req)).await;
    let s1 = wait_exited(&mut rs, &c1).await;
    assert_eq!(s1.exit_code, 0, "{s1:?}");

    let log1 = std::fs::read_to_string(log_dir.join("c1.log")).expect("c1.log");
    assert_eq!(
        log_lines(&log1, "stdout"),
        ["F c1-hello", "F c1-term"],
        "{log1}"
    );
    assert_eq!(log_lines(&log1, "stderr"), ["F c1-err"], "{log1}");
    let log2 = std::fs::read_to_string(log_dir.join("c2.log")).expect("c2.log");
    assert_eq!(log_lines(&log2, "stdout"), ["F c2-start"], "{log2}");

    let req = ListContainersRequest {
        filter: Some(ContainerFilter {
            pod_sandbox_id: pod.clone(),
            ..Default::default()
        }),
    };
    let listed = call("ListContainers", rs.list_containers(req)).await;
    assert_eq!(listed.containers.len(), 2, "{listed:?}");

    for id in [&c1, &c2] {
        let req = RemoveContainerRequest {
            container_id: id.clone(),
        };
        call("RemoveContainer", rs.remove_container(req)).await;
    }
    let req = StopPodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    };
    call("StopPodSandbox", rs.stop_pod_sandbox(req)).await;
    let req = RemovePodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    };
    call("RemovePodSandbox", rs.remove_pod_sandbox(req)).await;
    let pods = call(
        "ListPodSandbox",
        rs.list_pod_sandbox(ListPodSandboxRequest::default()),
    )
    .await;
    assert!(pods.items.is_empty(), "{pods:?}");
}

#[test]
fn cri_runs_a_pod_of_two_containers_through_the_runtime() {
    let d = Containerd::start(true);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(pod_lifecycle(&d));
    drop(rt);
    // The runtime's state for the pod's containers went with them.
    let state = d.runtime_root().join("k8s.io");
    let left: Vec<_> = std::fs::read_dir(&state)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "runtime state left: {left:?}");
    let left = d.stop();
    assert!(left.is_empty(), "left behind:\n  {}", left.join("\n  "));
}
