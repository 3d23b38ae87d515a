//! Money as integer cents. The API and import files spell amounts as decimal strings with at most
//! two places ("1250000.00"); floats never touch them.

/// Formats cents as dollars with two places: 125000050 → "1250000.50".
pub(crate) fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Parses a dollar amount ("1250000", "1250000.5", "1,250,000.50", "$12.00") into cents.
/// Refuses more than two decimal places, signs, exponents and anything that is not a number.
pub(crate) fn parse_dollars(text: &str) -> Result<i64, String> {
    let cleaned: String = text
        .trim()
        .trim_start_matches('$')
        .chars()
        .filter(|c| *c != ',')
        .collect();
    let invalid =
        || format!("'{text}' is not an amount in dollars with at most two decimal places");
    let (whole, fraction) = match cleaned.split_once('.') {
        Some((w, f)) => (w, f),
        None => (cleaned.as_str(), ""),
    };
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let whole: i64 = whole.parse().map_err(|_| invalid())?;
    let fraction: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().map_err(|_| invalid())? * 10,
        _ => fraction.parse().map_err(|_| invalid())?,
    };
    whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(fraction))
        .ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_exactly() {
        assert_eq!(format_cents(125_000_050), "1250000.50");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(parse_dollars("1250000.5"), Ok(125_000_050));
        assert_eq!(parse_dollars("$1,250,000.50"), Ok(125_000_050));
        assert_eq!(parse_dollars("54000000"), Ok(5_400_000_000));
        assert!(parse_dollars("1.005").is_err());
        assert!(parse_dollars("-3").is_err());
        assert!(parse_dollars("1e6").is_err());
        assert!(parse_dollars("").is_err());
    }
}
