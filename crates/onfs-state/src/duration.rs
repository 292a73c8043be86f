//! Durations as users write them (`--refresh-after`, `refresh_after=`).

/// `30s`, `30m`, `12h`, `7d` (or a plain number of seconds); `never`.
pub fn parse_duration(text: &str) -> Result<Option<std::time::Duration>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let (number, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match number.trim().parse::<u64>() {
        Ok(n) if seconds > 0 => Ok(Some(std::time::Duration::from_secs(n * seconds))),
        _ => Err(format!(
            "{text:?} is not a duration: write it as 30m, 12h, 7d or never"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_durations() {
        use std::time::Duration;
        assert_eq!(
            parse_duration("7d"),
            Ok(Some(Duration::from_secs(7 * 86_400)))
        );
        assert_eq!(
            parse_duration("12h"),
            Ok(Some(Duration::from_secs(12 * 3600)))
        );
        assert_eq!(parse_duration("90"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(parse_duration("never"), Ok(None));
        assert!(parse_duration("7 weeks").is_err());
        assert!(parse_duration("d").is_err());
    }
}
