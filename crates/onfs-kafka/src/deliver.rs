//! One delivery path for every front end: the settings checked before connecting, messages
//! partitioned by their key, sending stopped at the first failed delivery (the rest counted as
//! not sent), rounds by `intra_batch_id`, what was not delivered handed to a keeper, and one
//! outcome at the end.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use onfs_core::partition::partition_for_key;

use crate::callbacks::AckJournal;
use crate::config::DeliveryConfig;
use crate::report::DeliveryReport;
use crate::sink::{KafkaSink, Outgoing};
use crate::KafkaError;

/// The error a keeper returns; it reaches the caller as [`KafkaError::Keep`], intact.
pub type KeepError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A message that was not delivered, or not sent after the first failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept<'a> {
    pub intra_batch_id: i64,
    pub rows: u32,
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
}

/// Where the messages that were not delivered go (e.g. a folder to send again later).
pub trait KeepFailed: Send {
    /// Keeps one message: those not sent as they are offered, those not delivered at the end.
    fn keep(&mut self, m: Kept<'_>) -> Result<(), KeepError>;

    /// After the last message: `kept` messages were kept (maybe none).
    fn finish(self: Box<Self>, kept: u64) -> Result<(), KeepError>;
}

/// Round `index` of `count`: the messages whose `intra_batch_id % count == index`, each round
/// delivered before the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    index: i64,
    count: i64,
}

impl Round {
    /// Every message in one round.
    pub const ALL: Round = Round { index: 0, count: 1 };

    pub fn new(index: i64, count: i64) -> Result<Round, KafkaError> {
        if count < 1 || !(0..count).contains(&index) {
            return Err(KafkaError::Round { index, count });
        }
        Ok(Round { index, count })
    }

    /// The rounds of a run in `count` rounds, in order.
    pub fn all(count: u32) -> impl Iterator<Item = Round> {
        let count = i64::from(count.max(1));
        (0..count).map(move |index| Round { index, count })
    }

    pub fn index(&self) -> i64 {
        self.index
    }

    pub fn count(&self) -> i64 {
        self.count
    }

    /// Whether the message with this `intra_batch_id` is sent in this round.
    pub fn includes(&self, intra_batch_id: i64) -> bool {
        intra_batch_id.rem_euclid(self.count) == self.index
    }
}

/// What happened to every message offered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryOutcome {
    /// The messages handed to the producer.
    pub report: DeliveryReport,
    /// Messages not sent because a delivery had failed before.
    pub unsent: u64,
    pub unsent_rows: u64,
    /// Messages given to the keeper (not delivered and not sent).
    pub kept: u64,
}

impl DeliveryOutcome {
    /// Every message offered was delivered.
    pub fn all_delivered(&self) -> bool {
        self.report.all_delivered() && self.unsent == 0
    }

    /// An error saying how many messages were not delivered, unless all were.
    pub fn check(&self) -> Result<(), KafkaError> {
        if self.all_delivered() {
            return Ok(());
        }
        let r = &self.report;
        Err(KafkaError::NotDelivered {
            not_delivered: r.messages - r.delivered + self.unsent,
            messages: r.messages + self.unsent,
            rows: r.rows - r.delivered_rows + self.unsent_rows,
            unsent: self.unsent,
            first_error: r
                .first_error
                .clone()
                .unwrap_or_else(|| "no delivery report".into()),
        })
    }
}

/// Feeds messages to a connected sink, stopping at the first failed delivery; what was not sent
/// or not delivered goes to the keeper, if there is one.
pub struct Deliverer {
    sink: KafkaSink,
    /// Only used through `&mut self`; the mutex makes a deliverer shareable (a Python object
    /// must be) with a keeper that is not.
    keeper: Option<Mutex<Box<dyn KeepFailed>>>,
    unsent: u64,
    unsent_rows: u64,
    kept: u64,
}

impl Deliverer {
    /// Checks the settings, then connects (the brokers answer, the topic exists) before anything
    /// is sent.
    pub fn connect(config: DeliveryConfig) -> Result<Deliverer, KafkaError> {
        Ok(Deliverer::new(KafkaSink::connect(config.check()?)?))
    }

    /// Delivers through a sink made elsewhere.
    pub fn new(sink: KafkaSink) -> Deliverer {
        Deliverer {
            sink,
            keeper: None,
            unsent: 0,
            unsent_rows: 0,
            kept: 0,
        }
    }

    /// Hands the messages not delivered (and not sent) to `keeper`, from now on.
    pub fn keep_failed(&mut self, keeper: Box<dyn KeepFailed>) {
        self.sink.keep_failed(true);
        self.keeper = Some(Mutex::new(keeper));
    }

    /// Tells `journal` of every delivered message that has an ordinal, from now on (`None`:
    /// no one). Swap journals only once every report of the messages before has arrived
    /// ([`Deliverer::delivered_so_far`]).
    pub fn journal(&self, journal: Option<Arc<dyn AckJournal>>) {
        self.sink.journal(journal);
    }

    /// The topic's partitions.
    pub fn partitions(&self) -> u32 {
        self.sink.partitions() as u32
    }

    /// Whether anything was handed to the producer.
    pub fn sent_any(&self) -> bool {
        self.sink.messages_sent() > 0
    }

    /// Rows delivered so far, readable from another thread.
    pub fn delivered_rows_counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        self.sink.delivered_counter()
    }

    /// Sends a message, on the partition of its key when it has one and no partition of its
    /// own; after a failed delivery it is counted as not sent and kept instead.
    pub fn offer(&mut self, m: Outgoing<'_>) -> Result<(), KafkaError> {
        if self.sink.has_failures() {
            self.unsent += 1;
            self.unsent_rows += m.rows as u64;
            if let Some(keeper) = &mut self.keeper {
                keeper
                    .get_mut()
                    .unwrap_or_else(PoisonError::into_inner)
                    .keep(Kept {
                        intra_batch_id: m.intra_batch_id,
                        rows: m.rows,
                        key: m.key,
                        value: m.value,
                    })
                    .map_err(KafkaError::Keep)?;
                self.kept += 1;
            }
            return Ok(());
        }
        let partitions = self.partitions();
        self.sink.send(Outgoing {
            partition: m
                .partition
                .or_else(|| m.key.map(|k| partition_for_key(k, partitions) as i32)),
            ..m
        })
    }

    /// Waits for every delivery report of what was sent so far.
    pub fn flush(&self) -> Result<(), KafkaError> {
        self.sink.flush(Duration::from_secs(24 * 3600))
    }

    /// Waits for every delivery report of what was sent so far: whether every message was
    /// delivered (none failed, none held back).
    pub fn delivered_so_far(&self) -> Result<bool, KafkaError> {
        self.flush()?;
        Ok(!self.sink.has_failures() && self.unsent == 0)
    }

    /// The end of a round: when there are several, every message of this one is delivered
    /// before the next begins.
    pub fn end_round(&self, round: Round) -> Result<(), KafkaError> {
        if round.count > 1 {
            self.flush()?;
            tracing::info!(round = round.index, rounds = round.count, "round delivered");
        }
        Ok(())
    }

    /// Waits for every delivery report, hands the undelivered messages to the keeper, and says
    /// what happened ([`DeliveryOutcome::check`] turns it into an error).
    pub fn finish(self) -> Result<DeliveryOutcome, KafkaError> {
        let Deliverer {
            sink,
            keeper,
            unsent,
            unsent_rows,
            mut kept,
        } = self;
        let (report, undelivered) = sink.finish();
        if let Some(keeper) = keeper {
            let mut keeper = keeper.into_inner().unwrap_or_else(PoisonError::into_inner);
            for u in &undelivered {
                keeper
                    .keep(Kept {
                        intra_batch_id: u.intra_batch_id,
                        rows: u.rows,
                        key: u.key.as_deref(),
                        value: &u.value,
                    })
                    .map_err(KafkaError::Keep)?;
                kept += 1;
            }
            keeper.finish(kept).map_err(KafkaError::Keep)?;
        }
        Ok(DeliveryOutcome {
            report,
            unsent,
            unsent_rows,
            kept,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ProducerConfig, SinkConfig};

    #[derive(Default)]
    struct Log {
        kept: Vec<(i64, u32, Option<Vec<u8>>, usize)>,
        finished: Option<u64>,
    }

    struct Recorder {
        log: Arc<Mutex<Log>>,
        fail: bool,
    }

    impl KeepFailed for Recorder {
        fn keep(&mut self, m: Kept<'_>) -> Result<(), KeepError> {
            if self.fail {
                return Err(std::io::Error::other("disk full").into());
            }
            self.log.lock().unwrap().kept.push((
                m.intra_batch_id,
                m.rows,
                m.key.map(<[u8]>::to_vec),
                m.value.len(),
            ));
            Ok(())
        }

        fn finish(self: Box<Self>, kept: u64) -> Result<(), KeepError> {
            self.log.lock().unwrap().finished = Some(kept);
            Ok(())
        }
    }

    /// A sink whose producer refuses values over 1000 bytes before they are queued, so a
    /// delivery fails without a broker.
    fn deliverer() -> Deliverer {
        let producer = ProducerConfig::from_options([
            ("message.max.bytes", "1000"),
            ("kafka.delivery.timeout.ms", "2000"),
        ])
        .unwrap();
        let cfg = SinkConfig::new("127.0.0.1:1", "t", producer);
        Deliverer::new(KafkaSink::unconnected(cfg, 4))
    }

    fn msg<'a>(value: &'a [u8], intra_batch_id: i64, rows: u32) -> Outgoing<'a> {
        Outgoing {
            value,
            key: Some(b"k"),
            partition: None,
            intra_batch_id,
            rows,
            ordinal: None,
        }
    }

    #[test]
    fn after_the_first_failure_the_rest_is_not_sent_but_counted_and_kept() {
        let log = Arc::new(Mutex::new(Log::default()));
        let mut d = deliverer();
        d.keep_failed(Box::new(Recorder {
            log: log.clone(),
            fail: false,
        }));
        let big = vec![7u8; 2000];
        d.offer(msg(&big, 0, 5)).unwrap();
        assert!(d.sent_any());
        for id in 1..4 {
            d.offer(msg(b"small", id, 2)).unwrap();
        }
        let outcome = d.finish().unwrap();
        let r = &outcome.report;
        assert_eq!((r.messages, r.rows, r.failed, r.failed_rows), (1, 5, 1, 5));
        assert_eq!(
            (outcome.unsent, outcome.unsent_rows, outcome.kept),
            (3, 6, 4)
        );
        assert!(!outcome.all_delivered());
        let log = log.lock().unwrap();
        let ids: Vec<i64> = log.kept.iter().map(|k| k.0).collect();
        assert_eq!(
            ids,
            [1, 2, 3, 0],
            "the unsent as offered, then the undelivered"
        );
        assert_eq!(log.kept[3], (0, 5, Some(b"k".to_vec()), 2000));
        assert_eq!(log.finished, Some(4));
        let e = outcome.check().unwrap_err().to_string();
        let want = "4 of 4 messages were not delivered (11 rows); 3 were not sent after the first failure: ";
        assert!(e.starts_with(want), "{e}");
        assert!(e.len() > want.len(), "names the first error: {e}");
    }

    #[test]
    fn without_a_keeper_nothing_is_kept() {
        let mut d = deliverer();
        d.offer(msg(&[0u8; 2000], 0, 1)).unwrap();
        d.offer(msg(b"small", 1, 1)).unwrap();
        let outcome = d.finish().unwrap();
        assert_eq!((outcome.unsent, outcome.kept), (1, 0));
        assert_eq!(outcome.report.failed, 1);
    }

    #[test]
    fn a_keeper_error_comes_back_intact() {
        let mut d = deliverer();
        d.keep_failed(Box::new(Recorder {
            log: Arc::default(),
            fail: true,
        }));
        d.offer(msg(&[0u8; 2000], 0, 1)).unwrap();
        let e = d.offer(msg(b"small", 1, 1)).unwrap_err();
        let KafkaError::Keep(source) = e else {
            panic!("{e}")
        };
        assert_eq!(source.to_string(), "disk full");
        assert!(source.downcast::<std::io::Error>().is_ok());
    }

    #[test]
    fn nothing_offered_is_all_delivered() {
        let outcome = deliverer().finish().unwrap();
        assert!(outcome.all_delivered());
        assert!(outcome.check().is_ok());
    }

    #[test]
    fn the_error_text_counts_what_was_not_delivered() {
        let mut outcome = DeliveryOutcome {
            report: DeliveryReport {
                messages: 8,
                rows: 50,
                delivered: 3,
                delivered_rows: 20,
                failed: 5,
                first_error: Some("Broker: Message size too large".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            outcome.check().unwrap_err().to_string(),
            "5 of 8 messages were not delivered (30 rows): Broker: Message size too large"
        );
        outcome.report.first_error = None;
        outcome.unsent = 2;
        outcome.unsent_rows = 7;
        assert_eq!(
            outcome.check().unwrap_err().to_string(),
            "7 of 10 messages were not delivered (37 rows); 2 were not sent after the first failure: no delivery report"
        );
    }

    #[test]
    fn rounds_split_by_intra_batch_id() {
        let rounds: Vec<Round> = Round::all(3).collect();
        assert_eq!(rounds.len(), 3);
        assert!(rounds[1].includes(4) && !rounds[1].includes(5));
        assert!(rounds[2].includes(-1), "negative ids fall in a round too");
        assert!(Round::ALL.includes(-7) && Round::ALL.includes(9));
        assert_eq!(Round::new(1, 3).unwrap(), rounds[1]);
        for (index, count) in [(3, 3), (-1, 3), (0, 0)] {
            assert!(matches!(
                Round::new(index, count),
                Err(KafkaError::Round { .. })
            ));
        }
    }
}
