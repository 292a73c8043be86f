//! Against the real test broker's TLS, SASL_SSL and Kerberos listeners: Spark options as users
//! paste them (JKS, PKCS12 and PEM stores with passwords, SCRAM, Krb5LoginModule keytabs), the
//! reference case byte for byte, and every wrong certificate, host, password or credential named
//! without a secret in any output.

use std::path::{Path, PathBuf};

use crate::support::*;

const SASL_PASSWORD: &str = "onfs-secret";

fn tls(name: &str) -> String {
    broker().tls_dir.join(name).to_str().unwrap().to_string()
}

/// Every text that must never appear in an output: the passwords and the client key's lines.
fn secrets() -> Vec<String> {
    let b = broker();
    let mut out = vec![
        b.tls_password.clone(),
        b.tls_key_password.clone(),
        SASL_PASSWORD.to_string(),
    ];
    let key = std::fs::read_to_string(b.tls_dir.join("client.key")).unwrap();
    out.extend(
        key.lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
            .map(str::to_string),
    );
    out
}

fn assert_no_secret(run: &Run, also: &[&str]) {
    let all = run.all_output();
    for s in secrets()
        .iter()
        .map(String::as_str)
        .chain(also.iter().copied())
    {
        assert!(!all.contains(s), "a secret leaked into the output");
    }
}

/// `--kafka-option` pairs for the command line.
fn options(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(k, v)| ["--kafka-option".to_string(), format!("{k}={v}")])
        .collect()
}

/// Sends the reference case to `brokers` with `pairs`; debug logs on, so a leak would show.
fn send(brokers: &str, topic: &str, pairs: &[(&str, &str)], env: &[(&str, &str)]) -> Run {
    let opts = options(pairs);
    let mut rest: Vec<&str> = vec![
        "--kafka-brokers",
        brokers,
        "--topic",
        topic,
        "--kafka-connect-timeout",
        "8",
        "--log-level",
        "debug",
    ];
    rest.extend(opts.iter().map(String::as_str));
    let run = encode_reference_env("all-types", "7", &rest, env);
    assert_no_secret(&run, &[]);
    run
}

/// The error the run ended with (the debug log before it does not count).
fn error_text(run: &Run) -> String {
    let at = run
        .stderr
        .find("error: ")
        .unwrap_or_else(|| panic!("no error line: {}", run.stderr));
    run.stderr[at..].to_string()
}

/// Sends the reference case and checks it arrived whole.
fn round_trip(brokers: &str, prefix: &str, pairs: &[(&str, &str)]) -> String {
    round_trip_env(brokers, prefix, pairs, &[])
}

/// [`round_trip`] with environment variables.
fn round_trip_env(
    brokers: &str,
    prefix: &str,
    pairs: &[(&str, &str)],
    env: &[(&str, &str)],
) -> String {
    let topic = unique_topic(prefix);
    create_topic(&broker().bootstrap, &topic, 1);
    let run = send(brokers, &topic, pairs, env);
    assert_eq!(run.code, 0, "{prefix}: {}", run.stderr);
    assert!(
        run.stderr.contains("8 delivered, 0 failed"),
        "{}",
        run.stderr
    );
    assert_reference_records(&read_topic(&broker().bootstrap, &topic));
    topic
}

/// Spark options with owned values.
type Options = Vec<(&'static str, String)>;

fn truststores() -> Vec<(&'static str, Options)> {
    let pw = broker().tls_password.clone();
    vec![
        (
            "jks",
            vec![
                (
                    "kafka.ssl.truststore.location",
                    tls("client-truststore.jks"),
                ),
                ("kafka.ssl.truststore.password", pw.clone()),
                ("kafka.ssl.truststore.type", "JKS".into()),
            ],
        ),
        (
            "pkcs12",
            vec![
                (
                    "kafka.ssl.truststore.location",
                    tls("client-truststore.p12"),
                ),
                ("kafka.ssl.truststore.password", pw),
                ("kafka.ssl.truststore.type", "PKCS12".into()),
            ],
        ),
        (
            "pem",
            vec![
                ("kafka.ssl.truststore.location", tls("ca.pem")),
                ("kafka.ssl.truststore.type", "PEM".into()),
            ],
        ),
    ]
}

fn borrow<'a>(pairs: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn ssl_round_trips_with_jks_pkcs12_and_pem_truststores() {
    for (name, store) in truststores() {
        let mut pairs = vec![("kafka.security.protocol", "SSL")];
        pairs.extend(borrow(&store));
        round_trip(&broker().ssl, &format!("ssl-{name}"), &pairs);
    }
}

#[test]
fn mutual_tls_round_trips_with_jks_and_pkcs12_keystores_and_reads_back() {
    let b = broker();
    let jks = [
        ("kafka.security.protocol", "SSL".to_string()),
        (
            "kafka.ssl.truststore.location",
            tls("client-truststore.p12"),
        ),
        ("kafka.ssl.truststore.password", b.tls_password.clone()),
        ("kafka.ssl.keystore.location", tls("client-keystore.jks")),
        ("kafka.ssl.keystore.type", "JKS".into()),
        ("kafka.ssl.keystore.password", b.tls_password.clone()),
        // The JKS key has a password of its own.
        ("kafka.ssl.key.password", b.tls_key_password.clone()),
    ];
    let p12 = [
        ("kafka.security.protocol", "SSL".to_string()),
        (
            "kafka.ssl.truststore.location",
            tls("client-truststore.jks"),
        ),
        ("kafka.ssl.truststore.password", b.tls_password.clone()),
        ("kafka.ssl.keystore.location", tls("client-keystore.p12")),
        ("kafka.ssl.keystore.type", "PKCS12".into()),
        ("kafka.ssl.keystore.password", b.tls_password.clone()),
    ];
    round_trip(&b.mtls, "mtls-jks", &borrow(&jks));
    let topic = round_trip(&b.mtls, "mtls-p12", &borrow(&p12));

    // The consumer takes the same options: inspect reads the topic back over mutual TLS.
    let mut args = vec!["inspect".to_string(), format!("kafka://{}/{topic}", b.mtls)];
    args.extend(options(&borrow(&p12)));
    let run = onfs(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout == reference_lines(), "inspect over mutual TLS");
    assert_no_secret(&run, &[]);

    // The key never touches the disk: the temporary folder stays empty.
    let tmp = tempfile::tempdir().unwrap();
    let topic = unique_topic("mtls-tmp");
    create_topic(&b.bootstrap, &topic, 1);
    let run = send(&b.mtls, &topic, &borrow(&p12), &[("TMPDIR", p(tmp.path()))]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let left: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // Without a client certificate the broker refuses the connection.
    let run = send(&b.mtls, &topic, &borrow(&p12[..3]), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(error_text(&run).contains(&b.mtls), "{}", run.stderr);
    assert!(
        run.stderr.contains("sent: 0 messages delivered"),
        "{}",
        run.stderr
    );
}

fn jaas(module: &str, password: &str) -> String {
    format!(
        r#"org.apache.kafka.common.security.{module} required username="onfs" password="{password}";"#
    )
}

#[test]
fn sasl_ssl_plain_and_scram_round_trip_and_wrong_credentials_fail() {
    let b = broker();
    for (mechanism, module) in [
        ("PLAIN", "plain.PlainLoginModule"),
        ("SCRAM-SHA-256", "scram.ScramLoginModule"),
        ("SCRAM-SHA-512", "scram.ScramLoginModule"),
    ] {
        let line = jaas(module, SASL_PASSWORD);
        let store = tls("client-truststore.jks");
        let pairs = [
            ("kafka.security.protocol", "SASL_SSL"),
            ("kafka.sasl.mechanism", mechanism),
            ("kafka.sasl.jaas.config", line.as_str()),
            ("kafka.ssl.truststore.location", store.as_str()),
            ("kafka.ssl.truststore.password", b.tls_password.as_str()),
        ];
        round_trip(&b.sasl_ssl, &mechanism.to_lowercase(), &pairs);

        let wrong = "Wr0ng-Scr4m-Passw0rd";
        let line = jaas(module, wrong);
        let mut bad = pairs;
        bad[2].1 = line.as_str();
        let topic = unique_topic("sasl-ssl-wrong");
        create_topic(&b.bootstrap, &topic, 1);
        let run = send(&b.sasl_ssl, &topic, &bad, &[]);
        assert_eq!(run.code, 1, "{mechanism}: {}", run.stderr);
        let error = error_text(&run);
        assert!(
            error.to_lowercase().contains("authentication failed"),
            "{mechanism}: {error}"
        );
        assert!(error.contains(&b.sasl_ssl), "{error}");
        assert_no_secret(&run, &[wrong]);
    }
}

#[test]
fn a_certificate_from_another_ca_is_named_with_the_broker() {
    let b = broker();
    let topic = unique_topic("wrong-ca");
    create_topic(&b.bootstrap, &topic, 1);
    let other = tls("other-ca.pem");
    let run = send(
        &b.ssl,
        &topic,
        &[
            ("kafka.security.protocol", "SSL"),
            ("kafka.ssl.truststore.location", other.as_str()),
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let error = error_text(&run);
    assert!(error.contains(&b.ssl), "{error}");
    assert!(error.contains("certificate verify failed"), "{error}");
    assert!(
        run.stderr.contains("sent: 0 messages delivered"),
        "{}",
        run.stderr
    );
    assert!(read_topic(&b.bootstrap, &topic).is_empty(), "nothing sent");
}

#[test]
fn a_certificate_for_another_host_fails_unless_host_checking_is_off() {
    let b = broker();
    let ca = tls("ca.pem");
    let base = [
        ("kafka.security.protocol", "SSL"),
        ("kafka.ssl.truststore.location", ca.as_str()),
    ];
    for check in [None, Some("https")] {
        let topic = unique_topic("other-name");
        create_topic(&b.bootstrap, &topic, 1);
        let mut pairs = base.to_vec();
        if let Some(c) = check {
            pairs.push(("kafka.ssl.endpoint.identification.algorithm", c));
        }
        let run = send(&b.other_name, &topic, &pairs, &[]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        let error = error_text(&run);
        assert!(error.contains(&b.other_name), "{error}");
        assert!(error.contains("certificate verify failed"), "{error}");
        assert!(error.contains("name the host connected to"), "{error}");
    }
    // Spark's empty value turns host name checking off: the CA is still checked.
    let mut pairs = base.to_vec();
    pairs.push(("kafka.ssl.endpoint.identification.algorithm", ""));
    round_trip(&b.other_name, "other-name-unchecked", &pairs);
}

#[test]
fn wrong_store_passwords_name_the_store_and_exit_2_without_the_password() {
    let b = broker();
    let wrong = "Not-The-St0re-Password";
    // The options, the store's file, what the error says.
    let cases: Vec<(Options, String, &str)> = vec![
        (
            vec![
                (
                    "kafka.ssl.truststore.location",
                    tls("client-truststore.jks"),
                ),
                ("kafka.ssl.truststore.password", wrong.into()),
            ],
            tls("client-truststore.jks"),
            "kafka.ssl.truststore.password is wrong",
        ),
        (
            vec![
                (
                    "kafka.ssl.truststore.location",
                    tls("client-truststore.p12"),
                ),
                ("kafka.ssl.truststore.password", wrong.into()),
            ],
            tls("client-truststore.p12"),
            "kafka.ssl.truststore.password is wrong",
        ),
        (
            vec![
                ("kafka.ssl.keystore.location", tls("client-keystore.p12")),
                ("kafka.ssl.keystore.password", wrong.into()),
            ],
            tls("client-keystore.p12"),
            "kafka.ssl.keystore.password is wrong",
        ),
        (
            vec![
                ("kafka.ssl.keystore.location", tls("client-keystore.jks")),
                ("kafka.ssl.keystore.password", wrong.into()),
            ],
            tls("client-keystore.jks"),
            "kafka.ssl.keystore.password is wrong",
        ),
        (
            // The store opens; its key has a password of its own.
            vec![
                ("kafka.ssl.keystore.location", tls("client-keystore.jks")),
                ("kafka.ssl.keystore.password", b.tls_password.clone()),
                ("kafka.ssl.key.password", wrong.into()),
            ],
            tls("client-keystore.jks"),
            "kafka.ssl.key.password is wrong",
        ),
        (
            vec![(
                "kafka.ssl.truststore.location",
                tls("client-truststore.p12"),
            )],
            tls("client-truststore.p12"),
            "needs its password: give it with kafka.ssl.truststore.password",
        ),
        (
            vec![
                ("kafka.ssl.truststore.location", tls("ca.pem")),
                ("kafka.ssl.truststore.type", "JKS".into()),
            ],
            tls("ca.pem"),
            "is a PEM file, not JKS",
        ),
    ];
    for (pairs, path, says) in cases {
        let mut pairs = borrow(&pairs);
        pairs.insert(0, ("kafka.security.protocol", "SSL"));
        let run = send(&b.mtls, "never-created", &pairs, &[]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        let error = error_text(&run);
        assert!(error.contains(&path), "{error}");
        assert!(error.contains(says), "{says}: {error}");
        assert_no_secret(&run, &[wrong]);
    }
}

/// What a Kerberos client needs around it: kinit on PATH (librdkafka runs it), the realm's
/// krb5.conf, and a ticket cache of its own.
struct KerberosEnv {
    path: String,
    krb5_config: String,
    ccache: String,
    _dir: tempfile::TempDir,
}

impl KerberosEnv {
    fn new() -> KerberosEnv {
        let k = broker().kerberos();
        let dir = tempfile::tempdir().unwrap();
        KerberosEnv {
            path: format!(
                "{}:{}",
                p(&k.bin),
                std::env::var("PATH").unwrap_or_default()
            ),
            krb5_config: p(&k.krb5_config).to_string(),
            ccache: format!("FILE:{}", p(&dir.path().join("ccache"))),
            _dir: dir,
        }
    }

    fn vars(&self) -> [(&str, &str); 3] {
        [
            ("PATH", self.path.as_str()),
            ("KRB5_CONFIG", self.krb5_config.as_str()),
            ("KRB5CCNAME", self.ccache.as_str()),
        ]
    }
}

fn krb5_jaas(keytab: &Path, principal: &str) -> String {
    format!(
        r#"com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab="{}" principal="{principal}";"#,
        p(keytab)
    )
}

/// The keytabs' bytes, as text that would show them in an output (hex).
fn assert_no_keytab(run: &Run) {
    let k = broker().kerberos();
    let all = run.all_output().to_lowercase();
    for keytab in [&k.keytab, &k.other_keytab] {
        let bytes = std::fs::read(keytab).unwrap();
        // The last 32 bytes hold key material (an AES-256 key ends each entry).
        let hex: String = bytes[bytes.len() - 32..]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!all.contains(&hex), "a keytab's key leaked into the output");
    }
}

#[test]
fn kerberos_round_trips_with_a_keytab_in_spark_and_librdkafka_form_and_reads_back() {
    let b = broker();
    let k = b.kerberos();
    let env = KerberosEnv::new();
    let jaas = krb5_jaas(&k.keytab, &k.principal);
    let spark = [
        ("kafka.security.protocol", "SASL_PLAINTEXT"),
        ("kafka.sasl.mechanism", "GSSAPI"),
        ("kafka.sasl.kerberos.service.name", "kafka"),
        ("kafka.sasl.jaas.config", jaas.as_str()),
    ];
    let topic = round_trip_env(&k.bootstrap, "kerberos-spark", &spark, &env.vars());

    // librdkafka's own names, with a fresh ticket cache.
    let fresh = KerberosEnv::new();
    let own = [
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanisms", "GSSAPI"),
        ("sasl.kerberos.keytab", p(&k.keytab)),
        ("sasl.kerberos.principal", k.principal.as_str()),
    ];
    round_trip_env(&k.bootstrap, "kerberos-librdkafka", &own, &fresh.vars());

    // The consumer takes the same options: inspect reads the topic back over Kerberos.
    let mut args = vec![
        "inspect".to_string(),
        format!("kafka://{}/{topic}", k.bootstrap),
    ];
    args.extend(options(&spark));
    let run = onfs_env(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &env.vars(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout == reference_lines(), "inspect over Kerberos");
    assert_no_secret(&run, &[]);
    assert_no_keytab(&run);
}

#[test]
fn kerberos_wrong_keytab_principal_or_service_is_named_without_a_secret() {
    let b = broker();
    let k = b.kerberos();
    let other = krb5_jaas(&k.other_keytab, &k.principal);
    let nobody = krb5_jaas(&k.keytab, "nobody@ONFS.TEST");
    let right = krb5_jaas(&k.keytab, &k.principal);
    // The login line, the service name, what the output must say.
    let cases = [
        (
            other.as_str(),
            "kafka",
            "Keytab contains no suitable keys for onfs@ONFS.TEST",
        ),
        (
            nobody.as_str(),
            "kafka",
            "Keytab contains no suitable keys for nobody@ONFS.TEST",
        ),
        (
            right.as_str(),
            "kafka-other",
            "Server kafka-other/127.0.0.1@ONFS.TEST not found in Kerberos database",
        ),
    ];
    for (jaas, service, says) in cases {
        let env = KerberosEnv::new();
        let topic = unique_topic("kerberos-wrong");
        create_topic(&b.bootstrap, &topic, 1);
        let pairs = [
            ("kafka.security.protocol", "SASL_PLAINTEXT"),
            ("kafka.sasl.mechanism", "GSSAPI"),
            ("kafka.sasl.kerberos.service.name", service),
            ("kafka.sasl.jaas.config", jaas),
        ];
        let run = send(&k.bootstrap, &topic, &pairs, &env.vars());
        assert_eq!(run.code, 1, "{says}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{says}: {}", run.stderr);
        let error = error_text(&run);
        assert!(error.contains(&k.bootstrap), "{error}");
        assert!(error.contains("GSSAPI"), "{error}");
        if service == "kafka" {
            // kinit's failure, which librdkafka reports apart, is named in the error itself.
            assert!(error.contains("no Kerberos ticket: "), "{error}");
            assert!(error.contains("kinit"), "{error}");
        } else {
            assert!(error.contains(says), "{says}: {error}");
        }
        assert!(
            run.stderr.contains("sent: 0 messages delivered"),
            "{}",
            run.stderr
        );
        assert!(read_topic(&b.bootstrap, &topic).is_empty(), "nothing sent");
        assert_no_keytab(&run);
    }
}
