//! Test PKI made with Debian's `openssl` CLI: a CA, a server certificate for
//! `127.0.0.1`/`localhost`, a client certificate, and a second, unrelated CA
//! (to prove that havok refuses a server it cannot verify). EC P-256 keys,
//! valid two days, in a temporary directory removed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// The files of one test PKI; the directory is mounted into etcd as `/certs`.
pub struct Pki {
    dir: TempDir,
}

impl Pki {
    /// Makes the CA, the server and client certificates, and the other CA.
    pub fn new() -> Pki {
        assert!(
            Path::new("/usr/bin/openssl").exists(),
            "/usr/bin/openssl is missing: install the Debian package openssl"
        );
        let dir = tempfile::Builder::new()
            .prefix("havok-test-pki-")
            .tempdir()
            .expect("create a PKI directory");
        let pki = Pki { dir };
        pki.ca("ca", "havok-test-ca");
        pki.ca("other-ca", "havok-test-other-ca");
        pki.leaf(
            "server",
            "etcd",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
        );
        pki.leaf("client", "havok", "extendedKeyUsage=clientAuth\n");
        // etcd in its container reads the files as whatever user it runs as.
        std::fs::set_permissions(
            pki.dir(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod the PKI directory");
        for entry in std::fs::read_dir(pki.dir()).expect("list the PKI directory") {
            let path = entry.expect("a PKI file").path();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .expect("chmod a PKI file");
        }
        pki
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/<name>`, e.g. `ca.pem`, `client-key.pem`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `<dir>/<name>` as a `&str`-able String, for command lines.
    pub fn arg(&self, name: &str) -> String {
        self.path(name).to_str().expect("a UTF-8 path").to_string()
    }

    /// The PEM text of `<dir>/<name>`.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    fn ca(&self, name: &str, cn: &str) {
        self.key_request(
            name,
            cn,
            &format!("{name}.pem"),
            &[
                "-x509",
                "-days",
                "2",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }

    /// `openssl req`: a new EC key `<name>-key.pem` and a request (or with
    /// `-x509`, a self-signed certificate) for `cn` into `out`, plus `extra`.
    fn key_request(&self, name: &str, cn: &str, out: &str, extra: &[&str]) {
        let key = format!("{name}-key.pem");
        let subject = format!("/CN={cn}");
        let mut args = vec![
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            out,
            "-subj",
            &subject,
        ];
        args.extend_from_slice(extra);
        openssl_in(self.dir(), &args);
    }

    /// A key and a certificate signed by `ca.pem`, with `extensions` (openssl extfile syntax).
    fn leaf(&self, name: &str, cn: &str, extensions: &str) {
        let ext = format!("{name}.ext");
        std::fs::write(self.path(&ext), extensions).expect("write the extensions file");
        let csr = format!("{name}.csr");
        self.key_request(name, cn, &csr, &[]);
        openssl_in(
            self.dir(),
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

fn openssl_in(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "`openssl {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
