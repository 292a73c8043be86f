//! For tests: a gRPC server speaking the store's retrieval API (the generated tonic server, on
//! 127.0.0.1 only), serving what a test put in it: stored bytes per entity key and feature,
//! defaults for the rest, a required caller id and token, and optionally a lagging consumer
//! whose values become visible only after some reads.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use onfs_core::proto::Query as PersistQuery;
use onfs_core::Plan;
use prost::Message;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

use crate::client::{AUTH_TOKEN_HEADER, CALLER_ID_HEADER};
use crate::convert::{default_value, sent_value};
use crate::error::VerifyError;
use crate::proto::feature_service_server::{FeatureService, FeatureServiceServer};
use crate::proto::{DecodedResult, Feature, FeatureSchema, Query, Result as RetrieveResult, Row};

#[derive(Default)]
struct State {
    caller_id: String,
    token: Option<String>,
    /// `(key, group, feature)` -> stored bytes; a key is its columns joined by `|`.
    values: HashMap<(String, String, String), Vec<u8>>,
    /// `(group, feature)` -> the bytes returned for a key that holds nothing.
    defaults: HashMap<(String, String), Vec<u8>>,
    /// Stored values are hidden (defaults returned) from the first this many reads.
    visible_after: u32,
    reads: u32,
}

/// What the test store holds. Clones share it, also with a running [`TestServer`].
#[derive(Clone)]
pub struct TestStore {
    state: Arc<Mutex<State>>,
}

impl TestStore {
    /// A store accepting only `caller_id` with `token` (none: no token header expected).
    pub fn new(caller_id: &str, token: Option<&str>) -> TestStore {
        TestStore {
            state: Arc::new(Mutex::new(State {
                caller_id: caller_id.to_string(),
                token: token.map(str::to_string),
                ..Default::default()
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `bytes` as feature `group`/`feature` of the entity whose key columns are `key`.
    pub fn put(&self, key: &[&str], group: &str, feature: &str, bytes: impl Into<Vec<u8>>) {
        self.state().values.insert(
            (key.join("|"), group.to_string(), feature.to_string()),
            bytes.into(),
        );
    }

    /// Forgets everything stored for the entity `key`.
    pub fn remove(&self, key: &[&str]) {
        let key = key.join("|");
        self.state().values.retain(|(k, _, _), _| *k != key);
    }

    /// The bytes returned for `group`/`feature` of a key that holds nothing.
    pub fn set_default(&self, group: &str, feature: &str, bytes: impl Into<Vec<u8>>) {
        self.state()
            .defaults
            .insert((group.to_string(), feature.to_string()), bytes.into());
    }

    /// Every feature's default as the plan's metadata declares it (those that parse).
    pub fn set_plan_defaults(&self, plan: &Plan) {
        for g in &plan.feature_groups {
            for (feature, column) in g.features.iter().zip(&g.columns) {
                let Some(spec) = plan.column(column) else {
                    continue;
                };
                if let Ok(v) = default_value(g.data_type, &spec.default) {
                    self.set_default(&g.label, feature, v.bytes);
                }
            }
        }
    }

    /// Stores every row of a `persist.Query` as the store's consumer would (the plan gives the
    /// groups' types); returns the rows stored.
    pub fn consume(&self, plan: &Plan, message: &[u8]) -> Result<usize, VerifyError> {
        let bad = |reason: String| VerifyError::BadMessage { message: 0, reason };
        let query = PersistQuery::decode(message).map_err(|e| bad(e.to_string()))?;
        for row in &query.data {
            let key: Vec<&str> = row.key_values.iter().map(String::as_str).collect();
            for (schema, values) in query.feature_group_schema.iter().zip(&row.feature_values) {
                let Some(group) = plan.feature_groups.iter().find(|g| g.label == schema.label)
                else {
                    continue;
                };
                let values = values.values.clone().unwrap_or_default();
                for (i, feature) in schema.feature_labels.iter().enumerate() {
                    let v = sent_value(group.data_type, &values, i)
                        .ok_or_else(|| bad(format!("no value for {}/{feature}", group.label)))?;
                    self.put(&key, &group.label, feature, v.bytes);
                }
            }
        }
        Ok(query.data.len())
    }

    /// Hides stored values from the first `reads` reads, as a consumer that has not caught up.
    pub fn visible_after(&self, reads: u32) {
        self.state().visible_after = reads;
    }

    /// How many `RetrieveFeatures` calls were answered (refused ones included).
    pub fn reads(&self) -> u32 {
        self.state().reads
    }

    /// Serves the store on 127.0.0.1 (a free port) until the server is dropped.
    pub fn serve(&self) -> TestServer {
        self.serve_with(None)
    }

    /// Serves over TLS with this certificate chain and key (PEM).
    pub fn serve_tls(&self, cert_pem: &[u8], key_pem: &[u8]) -> TestServer {
        crate::client::install_crypto_provider();
        self.serve_with(Some(
            tonic::transport::ServerTlsConfig::new()
                .identity(tonic::transport::Identity::from_pem(cert_pem, key_pem)),
        ))
    }

    fn serve_with(&self, tls: Option<tonic::transport::ServerTlsConfig>) -> TestServer {
        let service = FeatureServiceServer::new(self.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1");
                addr_tx
                    .send(listener.local_addr().expect("local address"))
                    .expect("the test waits for the address");
                let mut builder = Server::builder();
                if let Some(tls) = tls {
                    builder = builder.tls_config(tls).expect("a valid test certificate");
                }
                builder
                    .add_service(service)
                    .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .expect("the test server runs");
            });
        });
        let addr = addr_rx.recv().expect("the server thread starts");
        TestServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

/// A running [`TestStore`]; stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[tonic::async_trait]
impl FeatureService for TestStore {
    async fn retrieve_features(
        &self,
        request: Request<Query>,
    ) -> Result<Response<RetrieveResult>, Status> {
        let header = |name: &str| {
            request
                .metadata()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (caller, token) = (header(CALLER_ID_HEADER), header(AUTH_TOKEN_HEADER));
        let mut state = self.state();
        state.reads += 1;
        if caller.as_deref() != Some(state.caller_id.as_str()) || token != state.token {
            return Err(Status::unauthenticated("invalid caller id or auth token"));
        }
        let visible = state.reads > state.visible_after;
        let query = request.into_inner();
        let mut feature_schemas = Vec::new();
        let mut column = 0;
        for g in &query.feature_groups {
            let features = g
                .feature_labels
                .iter()
                .map(|f| {
                    column += 1;
                    Feature {
                        label: f.clone(),
                        column_idx: column - 1,
                    }
                })
                .collect();
            feature_schemas.push(FeatureSchema {
                feature_group_label: g.label.clone(),
                features,
            });
        }
        let rows = query
            .keys
            .iter()
            .map(|k| {
                let key = k.cols.join("|");
                let mut columns = Vec::with_capacity(column as usize);
                for g in &query.feature_groups {
                    for f in &g.feature_labels {
                        let stored = visible
                            .then(|| state.values.get(&(key.clone(), g.label.clone(), f.clone())))
                            .flatten();
                        let default = || state.defaults.get(&(g.label.clone(), f.clone()));
                        columns.push(stored.or_else(default).cloned().unwrap_or_default());
                    }
                }
                Row {
                    keys: k.cols.clone(),
                    columns,
                }
            })
            .collect();
        Ok(Response::new(RetrieveResult {
            entity_label: query.entity_label,
            keys_schema: query.keys_schema,
            feature_schemas,
            rows,
        }))
    }

    async fn retrieve_decoded_result(
        &self,
        _request: Request<Query>,
    ) -> Result<Response<DecodedResult>, Status> {
        Err(Status::unimplemented(
            "the test store serves RetrieveFeatures only",
        ))
    }
}
