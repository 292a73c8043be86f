//! The order of partition values found as text (folder names `col=VALUE`, Delta partition
//! values), defined once for the command line and the Python package.
//!
//! The rule is total and does not depend on the listing order: when every value of the set (the
//! range's bounds included) is a plain decimal number (`7`, `-3`, `2.5`, `+10`; not `nan`,
//! `inf` or `1e3`), the set is ordered as numbers; otherwise every value is ordered as text
//! (bytewise, so ISO dates and timestamps sort by time). Numbers that are equal (`10`, `10.0`)
//! are then told apart by their text, so no two different values ever compare equal.

use std::cmp::Ordering;

/// A plain decimal number: optional sign, digits, optionally `.` and digits.
pub fn is_plain_number(value: &str) -> bool {
    let v = value.strip_prefix(['+', '-']).unwrap_or(value);
    let (int, frac) = match v.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (v, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// How a set of values is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueOrder {
    Numeric,
    Text,
}

impl ValueOrder {
    /// The order of a set: numeric when every value is a plain number, else text.
    pub fn of<'a>(values: impl IntoIterator<Item = &'a str>) -> ValueOrder {
        if values.into_iter().all(is_plain_number) {
            ValueOrder::Numeric
        } else {
            ValueOrder::Text
        }
    }

    /// A total order under this rule.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            ValueOrder::Text => a.cmp(b),
            ValueOrder::Numeric => {
                let (x, y) = (number(a), number(b));
                x.total_cmp(&y).then_with(|| a.cmp(b))
            }
        }
    }
}

fn number(v: &str) -> f64 {
    // Plain numbers always parse; a number beyond f64's range becomes infinite, still ordered.
    v.parse::<f64>().unwrap_or(0.0)
}

/// `values` sorted and without repeats, under the set's order (the bounds of a range count
/// towards it): the same answer whatever the listing order.
pub fn sorted<'a>(values: &'a [String], bounds: &[&str]) -> (Vec<&'a str>, ValueOrder) {
    let order = ValueOrder::of(
        values
            .iter()
            .map(String::as_str)
            .chain(bounds.iter().copied()),
    );
    let mut out: Vec<&str> = values.iter().map(String::as_str).collect();
    out.sort_by(|a, b| order.compare(a, b));
    out.dedup();
    (out, order)
}

/// The newest (greatest) value, if any.
pub fn newest(values: &[String]) -> Option<String> {
    sorted(values, &[]).0.last().map(|v| v.to_string())
}

/// The values from `from` to `to` (inclusive), in order.
pub fn in_range(values: &[String], from: &str, to: &str) -> Vec<String> {
    let (sorted, order) = sorted(values, &[from, to]);
    sorted
        .into_iter()
        .filter(|v| order.compare(v, from) != Ordering::Less)
        .filter(|v| order.compare(v, to) != Ordering::Greater)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    /// Every order of `xs` (Heap's algorithm).
    fn permutations(xs: &[String]) -> Vec<Vec<String>> {
        fn go(k: usize, a: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
            if k <= 1 {
                out.push(a.clone());
                return;
            }
            for i in 0..k {
                go(k - 1, a, out);
                let j = if k % 2 == 0 { i } else { 0 };
                a.swap(j, k - 1);
            }
        }
        let mut out = Vec::new();
        go(xs.len(), &mut xs.to_vec(), &mut out);
        out
    }

    #[test]
    fn plain_numbers_only() {
        for yes in ["0", "10", "-3", "+7", "2.5", "007"] {
            assert!(is_plain_number(yes), "{yes}");
        }
        for no in [
            "",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "1e3",
            "5x",
            "1.",
            ".5",
            "2026-10-31",
            "-",
        ] {
            assert!(!is_plain_number(no), "{no}");
        }
    }

    #[test]
    fn every_shuffle_gives_the_same_newest_and_range() {
        let sets = [
            // "5x" is no number: the set is text, and "9" sorts last.
            (v(&["10", "9", "5x"]), "9", ("10", "9")),
            (v(&["9", "10", "2", "100"]), "100", ("2", "10")),
            (v(&["10", "10.0", "9.5", "-1"]), "10.0", ("9.5", "10")),
            (v(&["nan", "inf", "1e3", "7"]), "nan", ("1e3", "inf")),
            (
                v(&["2026-11-02", "2026-10-31", "2026-10-30", "2026-11-01"]),
                "2026-11-02",
                ("2026-10-31", "2026-11-01"),
            ),
            (v(&["1", "b", "a", "2", "10", "B"]), "b", ("10", "a")),
        ];
        for (set, want, (from, to)) in sets {
            let first_range = in_range(&set, from, to);
            for p in permutations(&set) {
                assert_eq!(newest(&p).as_deref(), Some(want), "{p:?}");
                assert_eq!(in_range(&p, from, to), first_range, "{p:?}");
            }
        }
    }

    #[test]
    fn ranges() {
        let days = v(&["2026-10-31", "2026-11-02", "2026-10-30"]);
        assert_eq!(
            in_range(&days, "2026-10-30", "2026-10-31"),
            v(&["2026-10-30", "2026-10-31"])
        );
        assert_eq!(
            in_range(&v(&["9", "10", "2", "30"]), "2", "10"),
            v(&["2", "9", "10"])
        );
        // A bound that is not a number orders the whole set as text.
        assert_eq!(
            in_range(&v(&["9", "10", "2"]), "1", "9x"),
            v(&["10", "2", "9"])
        );
        assert!(newest(&[]).is_none());
    }
}
