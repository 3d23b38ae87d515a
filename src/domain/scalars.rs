//! The contract's scalars: `Date` (ISO 8601 calendar date) and `Money` (dollars as a decimal string
//! with two places, never a float). `DateTime` is async-graphql's RFC 3339 timestamp.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

use crate::domain::money;

/// ISO 8601 calendar date, "2019-03-14".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| {
                    InputValueError::custom(format!("'{s}' is not a date of the form YYYY-MM-DD"))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// US dollars as a decimal string with two places, "1250000.00".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money(pub i64);

#[Scalar(name = "Money")]
impl ScalarType for Money {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => money::parse_dollars(s)
                .map(Money)
                .map_err(InputValueError::custom),
            _ => Err(InputValueError::custom(
                "Money is a decimal string such as \"1250000.00\", never a number",
            )),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(money::format_cents(self.0))
    }
}
