//! Training events, at the door: the training's descriptor, its filter and its grouping dimensions.

use std::collections::HashMap;

use entity::training_event as training;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{Condition, ConnectionTrait};

use super::door::{self, Described, Field, OrderKey, Owned};
use super::filters::{TrainingDimension, TrainingFilter, TrainingOrderField};
use super::page::{KeyKind, KeyValue};
use super::scope::{date_range, int_range, one_of};
use super::stats::{DimKind, Grouped, Pred};
use crate::error::Result;
use crate::policy::{Access, EntityKind};

impl Described for training::Entity {
    type Row = training::Model;
    const KIND: EntityKind = EntityKind::Training;
    const FIELDS: &'static [Field<training::Model>] = &[
        Field::shown("id"),
        Field::shown("reference"),
        Field::shown("course"),
        Field::shown("provider"),
        Field::shown("startDate"),
        Field::shown("endDate"),
        Field::shown("fiscalYear"),
        Field::shown("mexicanAgency"),
        Field::shown("mexicanState"),
        Field::shown("participants"),
        Field::shown("etraceAccountsGranted"),
        Field::edge("fundingAward", EntityKind::FundingAward),
        Field::shown("provenance"),
        Field::shown("version"),
    ];
}

impl Owned for training::Entity {
    type Filter = TrainingFilter;
    type OrderField = TrainingOrderField;
    const ID: training::Column = training::Column::Id;
    const OWNER: training::Column = training::Column::OwnerAgency;
    const NATURAL_KEY: training::Column = training::Column::Reference;

    fn criteria(f: &TrainingFilter) -> Result<Condition> {
        use training::Column as T;
        let mut c = Condition::all();
        c = date_range(c, T::StartDate, f.held_between.as_ref());
        c = int_range(c, T::FiscalYear, f.fiscal_year.as_ref());
        c = one_of(c, "course", T::Course, f.course.as_deref())?;
        c = one_of(c, "provider", T::Provider, f.provider.as_deref())?;
        c = one_of(
            c,
            "mexicanState",
            T::MexicanState,
            f.mexican_state.as_deref(),
        )?;
        Ok(c)
    }

    fn order_key(field: TrainingOrderField) -> OrderKey<training::Model> {
        use training::Column as T;
        match field {
            TrainingOrderField::StartDate => OrderKey {
                expr: Expr::col((training::Entity, T::StartDate)),
                kind: KeyKind::Date,
                value: |m| KeyValue::Text(m.start_date.to_string()),
            },
            TrainingOrderField::Participants => OrderKey {
                expr: Expr::col((training::Entity, T::Participants)),
                kind: KeyKind::Int,
                value: |m| KeyValue::Int(i64::from(m.participants)),
            },
        }
    }
}

impl Grouped for training::Entity {
    type Dimension = TrainingDimension;

    fn dimension(dim: TrainingDimension) -> (SimpleExpr, DimKind) {
        use training::Column as T;
        let (column, kind) = match dim {
            TrainingDimension::FiscalYear => (T::FiscalYear, DimKind::Int),
            TrainingDimension::Course => (T::Course, DimKind::Text),
            TrainingDimension::Provider => (T::Provider, DimKind::Text),
            TrainingDimension::MexicanState => (T::MexicanState, DimKind::Text),
        };
        (Expr::col((training::Entity, column)), kind)
    }

    fn cell_criteria(f: &TrainingFilter) -> Option<Vec<Pred<TrainingDimension>>> {
        use TrainingDimension as D;
        // Every field named, so that a new one is never ignored here.
        let TrainingFilter {
            held_between,
            fiscal_year,
            course,
            provider,
            mexican_state,
            and: _,
            or: _,
            not: _,
        } = f;
        if held_between.is_some() {
            return None;
        }
        let mut parts = Vec::new();
        if let Some(range) = fiscal_year {
            parts.push(Pred::range(D::FiscalYear, range));
        }
        if let Some(v) = course {
            parts.push(Pred::one_of(D::Course, v)?);
        }
        if let Some(v) = provider {
            parts.push(Pred::one_of(D::Provider, v)?);
        }
        if let Some(v) = mexican_state {
            parts.push(Pred::one_of(D::MexicanState, v)?);
        }
        Some(parts)
    }

    fn sums() -> Vec<SimpleExpr> {
        use training::Column as T;
        vec![
            Expr::col((training::Entity, T::Participants)),
            Expr::col((training::Entity, T::EtraceAccountsGranted)),
        ]
    }

    /// Protected sums of participants and of eTrace accounts get at least ±3 and ±2 of noise.
    fn sum_floors() -> Vec<i64> {
        vec![3, 2]
    }
}

/// The readable training events each award funded, for the award → trainings edge, earliest
/// first.
pub(crate) async fn by_funding_awards<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    award_ids: &[i64],
) -> Result<HashMap<i64, Vec<training::Model>>> {
    door::by_parent::<training::Entity, _>(
        db,
        access,
        training::Column::FundingAwardId,
        |m| m.funding_award_id,
        training::Column::StartDate,
        award_ids,
    )
    .await
}
