//! Secured etcd for the TLS and auth tests: an etcd that speaks only TLS and
//! demands client certificates (`--client-cert-auth`), etcd v3 and v2 auth
//! switched on with a root password, and store views that read them.
//!
//! The TLS etcd serves `/health` on a second, plain-HTTP port
//! (`--listen-metrics-urls`), so waiting for it needs no TLS client.

use std::time::Duration;

use async_trait::async_trait;

use super::certs::Pki;
use super::docker::{unique_name, TestContainer};
use super::etcd::free_port;
use super::images;
use super::store::{Snapshot, StoreView};

/// One etcd member that accepts only TLS clients with a certificate from the PKI's CA.
#[derive(Debug)]
pub struct TlsEtcd {
    container: TestContainer,
    port: u16,
    health_port: u16,
}

impl TlsEtcd {
    /// Starts etcd with `pki`'s server certificate mounted as `/certs` and waits until healthy.
    pub async fn start(pki: &Pki) -> TlsEtcd {
        let name = unique_name("etcd-tls");
        let mount = format!("{}:/certs:ro", pki.dir().display());
        let mut last = String::new();
        for _ in 0..5 {
            let (port, health_port) = (free_port(), free_port());
            let publish = format!("127.0.0.1:{port}:2379");
            let publish_health = format!("127.0.0.1:{health_port}:2381");
            let advertise = format!("https://127.0.0.1:{port}");
            let args = [
                "-p",
                &publish,
                "-p",
                &publish_health,
                "-v",
                &mount,
                images::etcd(),
                "--name",
                "n1",
                "--data-dir",
                "/var/lib/etcd",
                "--listen-client-urls",
                "https://0.0.0.0:2379",
                "--advertise-client-urls",
                &advertise,
                "--listen-peer-urls",
                "http://0.0.0.0:2380",
                "--initial-advertise-peer-urls",
                "http://127.0.0.1:2380",
                "--initial-cluster",
                "n1=http://127.0.0.1:2380",
                "--initial-cluster-state",
                "new",
                "--enable-v2=true",
                "--cert-file",
                "/certs/server.pem",
                "--key-file",
                "/certs/server-key.pem",
                "--client-cert-auth",
                "--trusted-ca-file",
                "/certs/ca.pem",
                "--listen-metrics-urls",
                "http://0.0.0.0:2381",
            ];
            match TestContainer::try_run(&name, &args) {
                Ok(container) => {
                    let etcd = TlsEtcd {
                        container,
                        port,
                        health_port,
                    };
                    etcd.wait_healthy().await;
                    return etcd;
                }
                Err(e)
                    if e.contains("already allocated") || e.contains("address already in use") =>
                {
                    last = e
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("no free port for the TLS etcd after 5 tries: {last}")
    }

    /// `https://127.0.0.1:<port>`, for `--etcd-machines`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn container(&self) -> &TestContainer {
        &self.container
    }

    async fn wait_healthy(&self) {
        let url = format!("http://127.0.0.1:{}/health", self.health_port);
        super::etcd::wait_health(&format!("TLS etcd {}", self.container.name()), &url).await
    }
}

/// Turns on etcd v3 auth: user `root` with `password` and the root role.
#[cfg(feature = "etcd3")]
pub async fn enable_v3_auth(url: &str, password: &str) {
    let mut client = etcd_client::Client::connect([url], None)
        .await
        .expect("connect to etcd");
    client
        .user_add("root", password, None)
        .await
        .expect("etcd: user add root");
    // etcd 3.4 keeps a built-in root role; adding it again is refused, which is fine.
    let _ = client.role_add("root").await;
    client
        .user_grant_role("root", "root")
        .await
        .expect("etcd: user grant-role root root");
    client.auth_enable().await.expect("etcd: auth enable");
}

/// Turns on etcd v2 auth: user `root` with `password`, and the guest role
/// loses its default read and write access (else v2 auth lets anyone in).
#[cfg(feature = "etcd2")]
pub async fn enable_v2_auth(url: &str, password: &str) {
    v2_put(
        url,
        "/v2/auth/users/root",
        serde_json::json!({"user": "root", "password": password}),
    )
    .await;
    v2_put(url, "/v2/auth/enable", serde_json::json!({})).await;
    let answer = reqwest::Client::new()
        .put(format!("{url}/v2/auth/roles/guest"))
        .basic_auth("root", Some(password))
        .json(&serde_json::json!({"role": "guest", "revoke": {"kv": {"read": ["/*"], "write": ["/*"]}}}))
        .send()
        .await
        .expect("revoke the guest role");
    assert!(answer.status().is_success(), "{answer:?}");
}

#[cfg(feature = "etcd2")]
async fn v2_put(url: &str, path: &str, body: serde_json::Value) {
    let answer = reqwest::Client::new()
        .put(format!("{url}{path}"))
        .json(&body)
        .send()
        .await
        .expect("etcd v2 auth request");
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    assert!(status.is_success(), "PUT {path}: {status} {text}");
}

/// Everything under `vulcand/` in an etcd v3 that wants TLS and/or a password.
#[cfg(feature = "etcd3")]
pub struct SecureEtcd3View {
    endpoints: Vec<String>,
    options: etcd_client::ConnectOptions,
}

#[cfg(feature = "etcd3")]
impl SecureEtcd3View {
    /// `pki`: verify with `ca.pem` and present `client.pem`; `password`: log in as root.
    pub fn new(endpoints: &[String], pki: Option<&Pki>, password: Option<&str>) -> Self {
        use etcd_client::{Certificate, ConnectOptions, Identity, TlsOptions};
        let mut options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(5));
        if let Some(pki) = pki {
            options = options.with_tls(
                TlsOptions::new()
                    .ca_certificate(Certificate::from_pem(pki.read("ca.pem")))
                    .identity(Identity::from_pem(
                        pki.read("client.pem"),
                        pki.read("client-key.pem"),
                    )),
            );
        }
        if let Some(password) = password {
            options = options.with_user("root", password);
        }
        SecureEtcd3View {
            endpoints: endpoints.to_vec(),
            options,
        }
    }

    pub async fn try_snapshot(&self) -> Result<Snapshot, String> {
        use etcd_client::{Client, GetOptions};
        let fail = |e: etcd_client::Error| format!("etcd v3 at {:?}: {e}", self.endpoints);
        let mut client = Client::connect(&self.endpoints, Some(self.options.clone()))
            .await
            .map_err(fail)?;
        let response = client
            .get("vulcand/", Some(GetOptions::new().with_prefix()))
            .await
            .map_err(fail)?;
        let mut snapshot = Snapshot::default();
        for kv in response.kvs() {
            let key = String::from_utf8_lossy(kv.key());
            let value = String::from_utf8_lossy(kv.value());
            snapshot.insert(&key["vulcand/".len()..], &value);
        }
        Ok(snapshot)
    }
}

#[cfg(feature = "etcd3")]
#[async_trait]
impl StoreView for SecureEtcd3View {
    async fn snapshot(&self) -> Snapshot {
        self.try_snapshot().await.unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Everything under `/vulcand/` in an etcd v2 that wants TLS and/or a password.
#[cfg(feature = "etcd2")]
pub struct SecureEtcd2View {
    endpoint: String,
    client: reqwest::Client,
    password: Option<String>,
}

#[cfg(feature = "etcd2")]
impl SecureEtcd2View {
    pub fn new(endpoint: &str, pki: Option<&Pki>, password: Option<&str>) -> Self {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(5));
        if let Some(pki) = pki {
            let mut identity = pki.read("client.pem");
            identity.push(b'\n');
            identity.extend(pki.read("client-key.pem"));
            builder = builder
                .tls_built_in_root_certs(false)
                .add_root_certificate(
                    reqwest::Certificate::from_pem(&pki.read("ca.pem")).expect("the CA is PEM"),
                )
                .identity(reqwest::Identity::from_pem(&identity).expect("the identity is PEM"));
        }
        SecureEtcd2View {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            client: builder.build().expect("build a reqwest client"),
            password: password.map(String::from),
        }
    }

    pub async fn try_snapshot(&self) -> Result<Snapshot, String> {
        let url = format!(
            "{}/v2/keys/vulcand?recursive=true&quorum=true",
            self.endpoint
        );
        let mut request = self.client.get(&url);
        if let Some(password) = &self.password {
            request = request.basic_auth("root", Some(password));
        }
        let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
        let mut snapshot = Snapshot::default();
        match status.as_u16() {
            200 => snapshot.add_v2_tree(&body["node"], "/vulcand"),
            // errorCode 100: the prefix does not exist yet.
            404 if body["errorCode"] == 100 => {}
            _ => return Err(format!("{url}: {status}: {body}")),
        }
        Ok(snapshot)
    }
}

#[cfg(feature = "etcd2")]
#[async_trait]
impl StoreView for SecureEtcd2View {
    async fn snapshot(&self) -> Snapshot {
        self.try_snapshot().await.unwrap_or_else(|e| panic!("{e}"))
    }
}
