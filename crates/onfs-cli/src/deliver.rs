//! The command line's side of sending to Kafka: flags to settings, `--failed-out` as the keeper
//! of what was not delivered, the summary lines, and the flags named in errors. The delivery
//! itself (fail-fast, rounds, accounting) is onfs-kafka's `Deliverer`.

use std::path::{Path, PathBuf};

use onfs_file::{DirSink, Framed, OutFormat, RunInfo};
use onfs_kafka::deliver::KeepError;
use onfs_kafka::{
    AckJournal, Deliverer, DeliveryConfig, DeliveryReport, KafkaError, KeepFailed, Kept, Outgoing,
    ProducerConfig, Round, Setting,
};

use onfs_state::Acked;

use crate::args::KafkaArgs;
use crate::error::{failed, file_flag, usage, CliError, CliResult};

/// What can be told wrong about the Kafka settings without the network (the topic name),
/// before anything else is done.
pub fn check_offline(kafka: &KafkaArgs) -> CliResult<()> {
    match &kafka.topic {
        Some(topic) => onfs_kafka::topic::check_topic_name(topic).map_err(kafka_error),
        None => Ok(()),
    }
}

pub fn producer_config(kafka: &KafkaArgs) -> CliResult<ProducerConfig> {
    let cfg = ProducerConfig::from_options(
        kafka
            .kafka_options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .map_err(kafka_error)?;
    crate::logging::register_kafka_secrets(&cfg);
    Ok(cfg)
}

/// Connects to the brokers (checking the topic) before anything is read or sent; with
/// `--failed-out`, what is not delivered is kept there.
pub fn connect(kafka: &KafkaArgs, producer: ProducerConfig) -> CliResult<Deliverer> {
    let mut cfg = DeliveryConfig::new(
        kafka.kafka_brokers.clone().unwrap_or_default(),
        kafka.topic.clone().unwrap_or_default(),
        producer,
    );
    cfg.connect_timeout = kafka.kafka_connect_timeout;
    cfg.max_rate = kafka.max_rate;
    let mut deliverer = Deliverer::connect(cfg).map_err(|e| match e {
        KafkaError::Option { .. }
        | KafkaError::Store { .. }
        | KafkaError::Missing { .. }
        | KafkaError::Invalid { .. }
        | KafkaError::TopicName { .. } => kafka_error(e),
        _ => {
            eprintln!("sent: 0 messages delivered, 0 failed: nothing was sent");
            kafka_error(e)
        }
    })?;
    if let Some(dir) = &kafka.failed_out {
        deliverer.keep_failed(Box::new(FailedOut {
            sink: DirSink::create(dir, OutFormat::Frames, false)
                .map_err(file_flag("--failed-out"))?,
            path: dir.clone(),
        }));
    }
    Ok(deliverer)
}

/// `--failed-out`: the messages not delivered, in a folder `send` takes.
struct FailedOut {
    sink: DirSink,
    path: PathBuf,
}

impl KeepFailed for FailedOut {
    fn keep(&mut self, m: Kept<'_>) -> Result<(), KeepError> {
        Ok(self.sink.write(&Framed {
            intra_batch_id: m.intra_batch_id,
            rows: m.rows,
            key: m.key.map(<[u8]>::to_vec),
            value: m.value.to_vec(),
        })?)
    }

    fn finish(self: Box<Self>, kept: u64) -> Result<(), KeepError> {
        if kept > 0 {
            self.sink.finish(RunInfo::default())?;
            eprintln!(
                "kept {kept} undelivered messages in {}; send them with `onfs-push send {}`",
                self.path.display(),
                self.path.display()
            );
        } // else: dropped, the empty folder is left as it was made
        Ok(())
    }
}

/// Sends one message (keyed messages on their key's partition); `ordinal`: its place in a
/// resumable spool.
pub fn offer(d: &mut Deliverer, m: &Framed, ordinal: Option<u64>) -> CliResult<()> {
    d.offer(Outgoing {
        value: &m.value,
        key: m.key.as_deref(),
        partition: None,
        intra_batch_id: m.intra_batch_id,
        rows: m.rows,
        ordinal,
    })
    .map_err(kafka_error)
}

/// Flushes, keeps what was not delivered in `--failed-out`, prints the summary; fails unless
/// every message was delivered.
pub fn finish(d: Deliverer, what: &str) -> CliResult<DeliveryReport> {
    let outcome = d.finish().map_err(kafka_error)?;
    // Quiet: the summary only when something was not delivered (it says where it stopped).
    if !crate::logging::quiet() || !outcome.report.all_delivered() {
        print_summary(&outcome.report, what, outcome.unsent);
    }
    outcome.check().map_err(kafka_error)?;
    Ok(outcome.report)
}

fn print_summary(r: &DeliveryReport, what: &str, unsent: u64) {
    let secs = r.seconds.max(1e-9);
    eprintln!(
        "{what}: {} messages ({} rows, {:.1} MB): {} delivered, {} failed{}; {:.0} rows/s, {:.0} msgs/s, {:.1} MB/s over {:.2}s",
        r.messages,
        r.rows,
        r.bytes as f64 / 1e6,
        r.delivered,
        r.failed,
        if unsent > 0 { format!(", {unsent} not sent") } else { String::new() },
        r.delivered_rows as f64 / secs,
        r.delivered as f64 / secs,
        r.delivered_bytes as f64 / 1e6 / secs,
        r.seconds
    );
    if !r.per_partition.is_empty() {
        let parts: Vec<String> = r
            .per_partition
            .iter()
            .map(|(p, n)| format!("{p}={n}"))
            .collect();
        eprintln!("delivered per partition: {}", parts.join(" "));
    }
}

/// Sends every message under `path` in `rounds` rounds, each with its ordinal in the folder;
/// with `acked`, only those it does not hold. How many were offered.
pub fn deliver_folder(
    d: &mut Deliverer,
    path: &Path,
    rounds: u32,
    acked: Option<&Acked>,
) -> CliResult<u64> {
    let mut offered = 0;
    for round in Round::all(rounds) {
        for (ordinal, m) in onfs_file::read_messages(path)?.enumerate() {
            let m = m?;
            let ordinal = ordinal as u64;
            if round.includes(m.intra_batch_id) && !acked.is_some_and(|a| a.contains(ordinal)) {
                offer(d, &m, Some(ordinal))?;
                offered += 1;
            }
        }
        d.end_round(round).map_err(kafka_error)?;
    }
    Ok(offered)
}

/// The journal of a resume area, told of each delivered message.
pub struct JournalAcks(pub onfs_state::Journal);

impl AckJournal for JournalAcks {
    fn acknowledged(&self, ordinal: u64) {
        self.0.record(ordinal);
    }
}

/// The flag a setting is given with.
fn flag(setting: Setting) -> &'static str {
    match setting {
        Setting::Brokers => "--kafka-brokers",
        Setting::Topic => "--topic",
        Setting::Key => "--key",
        Setting::ConnectTimeout => "--kafka-connect-timeout",
        Setting::MaxRate => "--max-rate",
    }
}

/// A Kafka error at the command line's edge: settings named by their flags, option errors as
/// usage errors (exit 2), a keeper's file error as it is, the rest exit 1.
pub fn kafka_error(e: KafkaError) -> CliError {
    match e {
        KafkaError::Missing { .. } => usage(anyhow::anyhow!(
            "pass --kafka-brokers HOST:PORT and --topic TOPIC"
        )),
        KafkaError::Invalid {
            setting: Setting::ConnectTimeout,
            expected,
            ..
        } => usage(anyhow::anyhow!(
            "{} must be {expected}",
            flag(Setting::ConnectTimeout)
        )),
        KafkaError::Invalid {
            setting,
            value,
            expected,
        } => usage(anyhow::anyhow!(
            "{} must be {expected}, not {value}",
            flag(setting)
        )),
        KafkaError::Keep(source) => match source.downcast::<onfs_file::FileError>() {
            Ok(file) => (*file).into(),
            Err(other) => failed(anyhow::anyhow!(other)),
        },
        e => {
            let code: fn(anyhow::Error) -> CliError = match e {
                KafkaError::Option { .. }
                | KafkaError::Store { .. }
                | KafkaError::TopicName { .. } => usage,
                _ => failed,
            };
            match e.setting() {
                Some(setting) => code(anyhow::anyhow!(
                    "{e}\nhint: the {setting} {} given with {}",
                    if setting == Setting::Brokers {
                        "are"
                    } else {
                        "is"
                    },
                    flag(setting)
                )),
                None => code(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(brokers: &str, topic: &str) -> KafkaArgs {
        KafkaArgs {
            kafka_brokers: Some(brokers.into()),
            topic: Some(topic.into()),
            kafka_options: Vec::new(),
            kafka_num_batches: 1,
            max_rate: None,
            key: crate::args::KeyMode::None,
            failed_out: None,
            kafka_connect_timeout: 30.0,
        }
    }

    fn connect_error(kafka: &KafkaArgs) -> CliError {
        let Ok(producer) = producer_config(kafka) else {
            panic!("producer options")
        };
        match connect(kafka, producer) {
            Ok(_) => panic!("connected"),
            Err(e) => e,
        }
    }

    #[test]
    fn settings_are_named_by_their_flags() {
        let e = connect_error(&args("", "t"));
        assert_eq!(
            (e.code, e.to_string().as_str()),
            (2, "pass --kafka-brokers HOST:PORT and --topic TOPIC")
        );
        let mut a = args("127.0.0.1:1", "t");
        a.kafka_connect_timeout = -1.0;
        let e = connect_error(&a);
        assert_eq!(
            (e.code, e.to_string().as_str()),
            (
                2,
                "--kafka-connect-timeout must be a positive number of seconds"
            )
        );
        let mut a = args("127.0.0.1:1", "t");
        a.max_rate = Some(0.0);
        let e = connect_error(&a);
        assert_eq!(
            (e.code, e.to_string().as_str()),
            (
                2,
                "--max-rate must be a positive number of rows per second, not 0"
            )
        );
    }

    #[test]
    fn option_errors_hint_at_the_flag() {
        let mut a = args("b:9092", "t");
        a.kafka_options = vec![("topic".into(), "x".into())];
        let e = producer_config(&a).err().unwrap();
        assert_eq!(e.code, 2);
        assert_eq!(
            e.to_string(),
            "Kafka option topic: the topic is given separately, not as an option\nhint: the topic is given with --topic"
        );
        a.kafka_options = vec![("kafka.value.serializer".into(), "x".into())];
        let e = producer_config(&a).err().unwrap();
        assert!(
            e.to_string()
                .ends_with("\nhint: the message key is given with --key"),
            "{e}"
        );
        a.kafka_options = vec![("kafka.no.such".into(), "1".into())];
        let e = producer_config(&a).err().unwrap();
        assert_eq!(e.code, 2);
        assert!(!e.to_string().contains("hint"), "{e}");
    }

    #[test]
    fn unreachable_brokers_hint_at_the_flag_and_fail_the_run() {
        let e = kafka_error(KafkaError::Unreachable {
            brokers: "127.0.0.1:1".into(),
            waited: std::time::Duration::from_secs(1),
            detail: "Connection refused".into(),
        });
        assert_eq!(e.code, 1);
        assert!(
            e.to_string()
                .ends_with("\nhint: the brokers are given with --kafka-brokers"),
            "{e}"
        );
    }

    #[test]
    fn a_failed_out_error_keeps_its_exit_code() {
        let file = onfs_file::FileError::Usage("kept/: not empty".into());
        let e = kafka_error(KafkaError::Keep(Box::new(file)));
        assert_eq!((e.code, e.to_string().as_str()), (2, "kept/: not empty"));
        let e = kafka_error(KafkaError::Keep(std::io::Error::other("disk full").into()));
        assert_eq!((e.code, e.to_string().as_str()), (1, "disk full"));
    }
}
