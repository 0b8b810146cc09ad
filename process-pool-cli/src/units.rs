//! Durations and byte sizes as written on the command line.
//!
//! Durations follow GNU parallel's habit (seconds, with a unit suffix allowed, units may be
//! chained: `1.5`, `200ms`, `2m`, `1h30m`, `1d`); sizes take binary suffixes (`64K`, `1M`,
//! `2GiB`).

use std::time::Duration;

/// Parses a duration: a plain number is seconds; `ms`, `s`, `m`, `h`, `d` name the unit, and
/// several may follow one another (`1m30s`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "`{text}` is not a duration (seconds, or a number with ms, s, m, h or d: 1.5, 200ms, 1m30s)"
        )
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "" | "s" => 1.0,
            "ms" => 0.001,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// Parses a byte count: a plain number, or one with `K`, `M`, `G`, `T` (powers of 1024; `KiB`,
/// `KB` and lower case are read the same).
pub(crate) fn parse_bytes(text: &str) -> Result<u64, String> {
    let bad =
        || format!("`{text}` is not a size in bytes (a number, or with K, M, G or T: 64K, 1M)");
    let trimmed = text.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    if digits == 0 {
        return Err(bad());
    }
    let number: u64 = trimmed[..digits].parse().map_err(|_| bad())?;
    let shift = match trimmed[digits..].to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    number.checked_mul(1u64 << shift).ok_or_else(bad)
}

/// A duration as a person reads it: `250ms`, `1.5s`, `2m5s`.
pub(crate) fn show_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1.0 {
        format!("{}ms", d.as_millis())
    } else if secs < 60.0 {
        format!("{}s", (secs * 10.0).round() / 10.0)
    } else {
        format!("{}m{}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_gnu_parallel_suffixes() {
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        for bad in ["", "x", "1x", "-1", "s", "1..2"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_bytes("100"), Ok(100));
        assert_eq!(parse_bytes("64K"), Ok(64 << 10));
        assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
        assert_eq!(parse_bytes("2g"), Ok(2 << 30));
        for bad in ["", "K", "1.5M", "-3", "1Q", "99999999999999999999T"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(show_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(show_duration(Duration::from_secs(125)), "2m5s");
    }
}
