//! Where and how to produce: the sink's settings, and the front ends' settings checked before
//! anything connects.

use std::time::Duration;

use crate::options::ProducerConfig;
use crate::{KafkaError, Setting};

/// Where and how to produce.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub brokers: String,
    pub topic: String,
    pub producer: ProducerConfig,
    /// Rows per second, smoothed over the run.
    pub max_rate_rows: Option<f64>,
    /// Keep the messages that failed, to write them out.
    pub keep_failed: bool,
    /// How long to wait for the cluster's metadata before sending.
    pub connect_timeout: Duration,
}

impl SinkConfig {
    pub fn new(
        brokers: impl Into<String>,
        topic: impl Into<String>,
        producer: ProducerConfig,
    ) -> Self {
        SinkConfig {
            brokers: brokers.into(),
            topic: topic.into(),
            producer,
            max_rate_rows: None,
            keep_failed: false,
            connect_timeout: Duration::from_secs(30),
        }
    }

    /// `delivery.timeout.ms` (librdkafka's `message.timeout.ms`), default 300 s.
    pub fn delivery_timeout(&self) -> Duration {
        let ms = self
            .producer
            .get("delivery.timeout.ms")
            .or(self.producer.get("message.timeout.ms"))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(300_000);
        Duration::from_millis(ms)
    }
}

/// The settings as a front end takes them (numbers as given), checked by [`DeliveryConfig::check`].
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub brokers: String,
    pub topic: String,
    pub producer: ProducerConfig,
    /// Seconds to wait for the brokers' first answer, at most the delivery timeout.
    pub connect_timeout: f64,
    /// At most this many rows per second, on average.
    pub max_rate: Option<f64>,
}

impl DeliveryConfig {
    /// Brokers, topic and producer options, a 30 s connect timeout and no rate limit.
    pub fn new(
        brokers: impl Into<String>,
        topic: impl Into<String>,
        producer: ProducerConfig,
    ) -> Self {
        DeliveryConfig {
            brokers: brokers.into(),
            topic: topic.into(),
            producer,
            connect_timeout: 30.0,
            max_rate: None,
        }
    }

    /// The sink's configuration, or the first setting that is missing or out of range.
    pub fn check(self) -> Result<SinkConfig, KafkaError> {
        for (setting, value) in [
            (Setting::Brokers, &self.brokers),
            (Setting::Topic, &self.topic),
        ] {
            if value.trim().is_empty() {
                return Err(KafkaError::Missing { setting });
            }
        }
        crate::topic::check_topic_name(&self.topic)?;
        positive(
            Setting::ConnectTimeout,
            self.connect_timeout,
            "a positive number of seconds",
        )?;
        if let Some(rate) = self.max_rate {
            positive(
                Setting::MaxRate,
                rate,
                "a positive number of rows per second",
            )?;
        }
        let mut cfg = SinkConfig::new(self.brokers, self.topic, self.producer);
        cfg.max_rate_rows = self.max_rate;
        // Never wait longer for the first answer than a message may wait for its delivery.
        cfg.connect_timeout =
            Duration::from_secs_f64(self.connect_timeout).min(cfg.delivery_timeout());
        Ok(cfg)
    }
}

fn positive(setting: Setting, value: f64, expected: &'static str) -> Result<(), KafkaError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(KafkaError::Invalid {
            setting,
            value,
            expected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(brokers: &str, topic: &str) -> DeliveryConfig {
        DeliveryConfig::new(brokers, topic, ProducerConfig::default())
    }

    #[test]
    fn brokers_and_topic_are_required() {
        for (brokers, topic, missing) in [
            ("", "t", Setting::Brokers),
            (" ", "t", Setting::Brokers),
            ("b:9092", "", Setting::Topic),
        ] {
            let e = config(brokers, topic).check().unwrap_err();
            assert!(
                matches!(e, KafkaError::Missing { setting } if setting == missing),
                "{e}"
            );
            assert_eq!(e.setting(), Some(missing));
        }
        assert_eq!(
            config("", "t").check().unwrap_err().to_string(),
            "no Kafka brokers given"
        );
    }

    #[test]
    fn connect_timeout_and_rate_must_be_positive_and_finite() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut c = config("b:9092", "t");
            c.connect_timeout = bad;
            let e = c.check().unwrap_err();
            assert!(
                matches!(e, KafkaError::Invalid { setting: Setting::ConnectTimeout, value, .. } if value.to_string() == bad.to_string()),
                "{e}"
            );
            let mut c = config("b:9092", "t");
            c.max_rate = Some(bad);
            let e = c.check().unwrap_err();
            assert!(
                matches!(
                    e,
                    KafkaError::Invalid {
                        setting: Setting::MaxRate,
                        ..
                    }
                ),
                "{e}"
            );
        }
        let mut c = config("b:9092", "t");
        c.connect_timeout = -1.0;
        let e = c.check().unwrap_err();
        assert_eq!(
            e.to_string(),
            "the Kafka connect timeout must be a positive number of seconds, not -1"
        );
        assert!(!e.to_string().contains("--"), "no flag spelling: {e}");
    }

    #[test]
    fn connect_timeout_is_capped_at_the_delivery_timeout() {
        let producer =
            ProducerConfig::from_options([("kafka.delivery.timeout.ms", "4000")]).unwrap();
        let mut c = DeliveryConfig::new("b:9092", "t", producer);
        c.connect_timeout = 30.0;
        c.max_rate = Some(500.0);
        let cfg = c.check().unwrap();
        assert_eq!(cfg.connect_timeout, Duration::from_secs(4));
        assert_eq!(cfg.max_rate_rows, Some(500.0));
        assert!(!cfg.keep_failed);
        let mut c = config("b:9092", "t");
        c.connect_timeout = 2.5;
        assert_eq!(
            c.check().unwrap().connect_timeout,
            Duration::from_millis(2500)
        );
    }
}
