//! What a read-back found: per feature group, how many entities match, differ, came back as the
//! defaults or cannot be told from them, with examples; as JSON and as a table.

use std::fmt::Write;

use serde::Serialize;

/// At most this many examples per group.
pub const MAX_EXAMPLES: usize = 10;

/// How one (entity, feature group) compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// The store holds what was sent (after its own conversions).
    Matches,
    /// The store holds something else.
    Differs,
    /// The store returned the features' defaults, and what was sent differs from them: the row
    /// was lost (rejected with its message) or not consumed yet.
    Defaults,
    /// What was sent equals the defaults: the store returns the same whether it holds the row
    /// or not.
    Indistinguishable,
}

impl Class {
    /// Matches or indistinguishable: nothing to re-read.
    pub fn settled(self) -> bool {
        matches!(self, Class::Matches | Class::Indistinguishable)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub checked: u64,
    pub matches: u64,
    pub differs: u64,
    pub defaults: u64,
    pub indistinguishable: u64,
}

impl Counts {
    pub fn add(&mut self, class: Class) {
        self.checked += 1;
        match class {
            Class::Matches => self.matches += 1,
            Class::Differs => self.differs += 1,
            Class::Defaults => self.defaults += 1,
            Class::Indistinguishable => self.indistinguishable += 1,
        }
    }
}

/// An entity whose group differs or came back as the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Example {
    pub class: Class,
    /// The entity key (key columns joined by `,`).
    pub key: String,
    /// The first feature whose stored value is not the sent one.
    pub feature: String,
    /// The sent value as the store would keep it (FP16/FP8 rounded, integers at their width).
    pub sent: String,
    pub stored: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    pub group: String,
    pub data_type: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub examples: Vec<Example>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    /// The retrieval API's address.
    pub store: String,
    pub entity_label: String,
    /// Messages and rows the sample was chosen from.
    pub messages: u64,
    pub rows: u64,
    /// Entities read back.
    pub entities: u64,
    /// Rounds of reads (the first, then re-reads of what did not match yet).
    pub polls: u32,
    pub seconds: f64,
    pub groups: Vec<GroupReport>,
    pub totals: Counts,
    /// Nothing differs and nothing came back as the defaults.
    pub ok: bool,
}

impl VerifyReport {
    /// Nothing differs and nothing came back as the defaults.
    pub fn ok(&self) -> bool {
        self.totals.differs == 0 && self.totals.defaults == 0
    }

    /// The per-group table, then the examples of what differs or was lost.
    pub fn table(&self) -> String {
        let headers = [
            "GROUP",
            "CHECKED",
            "MATCHES",
            "DIFFERS",
            "DEFAULTS",
            "INDISTINGUISHABLE",
        ];
        let mut rows: Vec<[String; 6]> = self
            .groups
            .iter()
            .map(|g| row(&g.group, &g.counts))
            .collect();
        rows.push(row("total", &self.totals));
        let widths: Vec<usize> = (0..6)
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([headers[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        let line = |out: &mut String, cells: &[&str]| {
            let mut text = format!("{:w$}", cells[0], w = widths[0]);
            for (i, c) in cells.iter().enumerate().skip(1) {
                let _ = write!(text, "  {:>w$}", c, w = widths[i]);
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&mut out, &headers);
        for r in &rows {
            line(&mut out, &r.iter().map(String::as_str).collect::<Vec<_>>());
        }
        for g in &self.groups {
            for e in &g.examples {
                let what = match e.class {
                    Class::Defaults => "came back as the defaults",
                    _ => "differs",
                };
                let _ = writeln!(
                    out,
                    "{} key {}: {}/{} {what}: sent {}, stored {}",
                    g.group, e.key, g.group, e.feature, e.sent, e.stored
                );
            }
        }
        out
    }

    /// One line: how many entities and groups were read back and what was found.
    pub fn summary(&self) -> String {
        let t = &self.totals;
        let mut s = format!(
            "verify: {} entities sampled from {} rows in {} messages; {} entity-groups read back from {} in {} poll{} ({:.1}s): {} match, {} differ, {} returned the defaults, {} indistinguishable from the defaults",
            self.entities,
            self.rows,
            self.messages,
            t.checked,
            self.store,
            self.polls,
            if self.polls == 1 { "" } else { "s" },
            self.seconds,
            t.matches,
            t.differs,
            t.defaults,
            t.indistinguishable
        );
        if t.defaults > 0 {
            s.push_str(" (lost, or not consumed yet: try a longer wait)");
        }
        s
    }
}

fn row(label: &str, c: &Counts) -> [String; 6] {
    [
        label.to_string(),
        c.checked.to_string(),
        c.matches.to_string(),
        c.differs.to_string(),
        c.defaults.to_string(),
        c.indistinguishable.to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_json() {
        let mut counts = Counts::default();
        for c in [Class::Matches, Class::Matches, Class::Defaults] {
            counts.add(c);
        }
        let report = VerifyReport {
            store: "127.0.0.1:1".into(),
            entity_label: "user".into(),
            messages: 2,
            rows: 3,
            entities: 3,
            polls: 1,
            seconds: 0.01,
            groups: vec![GroupReport {
                group: "user_fp32".into(),
                data_type: "DataTypeFP32".into(),
                counts,
                examples: vec![Example {
                    class: Class::Defaults,
                    key: "7".into(),
                    feature: "f0".into(),
                    sent: "1.5".into(),
                    stored: "0.0".into(),
                }],
            }],
            totals: counts,
            ok: false,
        };
        assert!(!report.ok());
        let table = report.table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "GROUP      CHECKED  MATCHES  DIFFERS  DEFAULTS  INDISTINGUISHABLE"
        );
        assert_eq!(
            lines[1],
            "user_fp32        3        2        0         1                  0"
        );
        assert!(lines[2].starts_with("total"));
        assert_eq!(
            lines[3],
            "user_fp32 key 7: user_fp32/f0 came back as the defaults: sent 1.5, stored 0.0"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["groups"][0]["defaults"], 1);
        assert_eq!(json["groups"][0]["examples"][0]["class"], "defaults");
        assert_eq!(json["totals"]["checked"], 3);
        assert!(report.summary().contains("1 returned the defaults"));
    }
}
