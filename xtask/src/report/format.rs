//! Numbers and durations for people: thousands grouped, a precision that suits the size.

/// A number for people: thousands grouped, one decimal below 1,000 and none from there.
pub(crate) fn number(x: f64) -> String {
    let text = if x.abs() < 1000.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    };
    let (sign, rest) = text.split_at(usize::from(text.starts_with('-')));
    let (int, frac) = rest.split_at(rest.find('.').unwrap_or(rest.len()));
    format!("{sign}{}{frac}", thousands(int))
}

/// A count for people: thousands grouped.
pub(crate) fn count(n: u64) -> String {
    thousands(&n.to_string())
}

/// Digits with a comma between each group of three.
pub(super) fn thousands(digits: &str) -> String {
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Nanoseconds in the largest unit (ns, µs, ms, s) that keeps them at least 1.
pub(crate) fn duration(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{value:.2} {unit}")
}
