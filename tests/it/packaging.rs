//! Packaging: the runtime image of `contrib/docker` built and run against a
//! real etcd with only the Docker socket mounted, and the systemd unit's
//! flags accepted by havok.
//!
//! NOTE: the image test needs the RELEASE binary. It runs
//! `cargo build --release` with the test build's features first (a no-op
//! when `scripts/test` built it already; minutes otherwise), under a file
//! lock shared by every test process of this checkout.

use std::path::Path;
#[cfg(feature = "etcd3")]
use std::path::PathBuf;
#[cfg(feature = "etcd3")]
use std::process::Command;
use std::time::Duration;

use crate::support::oneshot::run_havok;
#[cfg(feature = "etcd3")]
use crate::support::*;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The contrib/docker image (FROM scratch, the release binary and its libraries) routes containers into a real etcd like the original's image.
#[cfg(feature = "etcd3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_image_routes_against_etcd() {
    let binary = release_binary();
    let image = RuntimeImage::build(&binary);
    let version = docker(&["run", "--rm", image.tag(), "--version"]);
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");

    let etcd = EtcdServer::start().await;
    let scope = unique_name("image");
    let web = run_httpd(&format!("{scope}-web"), "foo", &["-P"]);
    let names = format!("^{scope}-");
    // Host networking: etcd is published on the host's 127.0.0.1.
    let havok = TestContainer::run(
        &unique_name("image-havok"),
        &[
            "--network",
            "host",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            image.tag(),
            "--backend",
            "etcd3",
            "-etcd-machines",
            &etcd.url(),
            "-names",
            &names,
            "--node-id",
            "image",
            "--ttl",
            "6s",
            "--resync-interval",
            "2s",
        ],
    );
    let view = Etcd3View::new(&[etcd.url()]);
    let url = format!("http://127.0.0.1:{}", web.host_port(80));
    let routed = eventually("the image's havok to route foo.local", TIMEOUT, || async {
        match view.try_snapshot().await {
            Ok(s) if s.urls("foo.local") == [url.clone()] && s.has_route("foo.local") => Ok(()),
            Ok(s) => Err(format!("{s:?}\n{}", havok.logs())),
            Err(e) => Err(e),
        }
    });
    routed.await;

    // `docker stop` sends SIGTERM to havok as PID 1: a quick, clean exit.
    let started = std::time::Instant::now();
    havok.stop();
    let state = havok.inspect()["State"].clone();
    assert_eq!(state["ExitCode"], 0, "{state}\n{}", havok.logs());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stopped by SIGTERM, not killed after docker's 10s: {:?}",
        started.elapsed()
    );
}

/// The systemd unit's `ExecStart` flags are flags havok accepts (a typo would be exit status 2).
#[test]
fn systemd_unit_flags_are_valid() {
    let unit =
        std::fs::read_to_string(Path::new(MANIFEST_DIR).join("contrib/systemd/havok.service"))
            .expect("read contrib/systemd/havok.service");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart= line");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/havok"), "{exec}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("havok.toml");
    std::fs::write(&config, "root_domain = \"example.com\"\n").unwrap();
    let mut args: Vec<String> = words
        .map(|w| match w {
            "/etc/havok/havok.toml" => config.to_str().unwrap().to_string(),
            // Port 0: the unit's port may be taken on this machine.
            "127.0.0.1:9180" => "127.0.0.1:0".to_string(),
            other => other.to_string(),
        })
        .collect();
    // `havok routes` validates the whole configuration, then fails on Docker
    // (unreachable on purpose), exit status 1, never 2.
    args.extend([
        "--docker".into(),
        "unix:///nonexistent.sock".into(),
        "routes".into(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_havok(&refs, &[], Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.contains("nonexistent.sock"), "{stderr}");
}

#[cfg(feature = "etcd3")]
/// `target/release/havok` with this test build's backends, brought up to date
/// by cargo (under a file lock), so the image never packs a stale binary: a
/// no-op after `scripts/test`'s own release build, minutes when there is none.
fn release_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target"));
    let binary = target.join("release/havok");
    let features: Vec<&str> = [
        ("etcd3", cfg!(feature = "etcd3")),
        ("etcd2", cfg!(feature = "etcd2")),
        ("vulcand-api", cfg!(feature = "vulcand-api")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    let _lock = FileLock::acquire("/tmp/havok-test-release.lock");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--bin",
            "havok",
            "--no-default-features",
        ])
        .args(["--features", &features.join(",")])
        .current_dir(MANIFEST_DIR)
        .status()
        .expect("run cargo build --release");
    assert!(status.success(), "cargo build --release failed");
    binary
}

#[cfg(feature = "etcd3")]
/// The image built by contrib/docker/build.sh from `binary`; removed on drop.
struct RuntimeImage {
    tag: String,
}

#[cfg(feature = "etcd3")]
impl RuntimeImage {
    fn build(binary: &Path) -> RuntimeImage {
        let tag = format!("{}:latest", unique_name("runtime-image"));
        let out = Command::new(Path::new(MANIFEST_DIR).join("contrib/docker/build.sh"))
            .args([&tag, "-q", "--label", "havok-test=1"])
            .env("HAVOK_BINARY", binary)
            .output()
            .expect("run contrib/docker/build.sh");
        assert!(
            out.status.success(),
            "contrib/docker/build.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        RuntimeImage { tag }
    }

    fn tag(&self) -> &str {
        &self.tag
    }
}

#[cfg(feature = "etcd3")]
impl Drop for RuntimeImage {
    fn drop(&mut self) {
        if let Err(e) = try_docker(&["rmi", "-f", &self.tag]) {
            eprintln!("warning: cannot remove the test image: {e}");
        }
    }
}

#[cfg(feature = "etcd3")]
/// An exclusive `flock` on a file, released when dropped.
struct FileLock(#[allow(dead_code)] std::fs::File);

#[cfg(feature = "etcd3")]
impl FileLock {
    fn acquire(path: &str) -> FileLock {
        use std::os::unix::io::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: flock on a descriptor this function owns; blocks until granted.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {path}: {}", std::io::Error::last_os_error());
        FileLock(file)
    }
}

/// `scripts/protoc` (the `PROTOC` of `.cargo/config.toml`) runs the protoc
/// vendored by the crates.io package when no protoc is on `PATH`: a `PATH`
/// of only the few tools the script uses.
#[cfg(feature = "etcd3")]
#[test]
fn vendored_protoc_runs_without_a_system_protoc() {
    let bin = tempfile::tempdir().unwrap();
    for tool in ["sh", "readlink", "uname", "id", "cp", "chmod", "mv"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} is not in /usr/bin or /bin"));
        std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
    }
    assert!(!bin.path().join("protoc").exists());
    let out = Command::new(bin.path().join("sh"))
        .arg(Path::new(MANIFEST_DIR).join("scripts/protoc"))
        .arg("--version")
        .env("PATH", bin.path())
        .output()
        .expect("run scripts/protoc");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("libprotoc "),
        "{out:?}"
    );
}
