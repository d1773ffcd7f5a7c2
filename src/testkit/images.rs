//! The test images, built from Debian's own binaries into `FROM scratch`
//! images (no registry is reachable): `havok-test-httpd` (busybox-static and `start.sh`) and
//! `havok-test-etcd` (etcd-server). Each tag is a hash of the Dockerfile and
//! every file copied in, so a changed input makes a new image; parallel test
//! processes build each image once, under a file lock.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::docker::{docker, try_docker};

const HTTPD_DOCKERFILE: &str = include_str!("../../tests/images/httpd/Dockerfile");
const ETCD_DOCKERFILE: &str = include_str!("../../tests/images/etcd/Dockerfile");
const LOCK: &str = "/tmp/havok-test-images.lock";
const BUSYBOX: &str = "/usr/bin/busybox";
const ETCD: &str = "/usr/bin/etcd";

/// The tag of the busybox httpd image, built if needed.
pub fn httpd() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        require(BUSYBOX, "busybox-static");
        ensure(
            "havok-test-httpd",
            HTTPD_DOCKERFILE,
            &[
                (PathBuf::from(BUSYBOX), "busybox".to_string()),
                (
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/images/httpd/start.sh"),
                    "start.sh".to_string(),
                ),
            ],
        )
    })
}

/// The tag of the etcd image, built if needed.
pub fn etcd() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        require(ETCD, "etcd-server");
        let mut files = vec![(PathBuf::from(ETCD), format!("rootfs{ETCD}"))];
        for lib in shared_libraries(ETCD) {
            let dest = format!("rootfs{}", lib.display());
            files.push((lib, dest));
        }
        ensure("havok-test-etcd", ETCD_DOCKERFILE, &files)
    })
}

fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: run scripts/test, which installs the Debian package {package}"
    );
}

/// The libraries and loader `ldd` lists for `binary`, at the paths it names
/// (symlinks are copied as the files they point to); none if it is static.
fn shared_libraries(binary: &str) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(binary).output().expect("run ldd");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|line| {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`
            let path = match line.split_once("=>") {
                Some((_, right)) => right.trim(),
                None => line.trim(),
            };
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Builds `repo:<hash>` unless Docker already has it; returns the tag.
fn ensure(repo: &str, dockerfile: &str, files: &[(PathBuf, String)]) -> String {
    let tag = format!("{repo}:{}", input_hash(dockerfile, files));
    if exists(&tag) {
        return tag;
    }
    let _lock = FileLock::acquire(LOCK);
    // Another process may have built it while this one waited for the lock.
    if exists(&tag) {
        return tag;
    }
    let started = Instant::now();
    let context = tempfile::Builder::new()
        .prefix("havok-test-image-")
        .tempdir()
        .expect("create a build context directory");
    fs::write(context.path().join("Dockerfile"), dockerfile).expect("write Dockerfile");
    for (src, dest) in files {
        let dest = context.path().join(dest);
        fs::create_dir_all(dest.parent().unwrap()).expect("create context directories");
        fs::copy(src, &dest)
            .unwrap_or_else(|e| panic!("copy {} into the context: {e}", src.display()));
    }
    let context_dir = context.path().to_str().unwrap();
    docker(&[
        "build",
        "-q",
        "--label",
        "havok-test=1",
        "-t",
        &tag,
        context_dir,
    ]);
    eprintln!("built image {tag} in {:?}", started.elapsed());
    tag
}

fn exists(tag: &str) -> bool {
    try_docker(&["image", "inspect", "--format", "{{.Id}}", tag]).is_ok()
}

/// First 16 hex of a hash of the Dockerfile and every file (destination and
/// content). Contents are hashed by `sha256sum`: sha2 without optimisation
/// would take seconds over etcd's 20 MB in every test process.
fn input_hash(dockerfile: &str, files: &[(PathBuf, String)]) -> String {
    let mut h = Sha256::new();
    h.update(dockerfile.as_bytes());
    let out = Command::new("sha256sum")
        .args(files.iter().map(|(src, _)| src))
        .output()
        .expect("run sha256sum");
    assert!(out.status.success(), "sha256sum failed: {out:?}");
    let sums = String::from_utf8_lossy(&out.stdout);
    for ((_, dest), line) in files.iter().zip(sums.lines()) {
        let sum = line.split_whitespace().next().unwrap_or_default();
        h.update(format!("\n{dest} {sum}").as_bytes());
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// An exclusive `flock` on a file, released when dropped (the descriptor closes).
struct FileLock(#[allow(dead_code)] File);

impl FileLock {
    fn acquire(path: &str) -> FileLock {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o666)
            .open(path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: flock on a descriptor this function owns; blocks until granted.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {path}: {}", std::io::Error::last_os_error());
        FileLock(file)
    }
}
