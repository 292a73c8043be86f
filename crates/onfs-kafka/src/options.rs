//! Producer options: the Spark form the original's users have (`kafka.acks`, `kafka.sasl.jaas.config`
//! ...) and librdkafka's own names, translated to librdkafka's configuration. A name with no
//! librdkafka equivalent is an error naming it, never silently dropped.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::stores::{self, Secrets, StoreKind, StoreType};
use crate::{KafkaError, Setting};

/// Defaults the tool sets unless the user sets them.
pub const DEFAULTS: [(&str, &str); 5] = [
    ("acks", "all"),
    ("enable.idempotence", "true"),
    ("compression.type", "lz4"),
    ("linger.ms", "5"),
    // Bounded memory: at most 128 MiB of messages waiting for delivery.
    ("queue.buffering.max.kbytes", "131072"),
];

/// librdkafka properties whose values are secrets.
const SECRET_KEYS: [&str; 7] = [
    "sasl.password",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.key.pem",
    "sasl.oauthbearer.client.secret",
    "ssl.truststore.password",
    "sasl.jaas.config",
];

pub fn is_secret(key: &str) -> bool {
    let k = key.strip_prefix("kafka.").unwrap_or(key);
    SECRET_KEYS.contains(&k)
}

/// The librdkafka configuration to create a producer with.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProducerConfig {
    entries: BTreeMap<String, String>,
    /// Where each entry came from (the user's spelling), for error messages.
    origin: BTreeMap<String, String>,
    /// Secrets read but not handed to librdkafka as they are (the stores' passwords).
    consumed_secrets: Vec<String>,
}

/// The Spark store options, read once every option is known (a password may follow its store).
#[derive(Default)]
struct StoreOptions {
    truststore: Option<String>,
    truststore_password: Option<String>,
    truststore_type: Option<StoreType>,
    keystore: Option<String>,
    keystore_password: Option<String>,
    keystore_type: Option<StoreType>,
    key_password: Option<String>,
}

impl fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.redacted()).finish()
    }
}

impl ProducerConfig {
    /// The options with the tool's defaults under them.
    pub fn from_options<'a>(
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ProducerConfig, KafkaError> {
        let mut cfg = ProducerConfig::default();
        for (k, v) in DEFAULTS {
            cfg.entries.insert(k.to_string(), v.to_string());
        }
        let mut stores = StoreOptions::default();
        for (key, value) in options {
            cfg.apply(key.trim(), value.trim(), &mut stores)?;
        }
        cfg.read_stores(stores)?;
        Ok(cfg)
    }

    /// Every secret value the options hold, to keep out of any output.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|(k, v)| is_secret(k) && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .chain(self.consumed_secrets.iter().map(String::as_str))
    }

    /// The stores, read in memory and set as librdkafka's PEM properties.
    fn read_stores(&mut self, s: StoreOptions) -> Result<(), KafkaError> {
        self.consumed_secrets.extend(
            [
                &s.truststore_password,
                &s.keystore_password,
                &s.key_password,
            ]
            .into_iter()
            .flatten()
            .filter(|p| !p.is_empty())
            .cloned(),
        );
        let failed = |store: StoreKind, path: &str| {
            let path = path.to_string();
            move |problem| KafkaError::Store {
                store,
                path,
                problem,
            }
        };
        if let Some(path) = &s.truststore {
            let ca = stores::read_truststore(
                Path::new(path),
                Secrets {
                    declared: s.truststore_type,
                    password: s.truststore_password.as_deref(),
                    key_password: None,
                },
            )
            .map_err(failed(StoreKind::Truststore, path))?;
            self.set("ssl.ca.pem", &ca, StoreKind::Truststore.location_option());
        }
        if let Some(path) = &s.keystore {
            let id = stores::read_keystore(
                Path::new(path),
                Secrets {
                    declared: s.keystore_type,
                    password: s.keystore_password.as_deref(),
                    key_password: s.key_password.as_deref(),
                },
            )
            .map_err(failed(StoreKind::Keystore, path))?;
            let origin = StoreKind::Keystore.location_option();
            self.set("ssl.certificate.pem", &id.certificate_pem, origin);
            self.set("ssl.key.pem", &id.key_pem, origin);
            if let Some(p) = &id.key_password {
                self.set("ssl.key.password", p, "kafka.ssl.key.password");
            }
        } else if let Some(p) = &s.key_password {
            // A key librdkafka reads itself (its own ssl.key.location).
            self.set("ssl.key.password", p, "kafka.ssl.key.password");
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The user's spelling of a librdkafka property, for error messages.
    pub fn origin_of(&self, key: &str) -> String {
        self.origin
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_string())
    }

    /// The largest message value that passes the producer's size limit (`message.max.bytes`,
    /// librdkafka's default 1,000,000, less room for the record's own framing), unless
    /// `explicit` says otherwise.
    pub fn max_message_value_bytes(&self, explicit: Option<usize>) -> usize {
        /// librdkafka's default `message.max.bytes`.
        const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;
        /// Room kept for the record's own framing (headers, key, batch overhead).
        const RECORD_OVERHEAD: usize = 1024;
        explicit.unwrap_or_else(|| {
            self.get("message.max.bytes")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES)
                .saturating_sub(RECORD_OVERHEAD)
                .max(1)
        })
    }

    /// Every entry, secrets replaced by `<redacted>`.
    pub fn redacted(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .map(|(k, v)| {
                let v = if is_secret(k) {
                    "<redacted>".to_string()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect()
    }

    pub fn set(&mut self, key: &str, value: &str, origin: &str) {
        self.entries.insert(key.to_string(), value.to_string());
        self.origin.insert(key.to_string(), origin.to_string());
    }

    fn apply(
        &mut self,
        key: &str,
        value: &str,
        stores: &mut StoreOptions,
    ) -> Result<(), KafkaError> {
        let about = |setting: Option<Setting>, why: String| KafkaError::Option {
            option: key.to_string(),
            problem: why,
            setting,
        };
        let bad = |why: String| about(None, why);
        if key.is_empty() {
            return Err(bad("empty option name".into()));
        }
        let Some(java) = key.strip_prefix("kafka.") else {
            // librdkafka's own name: passed as is, checked by librdkafka when the producer is made.
            match key {
                "topic" | "subscribe" | "assign" => {
                    return Err(about(
                        Some(Setting::Topic),
                        "the topic is given separately, not as an option".into(),
                    ));
                }
                "bootstrap.servers" | "metadata.broker.list" => {
                    return Err(about(
                        Some(Setting::Brokers),
                        "the brokers are given separately, not as an option".into(),
                    ));
                }
                _ => {}
            }
            self.set(key, value, key);
            return Ok(());
        };
        match java {
            // Same name and meaning in librdkafka.
            "acks" | "compression.type" | "linger.ms" | "batch.size" | "retries"
            | "request.timeout.ms" | "delivery.timeout.ms" | "retry.backoff.ms"
            | "retry.backoff.max.ms" | "max.in.flight.requests.per.connection"
            | "enable.idempotence" | "client.id" | "connections.max.idle.ms"
            | "reconnect.backoff.ms" | "reconnect.backoff.max.ms" | "metadata.max.age.ms"
            | "socket.connection.setup.timeout.ms" | "transactional.id"
            | "ssl.endpoint.identification.algorithm" | "ssl.cipher.suites"
            | "sasl.kerberos.service.name" | "client.dns.lookup" => {
                let value = match (java, value) {
                    // Java turns host name checking off with an empty value.
                    ("ssl.endpoint.identification.algorithm", "") => "none",
                    _ => value,
                };
                self.set(java, value, key);
            }
            "max.request.size" => self.set("message.max.bytes", value, key),
            "buffer.memory" => {
                let bytes: u64 = value
                    .parse()
                    .map_err(|_| bad(format!("expected a number of bytes, got {value:?}")))?;
                self.set(
                    "queue.buffering.max.kbytes",
                    &(bytes / 1024).max(1).to_string(),
                    key,
                );
            }
            "security.protocol" => self.set("security.protocol", &value.to_ascii_lowercase(), key),
            "sasl.mechanism" => self.set("sasl.mechanisms", value, key),
            "sasl.jaas.config" => match parse_jaas(value).map_err(|why| bad(why.to_string()))? {
                Jaas::Password { user, password } => {
                    self.set("sasl.username", &user, key);
                    self.set("sasl.password", &password, key);
                }
                Jaas::Kerberos {
                    keytab,
                    principal,
                    service,
                } => {
                    if let Some(keytab) = keytab {
                        self.set("sasl.kerberos.keytab", &keytab, key);
                    } else if !self.entries.contains_key("sasl.kerberos.min.time.before.relogin") {
                        // The ticket cache only (the user's own kinit): librdkafka runs no kinit.
                        self.set("sasl.kerberos.min.time.before.relogin", "0", key);
                    }
                    if let Some(principal) = principal {
                        self.set("sasl.kerberos.principal", &principal, key);
                    }
                    if let Some(service) = service {
                        self.set("sasl.kerberos.service.name", &service, key);
                    }
                }
            },
            "ssl.truststore.location" => stores.truststore = Some(value.to_string()),
            "ssl.truststore.password" => stores.truststore_password = Some(value.to_string()),
            "ssl.keystore.location" => stores.keystore = Some(value.to_string()),
            "ssl.keystore.password" => stores.keystore_password = Some(value.to_string()),
            "ssl.key.password" => stores.key_password = Some(value.to_string()),
            "ssl.truststore.type" | "ssl.keystore.type" => {
                let ty = StoreType::parse(value).ok_or_else(|| {
                    bad(format!(
                        "{value:?} is not a store type read here; use JKS, PKCS12 or PEM"
                    ))
                })?;
                if java == "ssl.truststore.type" {
                    stores.truststore_type = Some(ty);
                } else {
                    stores.keystore_type = Some(ty);
                }
            }
            "ssl.truststore.certificates" => self.set("ssl.ca.pem", value, key),
            "ssl.keystore.certificate.chain" => self.set("ssl.certificate.pem", value, key),
            "ssl.keystore.key" => self.set("ssl.key.pem", value, key),
            "key.serializer" | "value.serializer" | "partitioner.class" | "interceptor.classes" => {
                return Err(about(
                    Some(Setting::Key),
                    "Java classes cannot be loaded here; messages are bytes, and their key is a setting of its own".into(),
                ));
            }
            other => {
                return Err(bad(format!(
                    "kafka.{other} has no librdkafka equivalent; pass a librdkafka property by its own name (without the `kafka.` prefix) if one fits"
                )))
            }
        }
        Ok(())
    }
}

/// What a JAAS login module line gives librdkafka.
#[derive(Debug, PartialEq, Eq)]
enum Jaas {
    /// PlainLoginModule, ScramLoginModule.
    Password { user: String, password: String },
    /// Krb5LoginModule: a keytab (`useKeyTab=true keyTab=...`) or the ticket cache
    /// (`useTicketCache=true`, the user's own kinit), the client's principal, and the broker's
    /// service name when the line gives it.
    Kerberos {
        keytab: Option<String>,
        principal: Option<String>,
        service: Option<String>,
    },
}

/// A login module line: the module, then `name=value` pairs (values quoted or not), then `;`.
fn parse_jaas(value: &str) -> Result<Jaas, &'static str> {
    let v = value.trim();
    let module = v.split_whitespace().next().unwrap_or("");
    let mut pairs = BTreeMap::new();
    let mut rest = &v[module.len()..];
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq].split_whitespace().last().unwrap_or("");
        let after = rest[eq + 1..].trim_start();
        let (val, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => return Err("unterminated quoted value in the login module line"),
            }
        } else {
            let end = after
                .find(|c: char| c.is_whitespace() || c == ';')
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        pairs.insert(name, val.to_string());
        rest = remaining;
    }
    if module.ends_with("PlainLoginModule") || module.ends_with("ScramLoginModule") {
        return match (pairs.remove("username"), pairs.remove("password")) {
            (Some(user), Some(password)) => Ok(Jaas::Password { user, password }),
            _ => Err("the login module line needs username=\"...\" and password=\"...\""),
        };
    }
    if module.ends_with("Krb5LoginModule") {
        let yes = |name: &str| {
            pairs
                .get(name)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        };
        let (use_keytab, use_cache) = (yes("useKeyTab"), yes("useTicketCache"));
        let principal = pairs.remove("principal").filter(|p| !p.is_empty());
        let service = pairs.remove("serviceName").filter(|p| !p.is_empty());
        if use_keytab {
            let Some(keytab) = pairs.remove("keyTab").filter(|k| !k.is_empty()) else {
                return Err("useKeyTab=true needs keyTab=\"/path/to/the.keytab\"");
            };
            if principal.is_none() {
                return Err("useKeyTab=true needs principal=\"name@REALM\", the principal whose keys the keytab holds");
            }
            return Ok(Jaas::Kerberos {
                keytab: Some(keytab),
                principal,
                service,
            });
        }
        if use_cache {
            return Ok(Jaas::Kerberos {
                keytab: None,
                principal,
                service,
            });
        }
        return Err("the Krb5LoginModule line needs useKeyTab=true with keyTab=\"...\" and principal=\"...\", or useTicketCache=true (a ticket from your own kinit)");
    }
    Err("only the PlainLoginModule, ScramLoginModule and Krb5LoginModule login modules are supported")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(opts: &[(&str, &str)]) -> Result<ProducerConfig, KafkaError> {
        ProducerConfig::from_options(opts.iter().copied())
    }

    #[test]
    fn defaults_and_spark_names() {
        let c = cfg(&[
            ("kafka.acks", "1"),
            ("kafka.max.request.size", "2097152"),
            ("kafka.buffer.memory", "33554432"),
            ("kafka.security.protocol", "SASL_SSL"),
            ("kafka.sasl.mechanism", "SCRAM-SHA-512"),
            ("queue.buffering.max.messages", "1000"),
        ])
        .unwrap();
        assert_eq!(c.get("acks"), Some("1"));
        assert_eq!(c.get("compression.type"), Some("lz4"));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("message.max.bytes"), Some("2097152"));
        assert_eq!(c.get("queue.buffering.max.kbytes"), Some("32768"));
        assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(c.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
        assert_eq!(c.get("queue.buffering.max.messages"), Some("1000"));
        assert_eq!(c.origin_of("message.max.bytes"), "kafka.max.request.size");
    }

    #[test]
    fn jaas_lines_give_user_and_password_and_stay_secret() {
        let c = cfg(&[(
            "kafka.sasl.jaas.config",
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="svc" password="p@ss w=rd";"#,
        )])
        .unwrap();
        assert_eq!(c.get("sasl.username"), Some("svc"));
        assert_eq!(c.get("sasl.password"), Some("p@ss w=rd"));
        assert!(!format!("{c:?}").contains("p@ss"));
        let c = cfg(&[(
            "kafka.sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=u password=pw;",
        )])
        .unwrap();
        assert_eq!(c.get("sasl.password"), Some("pw"));
        let e = cfg(&[(
            "kafka.sasl.jaas.config",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
        )])
        .unwrap_err();
        assert!(e.to_string().contains("kafka.sasl.jaas.config"), "{e}");
        assert!(e.to_string().contains("Krb5LoginModule"), "{e}");
    }

    #[test]
    fn krb5_lines_give_keytab_and_principal_or_the_ticket_cache() {
        let c = cfg(&[
            ("kafka.security.protocol", "SASL_PLAINTEXT"),
            ("kafka.sasl.mechanism", "GSSAPI"),
            ("kafka.sasl.kerberos.service.name", "kafka"),
            (
                "kafka.sasl.jaas.config",
                r#"com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab="/etc/sec/svc one.keytab" principal="svc/host@EXAMPLE.COM";"#,
            ),
        ])
        .unwrap();
        assert_eq!(c.get("sasl.mechanisms"), Some("GSSAPI"));
        assert_eq!(c.get("sasl.kerberos.service.name"), Some("kafka"));
        assert_eq!(
            c.get("sasl.kerberos.keytab"),
            Some("/etc/sec/svc one.keytab")
        );
        assert_eq!(
            c.get("sasl.kerberos.principal"),
            Some("svc/host@EXAMPLE.COM")
        );
        assert_eq!(c.get("sasl.kerberos.min.time.before.relogin"), None);
        assert_eq!(c.get("sasl.username"), None);
        assert_eq!(
            c.origin_of("sasl.kerberos.keytab"),
            "kafka.sasl.jaas.config"
        );

        // The ticket cache: librdkafka runs no kinit; serviceName as Kafka's Java client reads it.
        let c = cfg(&[(
            "kafka.sasl.jaas.config",
            r#"com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true serviceName="kafka-svc";"#,
        )])
        .unwrap();
        assert_eq!(c.get("sasl.kerberos.keytab"), None);
        assert_eq!(c.get("sasl.kerberos.min.time.before.relogin"), Some("0"));
        assert_eq!(c.get("sasl.kerberos.service.name"), Some("kafka-svc"));

        for (line, says) in [
            ("useKeyTab=true principal=\"a@B\";", "needs keyTab="),
            ("useKeyTab=true keyTab=\"/k.keytab\";", "needs principal="),
            ("principal=\"a@B\";", "useTicketCache=true"),
        ] {
            let e = cfg(&[(
                "kafka.sasl.jaas.config",
                &format!("com.sun.security.auth.module.Krb5LoginModule required {line}"),
            )])
            .unwrap_err();
            assert!(e.to_string().contains("kafka.sasl.jaas.config"), "{e}");
            assert!(e.to_string().contains(says), "{says}: {e}");
        }
    }

    #[test]
    fn stores_are_read_once_every_option_is_known_and_their_passwords_kept_secret() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let text = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        std::fs::write(&ca, text).unwrap();
        // The password may come before its store; a PEM store ignores it.
        let c = cfg(&[
            ("kafka.ssl.truststore.password", "st0re-pw"),
            ("kafka.ssl.truststore.type", "pem"),
            ("kafka.ssl.truststore.location", ca.to_str().unwrap()),
            ("kafka.ssl.endpoint.identification.algorithm", ""),
        ])
        .unwrap();
        assert_eq!(c.get("ssl.ca.pem"), Some(text));
        assert_eq!(c.get("ssl.ca.location"), None);
        assert_eq!(c.get("ssl.endpoint.identification.algorithm"), Some("none"));
        assert_eq!(c.origin_of("ssl.ca.pem"), "kafka.ssl.truststore.location");
        assert!(c.secrets().any(|s| s == "st0re-pw"));
        assert!(!format!("{c:?}").contains("st0re-pw"));
        // A key password with no keystore goes to librdkafka's own key file.
        let c = cfg(&[
            ("ssl.key.location", "/k.pem"),
            ("kafka.ssl.key.password", "k3y-pw"),
        ])
        .unwrap();
        assert_eq!(c.get("ssl.key.password"), Some("k3y-pw"));
        assert!(!format!("{c:?}").contains("k3y-pw"));
        let e = cfg(&[(
            "kafka.ssl.keystore.location",
            dir.path().join("none.p12").to_str().unwrap(),
        )])
        .unwrap_err();
        assert!(
            matches!(
                e,
                KafkaError::Store {
                    store: StoreKind::Keystore,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().starts_with("Kafka keystore "), "{e}");
        assert!(e.to_string().contains("none.p12: cannot be read"), "{e}");
    }

    #[test]
    fn unknown_java_names_are_errors_naming_them() {
        let e = cfg(&[("kafka.partitioner.ignore.keys", "true")]).unwrap_err();
        assert!(
            e.to_string().contains("kafka.partitioner.ignore.keys"),
            "{e}"
        );
        let e = cfg(&[("kafka.ssl.truststore.type", "BCFKS")]).unwrap_err();
        assert!(e.to_string().contains("BCFKS"), "{e}");
        let e = cfg(&[("topic", "x")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Kafka option topic: the topic is given separately, not as an option"
        );
        assert_eq!(e.setting(), Some(Setting::Topic));
        let e = cfg(&[("bootstrap.servers", "b:9092")]).unwrap_err();
        assert_eq!(e.setting(), Some(Setting::Brokers));
        let e = cfg(&[("kafka.key.serializer", "x")]).unwrap_err();
        assert_eq!(e.setting(), Some(Setting::Key));
        assert!(!e.to_string().contains("--"), "no flag spelling: {e}");
        let e = cfg(&[("kafka.ssl.truststore.type", "BCFKS")]).unwrap_err();
        assert_eq!(e.setting(), None);
    }
}
