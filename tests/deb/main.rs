//! The Debian packages `bash scripts/package` built into `target/debian/`:
//! one per backend set, each with exactly the binary, the systemd unit of
//! `contrib/systemd/`, `/etc/default/havok`, the man page, the completions
//! and the copyright and changelog, no lintian error, the version of
//! Cargo.toml, and a binary naming only its own backends.
//!
//! NOTE: this test target reads packages and builds none. `scripts/test` runs
//! it (`cargo test --all-features --test deb`) after `scripts/package`, which
//! runs after the integration tests: the single-backend release builds
//! replace `target/release/havok`, which those tests run. The default nextest
//! profile leaves it out (`default-filter` in `.config/nextest.toml`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// (package name, the backends its `--version` names)
const PACKAGES: [(&str, &str); 4] = [
    ("havok", "etcd3, etcd2, vulcand-api"),
    ("havok-etcd3", "etcd3"),
    ("havok-etcd2", "etcd2"),
    ("havok-vulcand-api", "vulcand-api"),
];

/// The files of every package (directories left out).
const FILES: [&str; 9] = [
    "./etc/default/havok",
    "./usr/bin/havok",
    "./usr/lib/systemd/system/havok.service",
    "./usr/share/bash-completion/completions/havok",
    "./usr/share/doc/{name}/changelog.Debian.gz",
    "./usr/share/doc/{name}/copyright",
    "./usr/share/fish/vendor_completions.d/havok.fish",
    "./usr/share/man/man1/havok.1.gz",
    "./usr/share/zsh/vendor-completions/_havok",
];

fn deb_dir() -> PathBuf {
    std::env::var_os("HAVOK_DEB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target/debian"))
}

/// `target/debian/<name>_<version>-1_<arch>.deb`; fails naming scripts/package when missing.
fn package(name: &str) -> PathBuf {
    let prefix = format!("{name}_{VERSION}-1_");
    let dir = deb_dir();
    let found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run bash scripts/package first)", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.starts_with(&prefix) && f.ends_with(".deb"))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {prefix}*.deb in {}, found {found:?} (run bash scripts/package)",
        dir.display()
    );
    found.into_iter().next().unwrap()
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

fn ok_stdout(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A package unpacked with `dpkg-deb -x` into a temporary directory.
fn unpack(deb: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok_stdout(
        "dpkg-deb",
        &["-x", deb.to_str().unwrap(), dir.path().to_str().unwrap()],
    );
    dir
}

/// Each package exists for this version, named and versioned from Cargo.toml.
#[test]
fn each_package_is_built_with_the_cargo_version() {
    for (name, _) in PACKAGES {
        let deb = package(name);
        let deb = deb.to_str().unwrap();
        let field = |f: &str| ok_stdout("dpkg-deb", &["-f", deb, f]).trim().to_string();
        assert_eq!(field("Package"), name);
        assert_eq!(field("Version"), format!("{VERSION}-1"));
        assert!(field("Depends").contains("libc6"), "{}", field("Depends"));
        if name != "havok" {
            for relation in ["Provides", "Conflicts", "Replaces"] {
                assert_eq!(field(relation), "havok", "{name} {relation}");
            }
        }
    }
}

/// `dpkg-deb --contents` lists exactly the files of FILES, with their modes.
#[test]
fn contents_are_exactly_the_packaged_files() {
    for (name, _) in PACKAGES {
        let deb = package(name);
        let listing = ok_stdout("dpkg-deb", &["--contents", deb.to_str().unwrap()]);
        let files: BTreeSet<String> = listing
            .lines()
            .filter(|l| !l.starts_with('d'))
            .map(|l| l.split_whitespace().last().unwrap().to_string())
            .collect();
        let expected: BTreeSet<String> = FILES.iter().map(|f| f.replace("{name}", name)).collect();
        assert_eq!(files, expected, "{name}:\n{listing}");
        for line in listing.lines().filter(|l| !l.starts_with('d')) {
            let mode = line.split_whitespace().next().unwrap();
            let want = if line.ends_with("/usr/bin/havok") {
                "-rwxr-xr-x"
            } else {
                "-rw-r--r--"
            };
            assert_eq!(mode, want, "{name}: {line}");
            let owner = line.split_whitespace().nth(1).unwrap();
            assert!(owner == "0/0" || owner == "root/root", "{name}: {line}");
        }
    }
}

/// lintian reports no error (warnings are printed, not failed).
#[test]
fn lintian_reports_no_errors() {
    for (name, _) in PACKAGES {
        let deb = package(name);
        let out = run(
            "lintian",
            &[
                "--fail-on",
                "error",
                "--no-tag-display-limit",
                deb.to_str().unwrap(),
            ],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("lintian {name}:\n{stdout}{stderr}");
        assert!(out.status.success(), "lintian {name}: {stdout}{stderr}");
        assert!(
            !stdout.lines().any(|l| l.starts_with("E:")),
            "lintian {name}: {stdout}"
        );
    }
}

/// The extracted binary's `--version` names exactly its compiled-in backends.
#[test]
fn packaged_binary_names_only_its_backends() {
    for (name, backends) in PACKAGES {
        let root = unpack(&package(name));
        let binary = root.path().join("usr/bin/havok");
        let version = ok_stdout(binary.to_str().unwrap(), &["--version"]);
        assert_eq!(
            version.trim(),
            format!("havok {VERSION} (backends: {backends})"),
            "{name}"
        );
        // Its man page was generated from that binary: the same backends.
        let man = ok_stdout(
            "zcat",
            &[root
                .path()
                .join("usr/share/man/man1/havok.1.gz")
                .to_str()
                .unwrap()],
        );
        assert!(man.contains(&format!("(backends: {backends})")), "{name}");
    }
}

/// The unit is `contrib/systemd/havok.service` byte for byte, installed but
/// neither enabled nor started; `/etc/default/havok` is a conffile holding
/// every setting commented out.
#[test]
fn unit_is_contrib_and_disabled_and_default_file_is_a_conffile() {
    let contrib = std::fs::read(Path::new(MANIFEST_DIR).join("contrib/systemd/havok.service"))
        .expect("read contrib/systemd/havok.service");
    for (name, _) in PACKAGES {
        let deb = package(name);
        let root = unpack(&deb);
        let unit = std::fs::read(root.path().join("usr/lib/systemd/system/havok.service")).unwrap();
        assert!(unit == contrib, "{name}: the unit differs from contrib/");

        let control = tempfile::tempdir().unwrap();
        ok_stdout(
            "dpkg-deb",
            &[
                "-e",
                deb.to_str().unwrap(),
                control.path().to_str().unwrap(),
            ],
        );
        let conffiles = std::fs::read_to_string(control.path().join("conffiles")).unwrap();
        assert_eq!(conffiles.trim(), "/etc/default/havok", "{name}");
        let postinst = std::fs::read_to_string(control.path().join("postinst")).unwrap();
        // dh_installsystemd's "don't enable" script: it enables the unit only
        // when the admin had enabled it before an upgrade, starts nothing, and
        // on an upgrade restarts it only if it runs (try-restart).
        assert!(
            postinst.contains("if deb-systemd-helper --quiet was-enabled havok.service; then"),
            "{name}: {postinst}"
        );
        assert_eq!(
            postinst.matches("deb-systemd-helper enable").count(),
            1,
            "{name}: {postinst}"
        );
        for starts in [
            "deb-systemd-invoke start",
            "deb-systemd-invoke restart",
            "systemctl start",
            "systemctl enable",
        ] {
            assert!(!postinst.contains(starts), "{name}: {starts}: {postinst}");
        }

        let defaults = std::fs::read_to_string(root.path().join("etc/default/havok")).unwrap();
        assert!(defaults.contains("\n#HAVOK_ETCD_MACHINES="), "{name}");
        assert!(
            defaults.lines().all(|l| l.is_empty() || l.starts_with('#')),
            "{name}: a setting is not commented out"
        );
    }
}
