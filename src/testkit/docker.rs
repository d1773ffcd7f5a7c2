//! The `docker` CLI for tests: unique `havok-test-` names, and guards that
//! remove the containers and networks a test created, on panic too.
//!
//! Everything created here carries the labels `havok-test.pid` and
//! `havok-test.host`; a test process killed before its guards ran (nextest's
//! timeout) leaves them behind, and the next test process on this host removes
//! them once that pid is gone. Nothing without those labels is ever touched.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Once;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::Value;

use super::images;

/// Runs `docker args…` and returns its trimmed stdout; panics with the command and its stderr.
pub fn docker(args: &[&str]) -> String {
    try_docker(args).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `docker args…`: trimmed stdout, or an error naming the command, status and stderr.
pub fn try_docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `docker {}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "`docker {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `havok-test-<prefix>-<8 random [a-z0-9]>`, usable as a container name and a DNS label.
pub fn unique_name(prefix: &str) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..8)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    let prefix: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("havok-test-{prefix}-{suffix}")
}

/// A container this test created; `docker rm -f` on drop.
#[derive(Debug)]
pub struct TestContainer {
    name: String,
    id: String,
}

impl TestContainer {
    /// `docker run -d --name <name> <args…>` (args end with the image and its command).
    /// A `name` starting with `havok-test-` is used as it is (the test made it
    /// unique, e.g. `<scope>-web1`); any other is passed through [`unique_name`].
    pub fn run(name: &str, args: &[&str]) -> TestContainer {
        TestContainer::try_run(name, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`run`](Self::run), but returns docker's error (the half-created container is removed).
    pub fn try_run(name: &str, args: &[&str]) -> Result<TestContainer, String> {
        reap_stale_once();
        let name = if name.starts_with("havok-test-") {
            name.to_string()
        } else {
            unique_name(name)
        };
        let labels = owner_labels();
        let mut all = vec!["run", "-d", "--name", &name];
        for label in &labels {
            all.extend(["--label", label]);
        }
        all.extend_from_slice(args);
        match try_docker(&all) {
            Ok(id) => Ok(TestContainer { name, id }),
            Err(e) => {
                // `docker run` leaves a created container behind when starting it fails.
                let _ = try_docker(&["rm", "-f", "-v", &name]);
                Err(e)
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// `docker stop`: SIGTERM, then SIGKILL after 10s.
    pub fn stop(&self) {
        docker(&["stop", &self.name]);
    }

    /// `docker kill`: SIGKILL.
    pub fn kill(&self) {
        docker(&["kill", &self.name]);
    }

    /// `docker start` (after stop or kill; the name and id are kept).
    pub fn start(&self) {
        docker(&["start", &self.name]);
    }

    pub fn pause(&self) {
        docker(&["pause", &self.name]);
    }

    pub fn unpause(&self) {
        docker(&["unpause", &self.name]);
    }

    /// `docker inspect`, the first (only) element.
    pub fn inspect(&self) -> Value {
        let text = docker(&["inspect", &self.name]);
        let mut list: Value = serde_json::from_str(&text).expect("docker inspect prints JSON");
        list[0].take()
    }

    /// The host port Docker published `container_port/tcp` on (`-P` or `-p`).
    pub fn host_port(&self, container_port: u16) -> u16 {
        let spec = format!("{container_port}/tcp");
        let inspect = self.inspect();
        let bindings = &inspect["NetworkSettings"]["Ports"][&spec];
        bindings
            .as_array()
            .and_then(|b| b.first())
            .and_then(|b| b["HostPort"].as_str())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{}: {spec} is not published: {bindings}", self.name))
    }

    /// The container's address on `network`.
    pub fn ip(&self, network: &str) -> IpAddr {
        let inspect = self.inspect();
        let ip = &inspect["NetworkSettings"]["Networks"][network]["IPAddress"];
        ip.as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{} has no address on {network}: {ip}", self.name))
    }

    /// `docker logs` (stdout and stderr).
    pub fn logs(&self) -> String {
        let out = Command::new("docker")
            .args(["logs", &self.name])
            .output()
            .expect("run docker logs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        if let Err(e) = try_docker(&["rm", "-f", "-v", &self.name]) {
            if !e.contains("No such container") {
                eprintln!("warning: cannot remove test container: {e}");
            }
        }
    }
}

/// Runs the test httpd image (answers `hello from <hostname>` on port 80) under
/// `--init`, so that `docker stop` takes a fraction of a second, and returns
/// once it answers. An empty `hostname` leaves Docker's default (the short id).
/// `extra_args` go before the image: `-P`, `-l havok.host=x`, `--network n`…
pub fn run_httpd(name: &str, hostname: &str, extra_args: &[&str]) -> TestContainer {
    let container = start_httpd(name, hostname, extra_args);
    wait_serving(&container);
    container
}

/// Like [`run_httpd`], without waiting for it to answer: for an app that
/// listens late (`-e LISTEN_AFTER=2`) or never. Its `/who` answers its name.
pub fn start_httpd(name: &str, hostname: &str, extra_args: &[&str]) -> TestContainer {
    let image = images::httpd();
    let name = if name.starts_with("havok-test-") {
        name.to_string()
    } else {
        unique_name(name)
    };
    let who = format!("WHO={name}");
    let mut args = vec!["--init", "-e", &who];
    if !hostname.is_empty() {
        args.extend(["-h", hostname]);
    }
    args.extend_from_slice(extra_args);
    args.push(image);
    TestContainer::run(&name, &args)
}

/// Waits until the httpd answers on port 80 at one of the container's network
/// addresses (which the host reaches directly): Docker publishes the port
/// before busybox listens, and a request in between gets an empty reply.
fn wait_serving(container: &TestContainer) {
    let inspect = container.inspect();
    let addresses: Vec<SocketAddr> = inspect["NetworkSettings"]["Networks"]
        .as_object()
        .map(|networks| {
            networks
                .values()
                .filter_map(|n| n["IPAddress"].as_str()?.parse().ok())
                .map(|ip: IpAddr| SocketAddr::new(ip, 80))
                .collect()
        })
        .unwrap_or_default();
    if addresses.is_empty() {
        return; // `--network none` or `host`: nothing to reach it by.
    }
    let started = Instant::now();
    while !addresses.iter().any(|a| answers_http(*a)) {
        if started.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "warning: {} does not answer on {addresses:?} after 10s",
                container.name()
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn answers_http(address: SocketAddr) -> bool {
    let timeout = Duration::from_millis(500);
    let Ok(mut stream) = TcpStream::connect_timeout(&address, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let mut reply = String::new();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").is_ok()
        && stream.read_to_string(&mut reply).is_ok()
        && reply.starts_with("HTTP/1.")
}

/// A Docker network this test created; removed on drop, after disconnecting
/// whatever is still attached (only the test's own containers can be).
#[derive(Debug)]
pub struct TestNetwork {
    name: String,
}

impl TestNetwork {
    /// `docker network create havok-test-<name>-<random>`.
    pub fn create(name: &str) -> TestNetwork {
        reap_stale_once();
        let name = unique_name(name);
        let labels = owner_labels();
        let mut args = vec!["network", "create"];
        for label in &labels {
            args.extend(["--label", label]);
        }
        args.push(&name);
        docker(&args);
        TestNetwork { name }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        if try_docker(&["network", "rm", &self.name]).is_ok() {
            return;
        }
        let attached = try_docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.Name}} {{end}}",
            &self.name,
        ])
        .unwrap_or_default();
        for container in attached.split_whitespace() {
            let _ = try_docker(&["network", "disconnect", "-f", &self.name, container]);
        }
        if let Err(e) = try_docker(&["network", "rm", &self.name]) {
            eprintln!("warning: cannot remove test network: {e}");
        }
    }
}

/// The labels that mark a resource as this test process's.
fn owner_labels() -> Vec<String> {
    vec![
        "havok-test=1".to_string(),
        format!("havok-test.pid={}", std::process::id()),
        format!("havok-test.host={}", host_name()),
    ]
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Removes, once per process, the containers and networks of test processes
/// of this host that are gone (killed before their guards ran).
fn reap_stale_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let started = Instant::now();
        let filter = format!("label=havok-test.host={}", host_name());
        let format = "{{.ID}} {{.Label \"havok-test.pid\"}}";
        let dead = |line: &str| -> Option<String> {
            let (id, pid) = line.split_once(' ')?;
            let pid: u32 = pid.trim().parse().ok()?;
            let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
            (!alive).then(|| id.to_string())
        };
        let containers =
            try_docker(&["ps", "-a", "--filter", &filter, "--format", format]).unwrap_or_default();
        let stale: Vec<String> = containers.lines().filter_map(dead).collect();
        for id in &stale {
            let _ = try_docker(&["rm", "-f", "-v", id]);
        }
        let networks = try_docker(&["network", "ls", "--filter", &filter, "--format", format])
            .unwrap_or_default();
        for id in networks.lines().filter_map(dead) {
            let _ = try_docker(&["network", "rm", &id]);
        }
        if !stale.is_empty() {
            eprintln!(
                "removed {} stale test container(s) in {:?}",
                stale.len(),
                started.elapsed()
            );
        }
    });
}
