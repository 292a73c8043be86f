//! Object stores for URLs: `s3://`/`s3a://` (S3 and S3-compatible), `gs://` (GCS),
//! `az://`, `abfs://`, `abfss://` (Azure Blob / ADLS Gen2). Credentials come from each cloud's
//! usual environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`), then the job's storage options (object_store's
//! key names, e.g. `aws_endpoint`, `aws_region`, `allow_http`, `azure_storage_use_emulator`,
//! `google_service_account`), which win.

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::ObjectStore;
use url::Url;

use crate::StorageError;

/// Which cloud a URL scheme belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    S3,
    Gcs,
    Azure,
}

impl Cloud {
    pub fn of(url: &Url) -> Option<Cloud> {
        match url.scheme() {
            "s3" | "s3a" => Some(Cloud::S3),
            "gs" => Some(Cloud::Gcs),
            "az" | "abfs" | "abfss" | "adl" | "azure" => Some(Cloud::Azure),
            _ => None,
        }
    }

    /// The environment variables it reads credentials from, for error messages.
    pub fn credential_hint(self) -> &'static str {
        match self {
            Cloud::S3 => "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or web identity / instance credentials), or the storage options aws_access_key_id and aws_secret_access_key",
            Cloud::Gcs => "GOOGLE_APPLICATION_CREDENTIALS / GOOGLE_SERVICE_ACCOUNT (a service account file), or the storage option google_service_account",
            Cloud::Azure => "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY (or a SAS token / client secret), or the storage options azure_storage_account_name and azure_storage_account_key",
        }
    }
}

/// Storage options (object_store key names, case-insensitive) applied to every source.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StorageOptions {
    options: BTreeMap<String, String>,
}

impl std::fmt::Debug for StorageOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets: only the keys are shown.
        f.debug_list().entries(self.options.keys()).finish()
    }
}

fn s3_key(k: &str) -> Option<AmazonS3ConfigKey> {
    k.parse().ok()
}
fn gcs_key(k: &str) -> Option<GoogleConfigKey> {
    k.parse().ok()
}
fn azure_key(k: &str) -> Option<AzureConfigKey> {
    k.parse().ok()
}

impl StorageOptions {
    /// Adds one option; a key no store knows is an error naming it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
        let k = key.trim().to_ascii_lowercase();
        if s3_key(&k).is_none() && gcs_key(&k).is_none() && azure_key(&k).is_none() {
            return Err(StorageError::Usage(format!(
                "storage option {key:?} is not an S3, GCS or Azure option; use object_store's names, e.g. aws_endpoint, aws_region, aws_allow_http, azure_storage_account_name, azure_storage_use_emulator, google_service_account"
            )));
        }
        self.options.insert(k, value.to_string());
        Ok(())
    }

    /// `KEY=VALUE`.
    pub fn add_arg(&mut self, arg: &str) -> Result<(), StorageError> {
        match arg.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => self.set(k, v),
            _ => Err(StorageError::BadStorageOption {
                key: arg.split('=').next().unwrap_or("").to_string(),
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.options.is_empty()
    }

    /// The values of secret options (keys, tokens, passwords), for scrubbing them from texts.
    fn secrets(&self) -> impl Iterator<Item = &str> {
        const SECRET: [&str; 7] = [
            "secret",
            "key",
            "token",
            "sas",
            "password",
            "credential",
            "service_account",
        ];
        self.options
            .iter()
            .filter(|(k, _)| SECRET.iter().any(|s| k.contains(s)))
            .map(|(_, v)| v.as_str())
            .filter(|v| v.len() >= 4)
    }

    /// Removes every secret option's value from a text (errors may echo a request).
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in self.secrets() {
            out = out.replace(v, "<redacted>");
        }
        out
    }
}

/// The configuration keys the cloud's client reads from the environment (its `AWS_*`,
/// `GOOGLE_*` or `AZURE_*` variables, by their lowercase names) and the options.
fn configured_keys(cloud: Cloud, opts: &StorageOptions) -> Vec<String> {
    let prefix = match cloud {
        Cloud::S3 => "aws_",
        Cloud::Gcs => "google_",
        Cloud::Azure => "azure_",
    };
    std::env::vars()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .filter(|(k, v)| k.starts_with(prefix) && !v.trim().is_empty())
        .map(|(k, _)| k)
        .chain(opts.options.keys().cloned())
        .collect()
}

/// Whether anything in the environment or the options gives the cloud's client credentials
/// (or tells it to sign nothing); when nothing does, it falls back to the instance metadata
/// service.
pub fn credentials_configured(cloud: Cloud, opts: &StorageOptions) -> bool {
    let keys = configured_keys(cloud, opts);
    match cloud {
        Cloud::S3 => {
            use AmazonS3ConfigKey::*;
            keys.iter().filter_map(|k| s3_key(k)).any(|k| {
                matches!(
                    k,
                    AccessKeyId
                        | Token
                        | SkipSignature
                        | ContainerCredentialsRelativeUri
                        | ContainerCredentialsFullUri
                        | WebIdentityTokenFile
                )
            }) || [
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            ]
            .iter()
            .any(|v| std::env::var_os(v).is_some())
        }
        Cloud::Gcs => {
            use GoogleConfigKey::*;
            keys.iter().filter_map(|k| gcs_key(k)).any(|k| {
                matches!(
                    k,
                    ServiceAccount | ServiceAccountKey | ApplicationCredentials | SkipSignature
                )
            }) || std::env::var_os("SERVICE_ACCOUNT").is_some()
                || std::env::var_os("HOME").is_some_and(|home| {
                    std::path::Path::new(&home)
                        .join(".config/gcloud/application_default_credentials.json")
                        .exists()
                })
        }
        Cloud::Azure => {
            use AzureConfigKey::*;
            keys.iter().filter_map(|k| azure_key(k)).any(|k| {
                matches!(
                    k,
                    AccessKey
                        | SasKey
                        | Token
                        | ClientSecret
                        | UseEmulator
                        | UseAzureCli
                        | FederatedTokenFile
                        | SkipSignature
                        | FabricSessionToken
                )
            })
        }
    }
}

/// `HOST:PORT` of the instance metadata services the cloud's client asks when nothing else
/// gives credentials, in the order it asks them.
fn metadata_addresses(cloud: Cloud, opts: &StorageOptions) -> Vec<String> {
    let option = |keys: &[&str], vars: &[&str]| {
        keys.iter()
            .find_map(|k| opts.options.get(*k).cloned())
            .or_else(|| vars.iter().find_map(|v| std::env::var(v).ok()))
    };
    let candidates = match cloud {
        Cloud::S3 => vec![option(
            &["aws_metadata_endpoint", "metadata_endpoint"],
            &["AWS_METADATA_ENDPOINT"],
        )
        .unwrap_or_else(|| "169.254.169.254".into())],
        Cloud::Gcs => vec![
            option(&[], &["GCE_METADATA_HOST", "GCE_METADATA_ROOT"])
                .unwrap_or_else(|| "metadata.google.internal".into()),
            option(&[], &["GCE_METADATA_IP"]).unwrap_or_else(|| "169.254.169.254".into()),
        ],
        Cloud::Azure => vec![option(
            &["azure_msi_endpoint", "msi_endpoint"],
            &["AZURE_MSI_ENDPOINT", "MSI_ENDPOINT", "IDENTITY_ENDPOINT"],
        )
        .unwrap_or_else(|| "169.254.169.254".into())],
    };
    candidates
        .into_iter()
        .map(|c| {
            let c = c.trim();
            let c = c.split_once("://").map_or(c, |(_, rest)| rest);
            let host = c.split('/').next().unwrap_or_default();
            if host
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            {
                host.to_string()
            } else {
                format!("{host}:80")
            }
        })
        .collect()
}

/// How long the one probe of an instance metadata service may take.
const METADATA_PROBE: std::time::Duration = std::time::Duration::from_millis(700);

/// Whether one of the addresses accepts a connection within [`METADATA_PROBE`].
fn any_answers(addresses: &[String]) -> bool {
    use std::net::{TcpStream, ToSocketAddrs};
    addresses.iter().any(|a| {
        a.to_socket_addrs().is_ok_and(|mut found| {
            found.any(|sa| TcpStream::connect_timeout(&sa, METADATA_PROBE).is_ok())
        })
    })
}

/// With no credentials configured, the cloud's client would ask the instance metadata service,
/// retrying for seconds to minutes where there is none: one short connection attempt answers
/// first, and where nothing answers, the error says no credentials were found, at once.
pub fn check_credentials(url: &Url, opts: &StorageOptions) -> Result<(), StorageError> {
    let Some(cloud) = Cloud::of(url) else {
        return Ok(());
    };
    if credentials_configured(cloud, opts) || any_answers(&metadata_addresses(cloud, opts)) {
        return Ok(());
    }
    Err(StorageError::NoCredentials {
        url: url.to_string(),
        hint: cloud.credential_hint(),
    })
}

/// The store of an object store URL, from the environment and the options.
pub fn build_store(url: &Url, opts: &StorageOptions) -> Result<Arc<dyn ObjectStore>, StorageError> {
    let bad = |e: object_store::Error| {
        StorageError::Usage(format!(
            "cannot set up the object store for {url}: {}",
            opts.scrub(&e.to_string())
        ))
    };
    let base = url.as_str();
    let store: Arc<dyn ObjectStore> = match Cloud::of(url) {
        Some(Cloud::S3) => {
            let mut b = AmazonS3Builder::from_env().with_url(base);
            for (k, v) in &opts.options {
                if let Some(key) = s3_key(k) {
                    b = b.with_config(key, v);
                }
            }
            Arc::new(b.build().map_err(bad)?)
        }
        Some(Cloud::Gcs) => {
            let mut b = GoogleCloudStorageBuilder::from_env().with_url(base);
            for (k, v) in &opts.options {
                if let Some(key) = gcs_key(k) {
                    b = b.with_config(key, v);
                }
            }
            Arc::new(b.build().map_err(bad)?)
        }
        Some(Cloud::Azure) => {
            let mut b = MicrosoftAzureBuilder::from_env().with_url(base);
            for (k, v) in &opts.options {
                if let Some(key) = azure_key(k) {
                    b = b.with_config(key, v);
                }
            }
            Arc::new(b.build().map_err(bad)?)
        }
        None => {
            return Err(StorageError::Usage(format!(
                "location {url}: the scheme {:?} is not supported; use a local path, file://, s3://, s3a://, gs://, az://, abfs:// or abfss://",
                url.scheme()
            )))
        }
    };
    // A listing cut mid-answer is taken up again (object_store retries only failed requests).
    Ok(Arc::new(crate::list_retry::ListRetry::new(store)))
}

/// The instance metadata services the cloud clients fall back to when nothing in the
/// environment or the options gives credentials: the clouds' own addresses, or those the
/// environment or the options point them at.
fn metadata_services(opts: &StorageOptions) -> Vec<String> {
    let mut hosts: Vec<String> = ["169.254.169.254", "metadata.google.internal"]
        .map(String::from)
        .to_vec();
    for var in [
        "AWS_METADATA_ENDPOINT",
        "GCE_METADATA_HOST",
        "GCE_METADATA_ROOT",
        "GCE_METADATA_IP",
        "AZURE_MSI_ENDPOINT",
        "IDENTITY_ENDPOINT",
        "MSI_ENDPOINT",
    ] {
        hosts.extend(std::env::var(var).ok());
    }
    for key in [
        "aws_metadata_endpoint",
        "metadata_endpoint",
        "azure_msi_endpoint",
        "msi_endpoint",
    ] {
        hosts.extend(opts.options.get(key).cloned());
    }
    hosts
        .into_iter()
        .map(|h| {
            let h = h.trim().to_ascii_lowercase();
            let h = h.split("://").last().unwrap_or_default().to_string();
            h.split('/').next().unwrap_or_default().to_string()
        })
        .filter(|h| !h.is_empty())
        .collect()
}

/// An object store error in words a user can act on, naming the URL.
pub fn explain(url: &Url, e: &object_store::Error, opts: &StorageOptions) -> String {
    let text = condense(&opts.scrub(&e.to_string()));
    let lower = text.to_ascii_lowercase();
    let cloud = Cloud::of(url);
    // A host named as itself: `127.0.0.1:9` is not `127.0.0.1:9000`.
    let names = |host: &str| {
        lower.match_indices(host).any(|(i, _)| {
            !lower[i + host.len()..].starts_with(|c: char| c.is_ascii_digit() || c == '.')
        })
    };
    if metadata_services(opts).iter().any(|host| names(host)) {
        // Nothing in the environment or the options: the client fell back to instance metadata.
        let hint = cloud.map(Cloud::credential_hint).unwrap_or("credentials");
        return StorageError::NoCredentials {
            url: url.to_string(),
            hint,
        }
        .to_string();
    }
    if lower.contains("nosuchbucket")
        || lower.contains("containernotfound")
        || lower.contains("the specified container does not exist")
        || lower.contains("bucket does not exist")
        || (lower.contains("404") && lower.contains("bucket"))
    {
        return format!("{url}: the bucket or container does not exist ({text})");
    }
    if lower.contains("accessdenied")
        || lower.contains("invalidaccesskeyid")
        || lower.contains("signaturedoesnotmatch")
        || lower.contains("authenticationfailed")
        || lower.contains("authorizationfailure")
        || lower.contains("403")
        || lower.contains("401")
    {
        let hint = cloud
            .map(Cloud::credential_hint)
            .unwrap_or("the credentials");
        return format!("{url}: access denied; check the credentials ({hint}): {text}");
    }
    if lower.contains("credential") || lower.contains("missing") && lower.contains("key") {
        let hint = cloud
            .map(Cloud::credential_hint)
            .unwrap_or("the credentials");
        return format!("{url}: no usable credentials; set {hint}: {text}");
    }
    format!("{url}: {text}")
}

/// A store's XML error body reduced to its code and message.
fn condense(text: &str) -> String {
    let Some(at) = text.find("<?xml") else {
        return text.to_string();
    };
    let tag = |name: &str| -> Option<String> {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        let inner = text[start..end].trim();
        let inner = inner
            .strip_prefix("<![CDATA[")
            .and_then(|s| s.strip_suffix("]]>"))
            .unwrap_or(inner);
        Some(inner.lines().next().unwrap_or("").trim().to_string())
    };
    let mut out = text[..at].trim_end().trim_end_matches(':').to_string();
    if let Some(code) = tag("Code") {
        out.push_str(&format!(": {code}"));
    }
    if let Some(message) = tag("Message") {
        out.push_str(&format!(": {message}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_map_to_clouds() {
        for (u, c) in [
            ("s3://b/p/", Cloud::S3),
            ("s3a://b/p/", Cloud::S3),
            ("gs://b/p/", Cloud::Gcs),
            ("az://c/p/", Cloud::Azure),
            ("abfss://c@acct.dfs.core.windows.net/p/", Cloud::Azure),
        ] {
            assert_eq!(Cloud::of(&Url::parse(u).unwrap()), Some(c), "{u}");
        }
        assert_eq!(Cloud::of(&Url::parse("file:///x/").unwrap()), None);
    }

    #[test]
    fn a_failed_instance_metadata_probe_means_no_credentials() {
        let url = Url::parse("s3://b/p/").unwrap();
        let mut o = StorageOptions::default();
        o.set("aws_metadata_endpoint", "http://127.0.0.1:9")
            .unwrap();
        let probe = |at: &str| object_store::Error::Generic {
            store: "S3",
            source: format!("Error performing PUT http://{at}/latest/api/token after 10 retries")
                .into(),
        };
        for at in ["169.254.169.254", "127.0.0.1:9"] {
            let text = explain(&url, &probe(at), &o);
            assert!(text.contains("no credentials found"), "{at}: {text}");
        }
        // An endpoint whose port only begins like the metadata service's is not it.
        let text = explain(&url, &probe("127.0.0.1:9000"), &o);
        assert!(!text.contains("no credentials found"), "{text}");
    }

    #[test]
    fn without_credentials_the_metadata_service_is_probed_once_where_the_client_would_ask() {
        let mut o = StorageOptions::default();
        o.set("aws_metadata_endpoint", "http://127.0.0.1:9")
            .unwrap();
        o.set(
            "azure_msi_endpoint",
            "http://127.0.0.1:9/metadata/identity/oauth2/token",
        )
        .unwrap();
        assert_eq!(metadata_addresses(Cloud::S3, &o), ["127.0.0.1:9"]);
        assert_eq!(metadata_addresses(Cloud::Azure, &o), ["127.0.0.1:9"]);
        for (cloud, key, value) in [
            (Cloud::S3, "aws_access_key_id", "k"),
            (Cloud::S3, "aws_skip_signature", "true"),
            (Cloud::Gcs, "google_service_account", "/sa.json"),
            (Cloud::Azure, "azure_storage_use_emulator", "true"),
            (Cloud::Azure, "azure_storage_sas_key", "sv=1"),
        ] {
            let mut k = StorageOptions::default();
            k.set(key, value).unwrap();
            assert!(credentials_configured(cloud, &k), "{key}");
        }
        // Nothing configured and a closed port: no credentials, at once.
        if !credentials_configured(Cloud::S3, &o) {
            let started = std::time::Instant::now();
            let e = check_credentials(&Url::parse("s3://b/p/").unwrap(), &o).unwrap_err();
            assert!(matches!(e, StorageError::NoCredentials { .. }), "{e}");
            assert!(e.to_string().contains("no credentials found"), "{e}");
            assert!(started.elapsed() < METADATA_PROBE * 2);
        }
    }

    #[test]
    fn options_are_checked_and_never_shown() {
        let mut o = StorageOptions::default();
        o.add_arg("AWS_ENDPOINT=http://127.0.0.1:9000").unwrap();
        o.set("aws_secret_access_key", "very-secret-value").unwrap();
        o.set("azure_storage_use_emulator", "true").unwrap();
        let e = o.set("aws_no_such_thing", "1").unwrap_err().to_string();
        assert!(e.contains("aws_no_such_thing"), "{e}");
        assert!(o.add_arg("novalue").is_err());
        assert!(!format!("{o:?}").contains("very-secret-value"));
        assert_eq!(o.scrub("x very-secret-value y"), "x <redacted> y");
        assert_eq!(
            o.scrub("http://127.0.0.1:9000/b"),
            "http://127.0.0.1:9000/b"
        );
    }

    #[test]
    fn xml_bodies_are_condensed() {
        let t = "Error performing GET x - 404 Not Found: <?xml version=\"1.0\"?>\n<Error>\n <Code>NoSuchBucket</Code>\n <Message><![CDATA[The specified bucket does not exist]]></Message>\n</Error>";
        assert_eq!(
            condense(t),
            "Error performing GET x - 404 Not Found: NoSuchBucket: The specified bucket does not exist"
        );
        assert_eq!(condense("plain"), "plain");
    }

    #[test]
    fn stores_build_for_every_scheme() {
        let mut o = StorageOptions::default();
        o.set("aws_region", "us-east-1").unwrap();
        o.set("aws_access_key_id", "k").unwrap();
        o.set("aws_secret_access_key", "s").unwrap();
        o.set("azure_storage_use_emulator", "true").unwrap();
        for u in [
            "s3://bucket/p/",
            "s3a://bucket/p/",
            "az://container/p/",
            "abfss://container@devstoreaccount1.dfs.core.windows.net/p/",
        ] {
            build_store(&Url::parse(u).unwrap(), &o).unwrap_or_else(|e| panic!("{u}: {e}"));
        }
        let e = build_store(&Url::parse("ftp://h/p/").unwrap(), &o)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("ftp"), "{e}");
    }
}
