//! The connection to the store's retrieval API: address, TLS, timeouts, the caller id and token
//! headers, and gRPC failures turned into errors that say what to fix.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::Code;

use crate::error::VerifyError;
use crate::proto::feature_service_client::FeatureServiceClient;
use crate::proto::{Query, Result as RetrieveResult};

/// The header naming the caller (lower case: gRPC refuses upper-case header names).
pub const CALLER_ID_HEADER: &str = "online-feature-store-caller-id";
/// The header carrying the caller's token.
pub const AUTH_TOKEN_HEADER: &str = "online-feature-store-auth-token";

/// TLS to the store: on with an `https://` address, a CA file or `enabled`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub enabled: bool,
    /// PEM certificates to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The name to check the server's certificate against, instead of the address's host.
    pub domain: Option<String>,
}

/// Where the store is, who asks, and how long to wait.
#[derive(Clone)]
pub struct VerifyOptions {
    /// `host:port`, `http://host:port` or `https://host:port`.
    pub store: String,
    pub caller_id: String,
    /// Never shown in `Debug`, errors or logs.
    pub token: Option<String>,
    pub tls: TlsOptions,
    /// How long to keep re-reading what does not match yet (the consumer may lag); zero reads
    /// once.
    pub wait: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub keys_per_request: usize,
}

impl VerifyOptions {
    /// Plain text, no token, 30 s wait, 10 s to connect, 30 s per request, 100 keys per request.
    pub fn new(store: impl Into<String>, caller_id: impl Into<String>) -> VerifyOptions {
        VerifyOptions {
            store: store.into(),
            caller_id: caller_id.into(),
            token: None,
            tls: TlsOptions::default(),
            wait: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            keys_per_request: 100,
        }
    }
}

impl fmt::Debug for VerifyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("store", &self.store)
            .field("caller_id", &self.caller_id)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .field("wait", &self.wait)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("keys_per_request", &self.keys_per_request)
            .finish()
    }
}

/// The endpoint URI of `store` and whether it uses TLS.
pub(crate) fn endpoint_uri(store: &str, tls: &TlsOptions) -> Result<(String, bool), VerifyError> {
    let bad = |reason: &str| VerifyError::BadAddress {
        store: store.to_string(),
        reason: reason.to_string(),
    };
    let want_tls = tls.enabled || tls.ca_file.is_some();
    let (uri, use_tls) = if store.starts_with("https://") {
        (store.to_string(), true)
    } else if store.starts_with("http://") {
        if want_tls {
            return Err(bad("an http:// address cannot use TLS; write https://"));
        }
        (store.to_string(), false)
    } else if store.contains("://") {
        return Err(bad(
            "expected HOST:PORT, http://HOST:PORT or https://HOST:PORT",
        ));
    } else if store.is_empty() {
        return Err(bad("it is empty"));
    } else {
        let scheme = if want_tls { "https" } else { "http" };
        (format!("{scheme}://{store}"), want_tls)
    };
    Ok((uri, use_tls))
}

/// A connected client sending the caller's headers with every request.
pub(crate) struct StoreClient {
    inner: FeatureServiceClient<Channel>,
    store: String,
    caller_id: String,
    caller_header: AsciiMetadataValue,
    token: Option<(String, AsciiMetadataValue)>,
    request_timeout: Duration,
}

impl StoreClient {
    pub async fn connect(opts: &VerifyOptions) -> Result<StoreClient, VerifyError> {
        let store = opts.store.clone();
        let caller_header = opts
            .caller_id
            .parse::<AsciiMetadataValue>()
            .map_err(|_| VerifyError::BadCredential { what: "caller id" })?;
        let token = match &opts.token {
            Some(t) => Some((
                t.clone(),
                t.parse::<AsciiMetadataValue>()
                    .map_err(|_| VerifyError::BadCredential { what: "auth token" })?,
            )),
            None => None,
        };
        let (uri, use_tls) = endpoint_uri(&store, &opts.tls)?;
        let mut endpoint = Endpoint::from_shared(uri).map_err(|e| VerifyError::BadAddress {
            store: store.clone(),
            reason: chain(&e),
        })?;
        endpoint = endpoint
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.request_timeout);
        if use_tls {
            install_crypto_provider();
            endpoint = endpoint
                .tls_config(tls_config(&store, &opts.tls)?)
                .map_err(|e| VerifyError::Tls {
                    store: store.clone(),
                    reason: chain(&e),
                    source: Some(Box::new(e)),
                })?;
        }
        let unreachable = |reason: String, source| VerifyError::Unreachable {
            store: store.clone(),
            timeout_secs: opts.connect_timeout.as_secs_f64(),
            reason,
            source,
        };
        // The connect timeout bounds the TCP connection; this bounds TLS and HTTP/2 too.
        let channel = match tokio::time::timeout(opts.connect_timeout * 2, endpoint.connect()).await
        {
            Ok(Ok(channel)) => channel,
            Ok(Err(e)) => return Err(unreachable(chain(&e), Some(e))),
            Err(_) => return Err(unreachable("timed out".to_string(), None)),
        };
        Ok(StoreClient {
            inner: FeatureServiceClient::new(channel),
            store,
            caller_id: opts.caller_id.clone(),
            caller_header,
            token,
            request_timeout: opts.request_timeout,
        })
    }

    pub fn store(&self) -> &str {
        &self.store
    }

    /// One `RetrieveFeatures` call.
    pub async fn retrieve(&mut self, query: Query) -> Result<RetrieveResult, VerifyError> {
        let mut request = tonic::Request::new(query);
        request.set_timeout(self.request_timeout);
        let headers = request.metadata_mut();
        headers.insert(CALLER_ID_HEADER, self.caller_header.clone());
        if let Some((_, value)) = &self.token {
            headers.insert(AUTH_TOKEN_HEADER, value.clone());
        }
        match self.inner.retrieve_features(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.status_error(status)),
        }
    }

    fn status_error(&self, status: tonic::Status) -> VerifyError {
        let mut message = status.message().to_string();
        if let Some((token, _)) = &self.token {
            if !token.is_empty() {
                message = message.replace(token.as_str(), "<token>");
            }
        }
        let code = format!("{:?}", status.code());
        match status.code() {
            Code::Unauthenticated | Code::PermissionDenied => VerifyError::Refused {
                store: self.store.clone(),
                caller_id: self.caller_id.clone(),
                with_token: self.token.is_some(),
                code,
                message,
            },
            Code::DeadlineExceeded => self.no_answer(),
            Code::Cancelled if message.contains("Timeout") => self.no_answer(),
            Code::Unavailable => VerifyError::Unreachable {
                store: self.store.clone(),
                timeout_secs: self.request_timeout.as_secs_f64(),
                reason: format!("{code}: {message}"),
                source: None,
            },
            _ => VerifyError::Status {
                store: self.store.clone(),
                code,
                message,
                source: Box::new(status),
            },
        }
    }

    fn no_answer(&self) -> VerifyError {
        VerifyError::NoAnswer {
            store: self.store.clone(),
            timeout_secs: self.request_timeout.as_secs_f64(),
        }
    }
}

fn tls_config(store: &str, tls: &TlsOptions) -> Result<ClientTlsConfig, VerifyError> {
    let mut config = ClientTlsConfig::new();
    match &tls.ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| VerifyError::Tls {
                store: store.to_string(),
                reason: format!("cannot read the CA file {}: {e}", path.display()),
                source: Some(Box::new(e)),
            })?;
            config = config.ca_certificate(Certificate::from_pem(pem));
        }
        None => config = config.with_native_roots(),
    }
    if let Some(domain) = &tls.domain {
        config = config.domain_name(domain.clone());
    }
    Ok(config)
}

/// An error and its sources, `a: b: c`, without repeats.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Makes ring the process's TLS provider unless one is installed: rustls cannot choose by
/// itself when a process links two (the command line also links aws-lc-rs through the cloud
/// SDKs), and would panic at the first handshake.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may have installed one meanwhile: that one is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let plain = TlsOptions::default();
        let on = TlsOptions {
            enabled: true,
            ..Default::default()
        };
        assert_eq!(
            endpoint_uri("h:1", &plain).unwrap(),
            ("http://h:1".into(), false)
        );
        assert_eq!(
            endpoint_uri("h:1", &on).unwrap(),
            ("https://h:1".into(), true)
        );
        assert_eq!(
            endpoint_uri("https://h:1", &plain).unwrap(),
            ("https://h:1".into(), true)
        );
        assert!(endpoint_uri("http://h:1", &on).is_err());
        assert!(endpoint_uri("grpc://h:1", &plain).is_err());
        assert!(endpoint_uri("", &plain).is_err());
    }

    #[test]
    fn debug_hides_the_token() {
        let mut o = VerifyOptions::new("h:1", "me");
        o.token = Some("s3cret-token".into());
        let text = format!("{o:?}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("<redacted>"));
    }
}
