/// Why a store cannot be set up. The texts name the location or option and what to do; a
/// secret value never appears in them.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A bad location or option value (the scheme, a key the cloud does not take).
    #[error("{0}")]
    Usage(String),
    /// A storage option that is not `KEY=VALUE` (`key` is the text before any `=`, so that a
    /// secret value is not shown).
    #[error("storage option {key:?}: expected KEY=VALUE")]
    BadStorageOption { key: String },
    /// Nothing in the environment or the options gives credentials for the location's cloud,
    /// and no instance metadata service answers.
    #[error("{url}: no credentials found; set {hint}")]
    NoCredentials { url: String, hint: &'static str },
}
