//! Reading a topic back from the beginning (`inspect kafka://...`, tests).

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::sink::{HEADER_INTRA_BATCH_ID, HEADER_ROWS};
use crate::KafkaError;

/// One message read from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub intra_batch_id: Option<i64>,
    pub rows: Option<u32>,
}

/// Reads every message of `topic` present now, partition by partition, in offset order.
/// `options` are librdkafka consumer properties (security settings).
pub fn read_topic(
    brokers: &str,
    topic: &str,
    options: &[(String, String)],
    limit: Option<u64>,
    mut each: impl FnMut(Record) -> bool,
) -> Result<u64, KafkaError> {
    let err = |detail: String| KafkaError::Consume {
        topic: topic.to_string(),
        detail,
    };
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", brokers)
        .set("group.id", "onfs-push-inspect")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (k, v) in options {
        cfg.set(k, v);
    }
    let consumer: BaseConsumer = cfg.create().map_err(|e| err(e.to_string()))?;
    let timeout = Duration::from_secs(30);
    let md = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| err(format!("no answer from {brokers}: {e}")))?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| err("not found".into()))?;
    if t.error().is_some() || t.partitions().is_empty() {
        return Err(err(format!("does not exist on {brokers}")));
    }
    let mut read = 0u64;
    for p in t.partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, p.id(), timeout)
            .map_err(|e| err(e.to_string()))?;
        if high <= low {
            continue;
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p.id(), Offset::Offset(low))
            .map_err(|e| err(e.to_string()))?;
        consumer.assign(&tpl).map_err(|e| err(e.to_string()))?;
        let mut next = low;
        let mut idle = std::time::Instant::now();
        while next < high {
            if limit.is_some_and(|l| read >= l) {
                return Ok(read);
            }
            match consumer.poll(Duration::from_millis(500)) {
                Some(Ok(m)) => {
                    idle = std::time::Instant::now();
                    next = m.offset() + 1;
                    let header = |name: &str| {
                        m.headers().and_then(|h| {
                            h.iter()
                                .find(|x| x.key == name)
                                .and_then(|x| x.value)
                                .and_then(|v| std::str::from_utf8(v).ok())
                                .map(str::to_string)
                        })
                    };
                    let rec = Record {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().unwrap_or_default().to_vec(),
                        intra_batch_id: header(HEADER_INTRA_BATCH_ID).and_then(|v| v.parse().ok()),
                        rows: header(HEADER_ROWS).and_then(|v| v.parse().ok()),
                    };
                    read += 1;
                    if !each(rec) {
                        return Ok(read);
                    }
                }
                Some(Err(e)) => return Err(err(e.to_string())),
                None if idle.elapsed() > timeout => {
                    return Err(err(format!(
                        "partition {}: no message for {timeout:?} at offset {next} (end {high})",
                        p.id()
                    )))
                }
                None => {}
            }
        }
    }
    Ok(read)
}

/// Kafka's rule for topic names, checked without the network: 1 to 249 characters of ASCII
/// letters, digits, `.`, `_` and `-`, and neither `.` nor `..`.
pub fn check_topic_name(topic: &str) -> Result<(), KafkaError> {
    let problem = if topic.is_empty() {
        Some("it is empty".to_string())
    } else if topic == "." || topic == ".." {
        Some("\".\" and \"..\" are not allowed".to_string())
    } else if topic.len() > 249 {
        Some(format!(
            "it has {} characters; at most 249 are allowed",
            topic.len()
        ))
    } else {
        topic
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .map(|c| format!("{c:?} is not allowed; use ASCII letters, digits, '.', '_' and '-'"))
    };
    match problem {
        Some(problem) => Err(KafkaError::TopicName {
            topic: topic.to_string(),
            problem,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_topic_name;

    #[test]
    fn topic_names_follow_kafkas_rule() {
        for ok in ["onfs-ingest", "a", "a.b_c-D9", &"x".repeat(249)] {
            check_topic_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, says) in [
            ("bad topic!", "' ' is not allowed"),
            ("", "empty"),
            (".", "not allowed"),
            ("..", "not allowed"),
            (&"x".repeat(250), "250 characters"),
            ("tópico", "'ó'"),
        ] {
            let e = check_topic_name(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
