//! The `…Stats` answers: buckets with their keys, counts, metrics and a `suppressed` flag (true when
//! the numbers are protected by the cell key method for an aggregate-only role, not exact).

use async_graphql::SimpleObject;
use entity::{
    Agency, CourseKind, Direction, FirearmType, FundingCategory, SourceClass, TraceStatus,
};

use crate::domain::scalars::Money;
use crate::policy::suppression::Cell;
use crate::policy::suppression::{Answer, Bucket};
use crate::store::filters::{
    FundingDimension, SeizureDimension, TraceDimension, TrainingDimension,
};

/// The public parameters of the cell key method that protects aggregate-only answers, so a client
/// can say what a protected number means (README, "Aggregate-only access").
#[derive(SimpleObject)]
pub(crate) struct DisclosureControl {
    /// `js`: no protected count from 1 to `js − 1` is ever published, and a median needs `js`
    /// values.
    pub suppression_threshold: i64,
    /// `D`: a protected count is within ±D of the truth, and a combination a protected answer does
    /// not list holds at most D records (possibly none).
    pub max_change: i64,
    /// Protected medians are rounded to a multiple of this many days, and withheld when the
    /// group's published count is under `js + D`.
    pub median_rounding: i64,
    /// `m`: a protected sum S is within ±max(m·S, the metric's floor) of the truth.
    pub sum_noise: f64,
}

impl DisclosureControl {
    pub(crate) fn of(policy: &crate::policy::Policy) -> DisclosureControl {
        DisclosureControl {
            suppression_threshold: policy.suppression_threshold,
            max_change: policy.perturbation.max_change,
            median_rounding: policy.perturbation.median_rounding,
            sum_noise: policy.perturbation.sum_noise,
        }
    }
}

fn int(cell: Option<&Cell>) -> Option<i32> {
    cell.and_then(Cell::as_int)
        .and_then(|i| i32::try_from(i).ok())
}

fn text(cell: Option<&Cell>) -> Option<String> {
    cell.and_then(Cell::as_text).map(str::to_owned)
}

fn parsed<T>(cell: Option<&Cell>, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
    cell.and_then(Cell::as_text).and_then(parse)
}

/// The cell of `dim` in a bucket's keys, when the answer was grouped by it.
fn cell<'a, D: PartialEq>(group_by: &[D], keys: &'a [Cell], dim: D) -> Option<&'a Cell> {
    group_by
        .iter()
        .position(|d| *d == dim)
        .and_then(|i| keys.get(i))
}

fn sum(bucket: &Bucket, i: usize) -> Option<i64> {
    bucket.sums.get(i).copied().flatten()
}

/// Only the grouped dimensions are non-null.
#[derive(SimpleObject, Default)]
pub(crate) struct TraceKey {
    pub year: Option<i32>,
    pub recovery_state: Option<String>,
    pub source_class: Option<SourceClass>,
    pub status: Option<TraceStatus>,
    pub firearm_type: Option<FirearmType>,
    pub caliber: Option<String>,
    pub manufacturer: Option<String>,
    pub purchase_state: Option<String>,
    /// The U.S. federal fiscal year of the recovery date.
    pub fiscal_year: Option<i32>,
}

#[derive(SimpleObject)]
pub(crate) struct TraceBucket {
    pub key: TraceKey,
    pub count: Option<i64>,
    pub suppressed: bool,
    pub median_time_to_crime_days: Option<i64>,
}

#[derive(SimpleObject)]
pub(crate) struct TraceStats {
    pub total: Option<i64>,
    pub suppressed: bool,
    pub buckets: Vec<TraceBucket>,
}

impl TraceStats {
    pub(crate) fn new(answer: Answer, group_by: &[TraceDimension]) -> TraceStats {
        use TraceDimension as D;
        let buckets = answer
            .buckets
            .into_iter()
            .map(|b| {
                let k = &b.keys;
                TraceBucket {
                    key: TraceKey {
                        year: int(cell(group_by, k, D::Year)),
                        recovery_state: text(cell(group_by, k, D::RecoveryState)),
                        source_class: parsed(cell(group_by, k, D::SourceClass), SourceClass::parse),
                        status: parsed(cell(group_by, k, D::Status), TraceStatus::parse),
                        firearm_type: parsed(cell(group_by, k, D::FirearmType), FirearmType::parse),
                        caliber: text(cell(group_by, k, D::Caliber)),
                        manufacturer: text(cell(group_by, k, D::Manufacturer)),
                        purchase_state: text(cell(group_by, k, D::PurchaseState)),
                        fiscal_year: int(cell(group_by, k, D::FiscalYear)),
                    },
                    count: b.count,
                    suppressed: b.suppressed,
                    median_time_to_crime_days: b.median,
                }
            })
            .collect();
        TraceStats {
            total: answer.total,
            suppressed: answer.suppressed,
            buckets,
        }
    }
}

#[derive(SimpleObject, Default)]
pub(crate) struct SeizureKey {
    pub fiscal_year: Option<i32>,
    pub seizing_agency: Option<Agency>,
    pub us_state: Option<String>,
    pub port_of_entry: Option<String>,
    pub direction: Option<Direction>,
    pub operation: Option<String>,
}

#[derive(SimpleObject)]
pub(crate) struct SeizureBucket {
    pub key: SeizureKey,
    pub count: Option<i64>,
    pub firearms: Option<i64>,
    pub ammunition_rounds: Option<i64>,
    pub suppressed: bool,
}

#[derive(SimpleObject)]
pub(crate) struct SeizureStats {
    pub total: Option<i64>,
    pub suppressed: bool,
    pub buckets: Vec<SeizureBucket>,
}

impl SeizureStats {
    pub(crate) fn new(answer: Answer, group_by: &[SeizureDimension]) -> SeizureStats {
        use SeizureDimension as D;
        let buckets = answer
            .buckets
            .into_iter()
            .map(|b| {
                let k = &b.keys;
                SeizureBucket {
                    key: SeizureKey {
                        fiscal_year: int(cell(group_by, k, D::FiscalYear)),
                        seizing_agency: parsed(cell(group_by, k, D::SeizingAgency), Agency::parse),
                        us_state: text(cell(group_by, k, D::UsState)),
                        port_of_entry: text(cell(group_by, k, D::PortOfEntry)),
                        direction: parsed(cell(group_by, k, D::Direction), Direction::parse),
                        operation: text(cell(group_by, k, D::Operation)),
                    },
                    count: b.count,
                    firearms: sum(&b, 0),
                    ammunition_rounds: sum(&b, 1),
                    suppressed: b.suppressed,
                }
            })
            .collect();
        SeizureStats {
            total: answer.total,
            suppressed: answer.suppressed,
            buckets,
        }
    }
}

#[derive(SimpleObject, Default)]
pub(crate) struct TrainingKey {
    pub fiscal_year: Option<i32>,
    pub course: Option<CourseKind>,
    pub provider: Option<Agency>,
    pub mexican_state: Option<String>,
}

#[derive(SimpleObject)]
pub(crate) struct TrainingBucket {
    pub key: TrainingKey,
    pub count: Option<i64>,
    pub participants: Option<i64>,
    pub etrace_accounts_granted: Option<i64>,
    pub suppressed: bool,
}

#[derive(SimpleObject)]
pub(crate) struct TrainingStats {
    pub total: Option<i64>,
    pub suppressed: bool,
    pub buckets: Vec<TrainingBucket>,
}

impl TrainingStats {
    pub(crate) fn new(answer: Answer, group_by: &[TrainingDimension]) -> TrainingStats {
        use TrainingDimension as D;
        let buckets = answer
            .buckets
            .into_iter()
            .map(|b| {
                let k = &b.keys;
                TrainingBucket {
                    key: TrainingKey {
                        fiscal_year: int(cell(group_by, k, D::FiscalYear)),
                        course: parsed(cell(group_by, k, D::Course), CourseKind::parse),
                        provider: parsed(cell(group_by, k, D::Provider), Agency::parse),
                        mexican_state: text(cell(group_by, k, D::MexicanState)),
                    },
                    count: b.count,
                    participants: sum(&b, 0),
                    etrace_accounts_granted: sum(&b, 1),
                    suppressed: b.suppressed,
                }
            })
            .collect();
        TrainingStats {
            total: answer.total,
            suppressed: answer.suppressed,
            buckets,
        }
    }
}

#[derive(SimpleObject, Default)]
pub(crate) struct FundingKey {
    pub fiscal_year: Option<i32>,
    pub category: Option<FundingCategory>,
    pub implementing_agency: Option<Agency>,
    pub program: Option<String>,
}

#[derive(SimpleObject)]
pub(crate) struct FundingBucket {
    pub key: FundingKey,
    pub count: Option<i64>,
    pub obligated: Option<Money>,
    pub disbursed: Option<Money>,
    pub suppressed: bool,
}

#[derive(SimpleObject)]
pub(crate) struct FundingStats {
    pub total: Option<i64>,
    pub obligated: Option<Money>,
    pub suppressed: bool,
    pub buckets: Vec<FundingBucket>,
}

impl FundingStats {
    pub(crate) fn new(answer: Answer, group_by: &[FundingDimension]) -> FundingStats {
        use FundingDimension as D;
        let buckets = answer
            .buckets
            .into_iter()
            .map(|b| {
                let k = &b.keys;
                FundingBucket {
                    key: FundingKey {
                        fiscal_year: int(cell(group_by, k, D::FiscalYear)),
                        category: parsed(cell(group_by, k, D::Category), FundingCategory::parse),
                        implementing_agency: parsed(
                            cell(group_by, k, D::ImplementingAgency),
                            Agency::parse,
                        ),
                        program: text(cell(group_by, k, D::Program)),
                    },
                    count: b.count,
                    obligated: sum(&b, 0).map(Money),
                    disbursed: sum(&b, 1).map(Money),
                    suppressed: b.suppressed,
                }
            })
            .collect();
        FundingStats {
            total: answer.total,
            obligated: answer.total_sums.first().copied().flatten().map(Money),
            suppressed: answer.suppressed,
            buckets,
        }
    }
}
