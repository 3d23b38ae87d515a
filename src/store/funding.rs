//! Funding awards, at the door: the award's descriptor, its filter and its grouping dimensions.

use entity::funding_award as award;
use sea_orm::Condition;
use sea_orm::sea_query::{Expr, SimpleExpr};

use super::door::{Described, Field, OrderKey, Owned};
use super::filters::{FundingDimension, FundingFilter, FundingOrderField};
use super::page::{KeyKind, KeyValue};
use super::scope::{int_range, one_of};
use super::stats::{DimKind, Grouped, Pred};
use crate::error::Result;
use crate::policy::EntityKind;

impl Described for award::Entity {
    type Row = award::Model;
    const KIND: EntityKind = EntityKind::FundingAward;
    const FIELDS: &'static [Field<award::Model>] = &[
        Field::shown("id"),
        Field::shown("awardNumber"),
        Field::shown("fiscalYear"),
        Field::shown("program"),
        Field::shown("category"),
        Field::shown("implementingAgency"),
        Field::shown("recipient"),
        Field::shown("obligated"),
        Field::shown("disbursed"),
        Field::hideable("description", |m| m.description = None),
        Field::edge("trainings", EntityKind::Training),
        Field::shown("provenance"),
        Field::shown("version"),
    ];
}

impl Owned for award::Entity {
    type Filter = FundingFilter;
    type OrderField = FundingOrderField;
    const ID: award::Column = award::Column::Id;
    const OWNER: award::Column = award::Column::OwnerAgency;
    const IMPLEMENTING: Option<award::Column> = Some(award::Column::ImplementingAgency);
    const NATURAL_KEY: award::Column = award::Column::AwardNumber;

    fn criteria(f: &FundingFilter) -> Result<Condition> {
        use award::Column as A;
        let mut c = Condition::all();
        c = int_range(c, A::FiscalYear, f.fiscal_year.as_ref());
        c = one_of(c, "category", A::Category, f.category.as_deref())?;
        c = one_of(
            c,
            "implementingAgency",
            A::ImplementingAgency,
            f.implementing_agency.as_deref(),
        )?;
        c = one_of(c, "program", A::Program, f.program.as_deref())?;
        Ok(c)
    }

    fn order_key(field: FundingOrderField) -> OrderKey<award::Model> {
        use award::Column as A;
        match field {
            FundingOrderField::FiscalYear => OrderKey {
                expr: Expr::col((award::Entity, A::FiscalYear)),
                kind: KeyKind::Int,
                value: |m| KeyValue::Int(i64::from(m.fiscal_year)),
            },
            FundingOrderField::Obligated => OrderKey {
                expr: Expr::col((award::Entity, A::ObligatedCents)),
                kind: KeyKind::Int,
                value: |m| KeyValue::Int(m.obligated_cents),
            },
        }
    }
}

impl Grouped for award::Entity {
    type Dimension = FundingDimension;

    fn dimension(dim: FundingDimension) -> (SimpleExpr, DimKind) {
        use award::Column as A;
        let (column, kind) = match dim {
            FundingDimension::FiscalYear => (A::FiscalYear, DimKind::Int),
            FundingDimension::Category => (A::Category, DimKind::Text),
            FundingDimension::ImplementingAgency => (A::ImplementingAgency, DimKind::Text),
            FundingDimension::Program => (A::Program, DimKind::Text),
        };
        (Expr::col((award::Entity, column)), kind)
    }

    fn cell_criteria(f: &FundingFilter) -> Option<Vec<Pred<FundingDimension>>> {
        use FundingDimension as D;
        // Every field named, so that a new one is never ignored here.
        let FundingFilter {
            fiscal_year,
            category,
            implementing_agency,
            program,
            and: _,
            or: _,
            not: _,
        } = f;
        let mut parts = Vec::new();
        if let Some(range) = fiscal_year {
            parts.push(Pred::range(D::FiscalYear, range));
        }
        if let Some(v) = category {
            parts.push(Pred::one_of(D::Category, v)?);
        }
        if let Some(v) = implementing_agency {
            parts.push(Pred::one_of(D::ImplementingAgency, v)?);
        }
        if let Some(v) = program {
            parts.push(Pred::one_of(D::Program, v)?);
        }
        Some(parts)
    }

    fn sums() -> Vec<SimpleExpr> {
        use award::Column as A;
        vec![
            Expr::col((award::Entity, A::ObligatedCents)),
            Expr::col((award::Entity, A::DisbursedCents)),
        ]
    }

    /// Protected sums of obligated and disbursed money get at least ±$1,000 of noise (in cents).
    fn sum_floors() -> Vec<i64> {
        vec![100_000, 100_000]
    }
}
