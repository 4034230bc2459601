//! Test helpers: config sections as kes-core's loader builds them, environments, and a
//! loopback HTTP server that records what a backend sends and refuses it.
// Which helpers are used depends on the backend features compiled in.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use kes_core::config::*;
use kes_testpeers::fake_http::{FakeRequest, FakeResponse};

/// An empty environment.
pub(crate) fn no_env(_: &str) -> Option<String> {
    None
}

/// An environment of `vars` only.
pub(crate) fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Sync + use<> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

pub(crate) fn secret(s: &str) -> SecretText {
    SecretText::new(s.to_owned())
}

pub(crate) fn fs_config(path: &Path, seal: Option<SealKeySource>) -> KeyStoreConfig {
    KeyStoreConfig::Fs(FsKeyStore {
        path: path.to_owned(),
        seal,
    })
}

pub(crate) fn vault_section(endpoint: &str) -> VaultKeyStore {
    VaultKeyStore {
        endpoint: endpoint.to_owned(),
        engine: "kv".into(),
        version: VaultKvVersion::V1,
        namespace: String::new(),
        prefix: String::new(),
        transit: None,
        auth: Some(VaultAuth::AppRole(VaultAppRole {
            engine: "approle".into(),
            namespace: String::new(),
            id: "role-id".into(),
            secret: secret("secret-id"),
        })),
        tls: VaultTls::default(),
        status_ping: VaultKeyStore::DEFAULT_STATUS_PING,
    }
}

pub(crate) fn vault_config(endpoint: &str) -> KeyStoreConfig {
    KeyStoreConfig::Vault(vault_section(endpoint))
}

pub(crate) fn aws_section(endpoint: &str) -> AwsKeyStore {
    AwsKeyStore {
        endpoint: endpoint.to_owned(),
        region: "us-east-2".into(),
        kms_key: String::new(),
        access_key: "AKIDKESBACKENDS".into(),
        secret_key: secret("aws-secret-key"),
        session_token: SecretText::default(),
    }
}

pub(crate) fn aws_config(endpoint: &str) -> KeyStoreConfig {
    KeyStoreConfig::Aws(aws_section(endpoint))
}

pub(crate) fn gcp_section() -> GcpKeyStore {
    GcpKeyStore {
        project_id: "kes-project".into(),
        endpoint: String::new(),
        scopes: Vec::new(),
        credentials: GcpCredentials::default(),
    }
}

pub(crate) fn gcp_config() -> KeyStoreConfig {
    KeyStoreConfig::Gcp(gcp_section())
}

pub(crate) fn azure_section(endpoint: &str) -> AzureKeyStore {
    AzureKeyStore {
        endpoint: endpoint.to_owned(),
        auth: AzureAuth::ClientSecret {
            tenant_id: "tenant-1".into(),
            client_id: "client-1".into(),
            client_secret: secret("azure-secret"),
        },
    }
}

pub(crate) fn azure_config(endpoint: &str) -> KeyStoreConfig {
    KeyStoreConfig::Azure(azure_section(endpoint))
}

pub(crate) fn gemalto_section(endpoint: &str) -> GemaltoKeyStore {
    GemaltoKeyStore {
        endpoint: endpoint.to_owned(),
        token: secret("refresh-token"),
        domain: "kes-domain".into(),
        ca: None,
    }
}

pub(crate) fn gemalto_config(endpoint: &str) -> KeyStoreConfig {
    KeyStoreConfig::Gemalto(gemalto_section(endpoint))
}

pub(crate) fn fortanix_section(endpoint: &str) -> FortanixKeyStore {
    FortanixKeyStore {
        endpoint: endpoint.to_owned(),
        group_id: "group-1".into(),
        api_key: secret("fortanix-api-key"),
        ca: None,
    }
}

pub(crate) fn fortanix_config(endpoint: &str) -> KeyStoreConfig {
    KeyStoreConfig::Fortanix(fortanix_section(endpoint))
}

pub(crate) fn entrust_section(endpoint: &str) -> EntrustKeyStore {
    EntrustKeyStore {
        endpoint: endpoint.to_owned(),
        vault_id: "vault-1".into(),
        box_id: "box-1".into(),
        username: "kes-user".into(),
        password: secret("entrust-password"),
        ca: None,
    }
}

pub(crate) fn entrust_config(endpoint: &str) -> KeyStoreConfig {
    KeyStoreConfig::Entrust(entrust_section(endpoint))
}

/// A loopback port nothing listens on (bound, then released).
pub(crate) fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A request as [`Recorder`] saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    /// Path and query.
    pub(crate) target: String,
    /// Header names lower-cased.
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: String,
}

/// A loopback HTTP server that records every request and answers it with a status and JSON
/// body (normally a refusal, so that a backend fails its startup check at once).
pub(crate) struct Recorder {
    pub(crate) url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub(crate) async fn start(status: u16, body: &'static str) -> Recorder {
        Recorder::start_with(move |_| (status, body)).await
    }

    /// Answers each request with what `answer` returns for it.
    pub(crate) async fn start_with(
        answer: impl Fn(&Recorded) -> (u16, &'static str) + Send + Sync + 'static,
    ) -> Recorder {
        let answer = Arc::new(answer);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let addr = kes_testpeers::fake_http::serve(move |r: FakeRequest| {
            let request = Recorded {
                method: r.method,
                target: r.path,
                headers: r.headers,
                body: String::from_utf8_lossy(&r.body).into_owned(),
            };
            let (status, body) = answer(&request);
            log.lock().unwrap().push(request);
            async move {
                FakeResponse::new(status, body).header("Content-Type", "application/json")
            }
        })
        .await;
        Recorder {
            url: format!("http://{addr}"),
            requests,
        }
    }

    /// The requests so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The first request whose method and path (without the query) match.
    pub(crate) fn find(&self, method: &str, path: &str) -> Recorded {
        let all = self.requests();
        all.iter()
            .find(|r| r.method == method && r.target.split('?').next() == Some(path))
            .cloned()
            .unwrap_or_else(|| panic!("no {method} {path} among {all:#?}"))
    }
}
