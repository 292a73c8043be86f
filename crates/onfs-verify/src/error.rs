//! Why a read-back could not be done. No message ever holds the auth token.

/// A verification that could not be carried out (a difference is not an error: it is in the
/// report).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the store address {store:?} is not valid: {reason}")]
    BadAddress { store: String, reason: String },

    #[error("TLS settings for {store}: {reason}")]
    Tls {
        store: String,
        reason: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    #[error("the {what} cannot be sent in a gRPC header (visible ASCII only)")]
    BadCredential { what: &'static str },

    #[error("cannot reach the online feature store at {store}: {reason} (connect timeout {timeout_secs}s)")]
    Unreachable {
        store: String,
        timeout_secs: f64,
        reason: String,
        #[source]
        source: Option<tonic::transport::Error>,
    },

    #[error("the online feature store at {store} refused caller id {caller_id:?}{token}: {code}: {message}", token = if *.with_token { " and its auth token" } else { " (no auth token was given)" })]
    Refused {
        store: String,
        caller_id: String,
        with_token: bool,
        code: String,
        message: String,
    },

    #[error("the online feature store at {store} did not answer within {timeout_secs}s")]
    NoAnswer { store: String, timeout_secs: f64 },

    #[error("the online feature store at {store} answered {code}: {message}")]
    Status {
        store: String,
        code: String,
        message: String,
        #[source]
        source: Box<tonic::Status>,
    },

    #[error("the online feature store at {store} answered {rows} rows for {keys} keys")]
    Protocol {
        store: String,
        rows: usize,
        keys: usize,
    },

    #[error("the stored value of {feature} for key {key} is {len} bytes, not {expected}: the store's data type for the group differs from the metadata's")]
    Malformed {
        /// `group/feature`.
        feature: String,
        key: String,
        len: usize,
        /// What the bytes should be: `a DataTypeInt64 (8 bytes)`.
        expected: String,
    },

    #[error("message {message} (from 0) is not a persist.Query: {reason}")]
    BadMessage { message: u64, reason: String },

    #[error("no feature group of the messages ({sent}) is in the metadata's plan ({planned}): nothing to compare")]
    NoCommonGroups { sent: String, planned: String },

    #[error("cannot start the gRPC client: {0}")]
    Runtime(#[source] std::io::Error),
}

impl VerifyError {
    /// A bad address, credential or TLS setting, or credentials the store refused: the run's
    /// configuration is wrong, not the data.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            VerifyError::BadAddress { .. }
                | VerifyError::Tls { .. }
                | VerifyError::BadCredential { .. }
                | VerifyError::Refused { .. }
                | VerifyError::NoCommonGroups { .. }
        )
    }
}
