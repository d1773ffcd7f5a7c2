//! Packaging: the runtime image of `contrib/docker` built and run against a
//! real etcd with only the Docker socket mounted, the systemd unit's
//! flags and `/etc/default/havok` accepted by havok, and the man page and
//! completions of `havok generate-docs`.
//!
//! NOTE: the image test needs the RELEASE binary, never older than its
//! sources: `scripts/test` builds it first; missing or stale, the test runs
//! `cargo build --release` itself (minutes), under a file lock shared by
//! every test process of this checkout.

use std::path::Path;
#[cfg(feature = "etcd3")]
use std::path::PathBuf;
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
    // Not a single-backend build left by scripts/package: it runs etcd3.
    assert!(version.contains("etcd3"), "{version}");

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

/// The systemd unit's `ExecStart` flags are flags havok accepts (a typo would be exit status 2),
/// and so is every default of its `EnvironmentFile`, `/etc/default/havok` as
/// `havok generate-docs` writes it, uncommented.
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
    assert_eq!(words.next(), Some("/usr/bin/havok"), "{exec}");
    assert!(
        unit.lines()
            .any(|l| l == "EnvironmentFile=-/etc/default/havok"),
        "{unit}"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = words
        .map(|w| match w {
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

    generate_docs(dir.path());
    let defaults = std::fs::read_to_string(dir.path().join("havok.default")).unwrap();
    // Every default that has a value, as the unit would pass it uncommented
    // (--docker on the command line still points at no Docker).
    let env: Vec<(String, String)> = defaults
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter(|l| l.starts_with("HAVOK_"))
        .filter_map(|l| l.split_once('='))
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    assert!(env.len() > 20, "{defaults}");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for env in [&[][..], &env[..]] {
        let out = run_havok(&refs, env, Duration::from_secs(20));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains("nonexistent.sock"), "{stderr}");
    }
}

/// `havok generate-docs` writes the man page and the completions; `man -l`
/// renders the page without a warning, and every long flag and label of
/// `havok --help` is in it.
#[test]
fn man_page_and_completions_are_generated_from_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    generate_docs(dir.path());
    for name in [
        "havok.1",
        "havok.bash",
        "_havok",
        "havok.fish",
        "havok.default",
    ] {
        let len = std::fs::metadata(dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .len();
        assert!(len > 1000, "{name} has {len} bytes");
    }
    let page = dir.path().join("havok.1");
    assert_man_renders_cleanly(&page);

    let help = Command::new(env!("CARGO_BIN_EXE_havok"))
        .arg("--help")
        .output()
        .expect("run havok --help");
    let help = String::from_utf8(help.stdout).unwrap();
    let source = std::fs::read_to_string(&page).unwrap();
    let man = unescape_roff(&source);
    let flags = regex::Regex::new(r"--[a-z][a-z0-9-]*[a-z0-9]").unwrap();
    let labels = regex::Regex::new(r"havok\.[a-z][a-z-]*[a-z]").unwrap();
    let mut checked = 0;
    for word in flags.find_iter(&help).chain(labels.find_iter(&help)) {
        assert!(
            man.contains(word.as_str()),
            "{} is not in havok.1",
            word.as_str()
        );
        checked += 1;
    }
    assert!(checked > 50, "only {checked} flags and labels in --help?");
    assert!(man.contains("ENVIRONMENT") && man.contains("HAVOK_ETCD_MACHINES"));

    let bash = Command::new("bash")
        .arg("-n")
        .arg(dir.path().join("havok.bash"))
        .output()
        .expect("run bash -n");
    assert!(bash.status.success(), "{bash:?}");
}

/// `man --warnings -l` (as lintian runs it) renders `page` with nothing on stderr.
pub fn assert_man_renders_cleanly(page: &Path) {
    let out = Command::new("man")
        .args(["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z"])
        .arg(page)
        .env("LC_ALL", "C.UTF-8")
        .env("MANWIDTH", "80")
        .env("MANROFFSEQ", "")
        .output()
        .expect("run man (Debian's man-db; scripts/test installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "man -l {page:?}: {stderr}");
    assert!(stderr.trim().is_empty(), "man -l {page:?} warns:\n{stderr}");
    assert!(out.stdout.len() > 1000, "man -l {page:?} rendered nothing");
}

/// The man page's source with roff's escapes for `-` and fonts undone.
fn unescape_roff(source: &str) -> String {
    ["\\fB", "\\fI", "\\fR", "\\fP", "\\&"]
        .iter()
        .fold(source.replace("\\-", "-"), |text, escape| {
            text.replace(escape, "")
        })
}

#[cfg(feature = "etcd3")]
/// `target/release/havok`, never older than the sources it is built from:
/// `scripts/test` builds it before the tests; when it is missing or stale
/// (a test run alone after an edit), cargo builds it here, under a file lock.
fn release_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target"));
    let binary = target.join("release/havok");
    let _lock = FileLock::acquire("/tmp/havok-test-release.lock");
    if let Some(stale) = newer_source(&binary) {
        eprintln!(
            "building the release binary: {} is newer than it",
            stale.display()
        );
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--bin", "havok"])
            .current_dir(MANIFEST_DIR)
            .status()
            .expect("run cargo build --release");
        assert!(status.success(), "cargo build --release failed");
    }
    assert!(
        newer_source(&binary).is_none(),
        "{} is stale",
        binary.display()
    );
    binary
}

#[cfg(feature = "etcd3")]
/// A source file of the binary modified after `binary` was (any one when
/// `binary` is missing): `src/`, `backends/`, `build.rs`, `Cargo.toml`, `Cargo.lock`.
fn newer_source(binary: &Path) -> Option<PathBuf> {
    fn newest(path: &Path, since: std::time::SystemTime) -> Option<PathBuf> {
        let meta = std::fs::metadata(path).ok()?;
        if meta.is_dir() {
            let entries = std::fs::read_dir(path).ok()?;
            return entries.flatten().find_map(|e| newest(&e.path(), since));
        }
        (meta.modified().ok()? > since).then(|| path.to_path_buf())
    }
    let root = Path::new(MANIFEST_DIR);
    let sources = ["src", "backends", "build.rs", "Cargo.toml", "Cargo.lock"];
    let Some(built) = std::fs::metadata(binary).and_then(|m| m.modified()).ok() else {
        return Some(binary.to_path_buf());
    };
    sources.iter().find_map(|s| newest(&root.join(s), built))
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

/// Runs `havok generate-docs --out dir`, which must succeed.
fn generate_docs(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_havok"))
        .args(["generate-docs", "--out"])
        .arg(dir)
        .output()
        .expect("run havok generate-docs");
    assert!(out.status.success(), "{out:?}");
}
