//! U.S. federal fiscal years, which start on October 1.

use chrono::{Datelike, NaiveDate};

/// The federal fiscal year a date falls in: October 1, 2019 starts FY2020.
pub fn fiscal_year(date: NaiveDate) -> i32 {
    if date.month() >= 10 {
        date.year() + 1
    } else {
        date.year()
    }
}

/// The first and last day of a fiscal year.
pub(crate) fn fiscal_year_bounds(fiscal_year: i32) -> (NaiveDate, NaiveDate) {
    let start = NaiveDate::from_ymd_opt(fiscal_year - 1, 10, 1).unwrap_or(NaiveDate::MIN);
    let end = NaiveDate::from_ymd_opt(fiscal_year, 9, 30).unwrap_or(NaiveDate::MAX);
    (start, end)
}

/// Parses an ISO 8601 calendar date ("2019-03-14").
pub(crate) fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("'{text}' is not a date of the form YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fiscal_years_start_october_first() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("valid date");
        assert_eq!(fiscal_year(d(2019, 9, 30)), 2019);
        assert_eq!(fiscal_year(d(2019, 10, 1)), 2020);
        assert_eq!(fiscal_year_bounds(2020), (d(2019, 10, 1), d(2020, 9, 30)));
        assert!(parse_date("2019-02-30").is_err());
        assert_eq!(parse_date("2019-03-14"), Ok(d(2019, 3, 14)));
    }
}
