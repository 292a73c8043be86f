//! Key and trust stores as Spark's users name them (`kafka.ssl.truststore.location` ...): JKS,
//! PKCS12 or PEM files, read in memory and handed to librdkafka as PEM text (`ssl.ca.pem`,
//! `ssl.certificate.pem`, `ssl.key.pem`). No file holding a key is ever written.

use std::fmt;
use std::path::Path;

use base64::Engine;

/// Which store an option names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Truststore,
    Keystore,
}

impl StoreKind {
    /// The Spark option that gives the store's password.
    pub fn password_option(self) -> &'static str {
        match self {
            StoreKind::Truststore => "kafka.ssl.truststore.password",
            StoreKind::Keystore => "kafka.ssl.keystore.password",
        }
    }

    /// The Spark option that gives the store's file.
    pub fn location_option(self) -> &'static str {
        match self {
            StoreKind::Truststore => "kafka.ssl.truststore.location",
            StoreKind::Keystore => "kafka.ssl.keystore.location",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreKind::Truststore => "truststore",
            StoreKind::Keystore => "keystore",
        })
    }
}

/// A store's format. Java reads JKS and PKCS12 files whichever of the two is declared, and so
/// does this: the declared type only tells PEM from the binary formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    Jks,
    Pkcs12,
    Pem,
}

impl StoreType {
    /// `ssl.truststore.type` / `ssl.keystore.type` as Spark takes them (any case).
    pub fn parse(value: &str) -> Option<StoreType> {
        match value.to_ascii_uppercase().as_str() {
            "JKS" => Some(StoreType::Jks),
            "PKCS12" => Some(StoreType::Pkcs12),
            "PEM" => Some(StoreType::Pem),
            _ => None,
        }
    }

    /// The format of a store's bytes.
    fn detect(bytes: &[u8]) -> Option<StoreType> {
        if bytes.starts_with(&[0xfe, 0xed, 0xfe, 0xed]) {
            Some(StoreType::Jks)
        } else if bytes.first() == Some(&0x30) {
            Some(StoreType::Pkcs12)
        } else if String::from_utf8_lossy(bytes).contains("-----BEGIN ") {
            Some(StoreType::Pem)
        } else {
            None
        }
    }
}

impl fmt::Display for StoreType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreType::Jks => "JKS",
            StoreType::Pkcs12 => "PKCS12",
            StoreType::Pem => "PEM",
        })
    }
}

/// What is wrong with a store. No variant carries a password or key material.
#[derive(Debug, thiserror::Error)]
pub enum StoreProblem {
    #[error("cannot be read: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error("is not a JKS, PKCS12 or PEM file")]
    UnknownFormat,
    #[error("is a {found} file, not {declared} as its type option says")]
    WrongType {
        declared: StoreType,
        found: StoreType,
    },
    #[error("the password given with {option} is wrong")]
    WrongPassword { option: &'static str },
    #[error("needs its password: give it with {option}")]
    NoPassword { option: &'static str },
    #[error("the key password given with {option} is wrong")]
    WrongKeyPassword { option: &'static str },
    #[error("JKS passwords with characters beyond Latin-1 are not supported; convert the store to PKCS12")]
    Password,
    #[error("is not a valid {format} store: {detail}")]
    Invalid { format: StoreType, detail: String },
    #[error("holds no certificate")]
    NoCertificate,
    #[error("holds no private key with its certificate")]
    NoKey,
}

/// A client identity for mutual TLS, as librdkafka's `ssl.certificate.pem` and `ssl.key.pem`.
pub struct Identity {
    /// The certificate chain, leaf first.
    pub certificate_pem: String,
    pub key_pem: String,
    /// Set when the key is a PEM file's encrypted key: librdkafka decrypts it with this.
    pub key_password: Option<String>,
}

/// The passwords and declared type that go with a store's file.
#[derive(Clone, Copy, Default)]
pub struct Secrets<'a> {
    pub declared: Option<StoreType>,
    pub password: Option<&'a str>,
    /// The key's own password (JKS keys may have one; PKCS12 keys share the store's).
    pub key_password: Option<&'a str>,
}

/// Every trusted certificate of a truststore, as PEM.
pub fn read_truststore(path: &Path, secrets: Secrets<'_>) -> Result<String, StoreProblem> {
    let kind = StoreKind::Truststore;
    let (format, bytes) = load(path, secrets.declared)?;
    let ders: Vec<Vec<u8>> = match format {
        StoreType::Pem => {
            let text = String::from_utf8_lossy(&bytes);
            let certs = pem_blocks(&text, |label| label == "CERTIFICATE");
            return if certs.is_empty() {
                Err(StoreProblem::NoCertificate)
            } else {
                Ok(certs)
            };
        }
        StoreType::Jks => {
            let store = jks_store(&bytes, kind, secrets.password)?;
            let mut aliases = store.aliases();
            aliases.sort();
            aliases
                .iter()
                .filter_map(|a| store.get_trusted_certificate_entry(a).ok())
                .map(|e| e.certificate.content)
                .collect()
        }
        StoreType::Pkcs12 => {
            let store = p12_store(
                &bytes,
                kind,
                secrets.password,
                p12_keystore::Pkcs12ImportPolicy::Raw,
            )?;
            store
                .entries()
                .filter_map(|(_, e)| match e {
                    p12_keystore::KeyStoreEntry::Certificate(c) => Some(c.as_der().to_vec()),
                    _ => None,
                })
                .collect()
        }
    };
    if ders.is_empty() {
        return Err(StoreProblem::NoCertificate);
    }
    Ok(ders.iter().map(|d| pem("CERTIFICATE", d)).collect())
}

/// The private key and its certificate chain of a keystore.
pub fn read_keystore(path: &Path, secrets: Secrets<'_>) -> Result<Identity, StoreProblem> {
    let kind = StoreKind::Keystore;
    let (format, bytes) = load(path, secrets.declared)?;
    let (key, chain) = match format {
        StoreType::Pem => {
            let text = String::from_utf8_lossy(&bytes);
            let key = pem_blocks(&text, |label| label.ends_with("PRIVATE KEY"));
            let certs = pem_blocks(&text, |label| label == "CERTIFICATE");
            if key.is_empty() || certs.is_empty() {
                return Err(StoreProblem::NoKey);
            }
            return Ok(Identity {
                certificate_pem: certs,
                key_pem: key,
                key_password: secrets.key_password.map(str::to_string),
            });
        }
        StoreType::Jks => {
            let store = jks_store(&bytes, kind, secrets.password)?;
            let mut aliases = store.aliases();
            aliases.sort();
            let alias = aliases
                .iter()
                .find(|a| store.is_private_key_entry(a))
                .ok_or(StoreProblem::NoKey)?;
            // Java decrypts every key with ssl.key.password, else with the store's password.
            let (key_password, option) = match secrets.key_password {
                Some(p) => (p, "kafka.ssl.key.password"),
                None => (secrets.password.unwrap_or_default(), kind.password_option()),
            };
            let entry = store
                .get_private_key_entry(alias, &latin1(key_password)?)
                .map_err(|e| match e {
                    jks::KeyStoreError::InvalidDigest => StoreProblem::WrongKeyPassword { option },
                    other => StoreProblem::Invalid {
                        format,
                        detail: other.to_string(),
                    },
                })?;
            let chain = entry
                .certificate_chain
                .into_iter()
                .map(|c| c.content)
                .collect::<Vec<_>>();
            (entry.private_key, chain)
        }
        StoreType::Pkcs12 => {
            let store = p12_store(
                &bytes,
                kind,
                secrets.password,
                p12_keystore::Pkcs12ImportPolicy::Strict,
            )?;
            let (_, chain) = store.private_key_chain().ok_or(StoreProblem::NoKey)?;
            (
                chain.key().as_der().to_vec(),
                chain.certs().iter().map(|c| c.as_der().to_vec()).collect(),
            )
        }
    };
    if chain.is_empty() {
        return Err(StoreProblem::NoKey);
    }
    Ok(Identity {
        certificate_pem: chain.iter().map(|d| pem("CERTIFICATE", d)).collect(),
        key_pem: pem("PRIVATE KEY", &key),
        key_password: None,
    })
}

/// The file's bytes and format (found from its content; a declared PEM must be PEM).
fn load(path: &Path, declared: Option<StoreType>) -> Result<(StoreType, Vec<u8>), StoreProblem> {
    let bytes = std::fs::read(path).map_err(StoreProblem::Unreadable)?;
    let found = StoreType::detect(&bytes).ok_or(StoreProblem::UnknownFormat)?;
    match declared {
        Some(StoreType::Pem) if found != StoreType::Pem => Err(StoreProblem::WrongType {
            declared: StoreType::Pem,
            found,
        }),
        Some(declared) if declared != StoreType::Pem && found == StoreType::Pem => {
            Err(StoreProblem::WrongType { declared, found })
        }
        _ => Ok((found, bytes)),
    }
}

fn jks_store(
    bytes: &[u8],
    kind: StoreKind,
    password: Option<&str>,
) -> Result<jks::KeyStore, StoreProblem> {
    let option = kind.password_option();
    let mut store = jks::KeyStore::new();
    match store.load(bytes, &latin1(password.unwrap_or_default())?) {
        Ok(()) => Ok(store),
        Err(jks::KeyStoreError::InvalidDigest) if password.is_none() => {
            Err(StoreProblem::NoPassword { option })
        }
        Err(jks::KeyStoreError::InvalidDigest) => Err(StoreProblem::WrongPassword { option }),
        Err(e) => Err(StoreProblem::Invalid {
            format: StoreType::Jks,
            detail: e.to_string(),
        }),
    }
}

fn p12_store(
    bytes: &[u8],
    kind: StoreKind,
    password: Option<&str>,
    policy: p12_keystore::Pkcs12ImportPolicy,
) -> Result<p12_keystore::KeyStore, StoreProblem> {
    use p12_keystore::error::Error;
    let option = kind.password_option();
    match p12_keystore::KeyStore::from_pkcs12(bytes, password.unwrap_or_default(), policy) {
        Ok(store) => Ok(store),
        Err(Error::MacError(_) | Error::UnpadError) if password.is_none() => {
            Err(StoreProblem::NoPassword { option })
        }
        Err(Error::MacError(_) | Error::UnpadError) => Err(StoreProblem::WrongPassword { option }),
        Err(e) => Err(StoreProblem::Invalid {
            format: StoreType::Pkcs12,
            detail: e.to_string(),
        }),
    }
}

/// A JKS password as the format hashes it: each Java char as two bytes, here one byte each
/// after the zero the JKS reader puts before it (so any Latin-1 character is right).
fn latin1(password: &str) -> Result<Vec<u8>, StoreProblem> {
    password
        .chars()
        .map(|c| u8::try_from(u32::from(c)).map_err(|_| StoreProblem::Password))
        .collect()
}

/// One DER item as a PEM block.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The PEM blocks of `text` whose label `keep` accepts, as they are written.
fn pem_blocks(text: &str, keep: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    let mut current: Option<(bool, String)> = None;
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = Some((keep(label), String::new()));
        }
        if let Some((wanted, block)) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") {
                if *wanted {
                    out.push_str(block);
                }
                current = None;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_are_picked_by_label() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\
                    -----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            pem_blocks(text, |l| l == "CERTIFICATE"),
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        );
        assert!(pem_blocks(text, |l| l.ends_with("PRIVATE KEY")).contains("BBBB"));
        assert_eq!(
            pem("X", &[0u8; 60]).lines().nth(1).map(str::len),
            Some(64),
            "64 characters a line"
        );
    }

    #[test]
    fn formats_are_found_from_the_content_and_types_checked() {
        let dir = tempfile::tempdir().unwrap();
        let pem_file = dir.path().join("ca.pem");
        std::fs::write(
            &pem_file,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let jks_file = dir.path().join("t.jks");
        std::fs::write(&jks_file, [0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]).unwrap();
        assert_eq!(
            read_truststore(&pem_file, Secrets::default()).unwrap(),
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        );
        let e = read_truststore(
            &pem_file,
            Secrets {
                declared: Some(StoreType::Jks),
                ..Secrets::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "is a PEM file, not JKS as its type option says"
        );
        let e = read_truststore(
            &jks_file,
            Secrets {
                declared: Some(StoreType::Pem),
                ..Secrets::default()
            },
        )
        .unwrap_err();
        assert!(matches!(e, StoreProblem::WrongType { .. }), "{e}");
        let e = read_truststore(&dir.path().join("nope"), Secrets::default()).unwrap_err();
        assert!(matches!(e, StoreProblem::Unreadable(_)), "{e}");
        let junk = dir.path().join("junk");
        std::fs::write(&junk, "hello").unwrap();
        let e = read_truststore(&junk, Secrets::default()).unwrap_err();
        assert!(matches!(e, StoreProblem::UnknownFormat), "{e}");
        assert!(matches!(latin1("pässword"), Ok(b) if b.len() == 8));
        assert!(matches!(latin1("密码"), Err(StoreProblem::Password)));
    }
}
