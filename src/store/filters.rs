//! The store's query vocabulary: the filters, orders, ranges and grouping dimensions it understands,
//! and turns into SQL. The API derives its input types from them.

use async_graphql::{Enum, InputObject};

use crate::domain::scalars::Date;
use entity::{
    Agency, CourseKind, Direction, FirearmType, FundingCategory, Role, SourceClass, TraceStatus,
};

/// Both ends inclusive.
#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct DateRange {
    pub from: Option<Date>,
    pub to: Option<Date>,
}

/// Both ends inclusive.
#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct IntRange {
    pub min: Option<i32>,
    pub max: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Enum)]
pub(crate) enum SortDirection {
    #[default]
    Asc,
    Desc,
}

/// One key of a list's order: a field of the entity and its direction.
#[derive(Debug, Clone, InputObject)]
#[graphql(
    concrete(name = "TraceOrder", params(TraceOrderField)),
    concrete(name = "SeizureOrder", params(SeizureOrderField)),
    concrete(name = "TrainingOrder", params(TrainingOrderField)),
    concrete(name = "FundingOrder", params(FundingOrderField))
)]
pub(crate) struct Order<F: async_graphql::InputType> {
    pub field: F,
    #[graphql(default_with = "Some(SortDirection::Asc)")]
    pub direction: Option<SortDirection>,
}

impl<F: async_graphql::InputType + Copy> Order<F> {
    /// The field and whether it descends.
    pub(crate) fn key(&self) -> (F, bool) {
        (self.field, self.direction == Some(SortDirection::Desc))
    }
}

#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct TraceFilter {
    pub recovered_between: Option<DateRange>,
    pub year: Option<IntRange>,
    /// The U.S. federal fiscal year of the recovery date (October 1 to September 30, named by
    /// its end).
    pub fiscal_year: Option<IntRange>,
    pub recovery_state: Option<Vec<String>>,
    pub source_class: Option<Vec<SourceClass>>,
    pub status: Option<Vec<TraceStatus>>,
    pub purchase_state: Option<Vec<String>>,
    pub firearm_type: Option<Vec<FirearmType>>,
    pub caliber: Option<Vec<String>>,
    pub manufacturer: Option<Vec<String>>,
    /// Matched after normalization (case, spaces, dashes, leading zeros).
    pub serial_number: Option<String>,
    pub and: Option<Vec<TraceFilter>>,
    pub or: Option<Vec<TraceFilter>>,
    pub not: Option<Box<TraceFilter>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum TraceOrderField {
    RecoveryDate,
    TraceNumber,
    TimeToCrimeDays,
}

pub(crate) type TraceOrder = Order<TraceOrderField>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum TraceDimension {
    Year,
    RecoveryState,
    SourceClass,
    Status,
    FirearmType,
    Caliber,
    Manufacturer,
    PurchaseState,
    /// The U.S. federal fiscal year of the recovery date (October 1 to September 30, named by
    /// its end).
    FiscalYear,
}

#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct FirearmFilter {
    pub manufacturer: Option<Vec<String>>,
    #[graphql(name = "type")]
    pub firearm_type: Option<Vec<FirearmType>>,
    pub caliber: Option<Vec<String>>,
    pub serial_number: Option<String>,
}

#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct SeizureFilter {
    pub seized_between: Option<DateRange>,
    pub fiscal_year: Option<IntRange>,
    pub seizing_agency: Option<Vec<Agency>>,
    pub us_state: Option<Vec<String>>,
    pub port_of_entry: Option<Vec<String>>,
    pub direction: Option<Vec<Direction>>,
    pub operation: Option<Vec<String>>,
    pub and: Option<Vec<SeizureFilter>>,
    pub or: Option<Vec<SeizureFilter>>,
    pub not: Option<Box<SeizureFilter>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum SeizureOrderField {
    SeizedOn,
    FirearmCount,
}

pub(crate) type SeizureOrder = Order<SeizureOrderField>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum SeizureDimension {
    FiscalYear,
    SeizingAgency,
    UsState,
    PortOfEntry,
    Direction,
    Operation,
}

#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct TrainingFilter {
    pub held_between: Option<DateRange>,
    pub fiscal_year: Option<IntRange>,
    pub course: Option<Vec<CourseKind>>,
    pub provider: Option<Vec<Agency>>,
    pub mexican_state: Option<Vec<String>>,
    pub and: Option<Vec<TrainingFilter>>,
    pub or: Option<Vec<TrainingFilter>>,
    pub not: Option<Box<TrainingFilter>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum TrainingOrderField {
    StartDate,
    Participants,
}

pub(crate) type TrainingOrder = Order<TrainingOrderField>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum TrainingDimension {
    FiscalYear,
    Course,
    Provider,
    MexicanState,
}

#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct FundingFilter {
    pub fiscal_year: Option<IntRange>,
    pub category: Option<Vec<FundingCategory>>,
    pub implementing_agency: Option<Vec<Agency>>,
    pub program: Option<Vec<String>>,
    pub and: Option<Vec<FundingFilter>>,
    pub or: Option<Vec<FundingFilter>>,
    pub not: Option<Box<FundingFilter>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum FundingOrderField {
    FiscalYear,
    Obligated,
}

pub(crate) type FundingOrder = Order<FundingOrderField>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum FundingDimension {
    FiscalYear,
    Category,
    ImplementingAgency,
    Program,
}

#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct AuditFilter {
    pub subject: Option<String>,
    pub role: Option<Vec<Role>>,
    pub between: Option<DateRange>,
    pub outcome: Option<Vec<String>>,
}

/// The `and`, `or` and `not` parts of a filter, which combine with its own fields.
pub(crate) trait Nested: Sized {
    fn nested(&self) -> Parts<'_, Self>;
}

/// A filter's `and`, `or` and `not`, each when given.
pub(crate) type Parts<'a, F> = (Option<&'a [F]>, Option<&'a [F]>, Option<&'a F>);

macro_rules! nested {
    ($($filter:ty),*) => {
        $(impl Nested for $filter {
            fn nested(&self) -> Parts<'_, Self> {
                (self.and.as_deref(), self.or.as_deref(), self.not.as_deref())
            }
        })*
    };
}

nested!(TraceFilter, SeizureFilter, TrainingFilter, FundingFilter);

impl Nested for FirearmFilter {
    fn nested(&self) -> Parts<'_, Self> {
        (None, None, None)
    }
}
