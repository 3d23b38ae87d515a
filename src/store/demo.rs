//! Queries the demo-data generator needs: emptiness check, id offsets, bulk inserts in batches that
//! respect the bind-parameter limits of SQLite and PostgreSQL, and agency updates.

use anyhow::Context;
use chrono::NaiveDate;
use entity::{
    agency, demo_near_serial, firearm, funding_award, performance_measure, seizure,
    seizure_firearm, trace, training_event,
};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Iterable, ModelTrait,
    PaginatorTrait, QueryFilter, QuerySelect, TransactionTrait,
};

/// Bind parameters per statement: below SQLite's limit (32,766) and PostgreSQL's (65,535).
pub(crate) const MAX_BIND_PARAMETERS: usize = 30_000;

/// Whether the database holds no traces, seizures, training events or funding awards.
pub(crate) async fn holds_no_owned_records(db: &DatabaseConnection) -> anyhow::Result<bool> {
    let counts = [
        trace::Entity::find().count(db).await,
        seizure::Entity::find().count(db).await,
        training_event::Entity::find().count(db).await,
        funding_award::Entity::find().count(db).await,
    ];
    for count in counts {
        if count.context("cannot count the existing records")? > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The largest ids in use, so generated rows can carry their ids explicitly.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MaxIds {
    pub firearm: i64,
    pub trace: i64,
    pub seizure: i64,
    pub funding_award: i64,
    pub training_event: i64,
    pub performance_measure: i64,
}

async fn max_id<E, C>(db: &DatabaseConnection, column: C) -> anyhow::Result<i64>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    let max: Option<Option<i64>> = E::find()
        .select_only()
        .column_as(column.max(), "max_id")
        .into_tuple()
        .one(db)
        .await
        .context("cannot read the largest id")?;
    Ok(max.flatten().unwrap_or(0))
}

pub(crate) async fn max_ids(db: &DatabaseConnection) -> anyhow::Result<MaxIds> {
    Ok(MaxIds {
        firearm: max_id::<firearm::Entity, _>(db, firearm::Column::Id).await?,
        trace: max_id::<trace::Entity, _>(db, trace::Column::Id).await?,
        seizure: max_id::<seizure::Entity, _>(db, seizure::Column::Id).await?,
        funding_award: max_id::<funding_award::Entity, _>(db, funding_award::Column::Id).await?,
        training_event: max_id::<training_event::Entity, _>(db, training_event::Column::Id).await?,
        performance_measure: max_id::<performance_measure::Entity, _>(
            db,
            performance_measure::Column::Id,
        )
        .await?,
    })
}

/// Inserts models with every column (ids included), as multi-row statements.
async fn insert_models<E, C>(
    conn: &C,
    rows: &[E::Model],
    on_conflict: Option<OnConflict>,
) -> anyhow::Result<()>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    if rows.is_empty() {
        return Ok(());
    }
    let columns: Vec<E::Column> = E::Column::iter().collect();
    let per_statement = (MAX_BIND_PARAMETERS / columns.len().max(1)).max(1);
    for chunk in rows.chunks(per_statement) {
        let mut insert = Query::insert();
        insert
            .into_table(E::default())
            .columns(columns.iter().copied());
        for row in chunk {
            insert
                .values(columns.iter().map(|c| Expr::val(row.get(*c))))
                .context("column and value counts differ")?;
        }
        if let Some(on_conflict) = &on_conflict {
            insert.on_conflict(on_conflict.clone());
        }
        conn.execute(&insert)
            .await
            .with_context(|| format!("cannot insert into {}", E::default().table_name()))?;
    }
    Ok(())
}

/// Bumps the records' generation in a demo load's transaction.
async fn changed(txn: &sea_orm::DatabaseTransaction) -> anyhow::Result<()> {
    super::generation::bump(txn, super::generation::Scope::Records)
        .await
        .context("cannot bump the records' generation")
}

/// Inserts traced firearms and their traces in one transaction.
pub(crate) async fn insert_traces(
    db: &DatabaseConnection,
    firearms: &[firearm::Model],
    traces: &[trace::Model],
) -> anyhow::Result<()> {
    let txn = db.begin().await.context("cannot start a transaction")?;
    insert_models::<firearm::Entity, _>(&txn, firearms, None).await?;
    insert_models::<trace::Entity, _>(&txn, traces, None).await?;
    changed(&txn).await?;
    txn.commit().await.context("cannot commit the traces")
}

/// Inserts seizures, their new firearms and the links in one transaction.
pub(crate) async fn insert_seizures(
    db: &DatabaseConnection,
    firearms: &[firearm::Model],
    seizures: &[seizure::Model],
    links: &[seizure_firearm::Model],
    near_serials: &[demo_near_serial::Model],
) -> anyhow::Result<()> {
    let txn = db.begin().await.context("cannot start a transaction")?;
    insert_models::<firearm::Entity, _>(&txn, firearms, None).await?;
    insert_models::<seizure::Entity, _>(&txn, seizures, None).await?;
    insert_models::<seizure_firearm::Entity, _>(&txn, links, None).await?;
    insert_models::<demo_near_serial::Entity, _>(&txn, near_serials, None).await?;
    changed(&txn).await?;
    txn.commit().await.context("cannot commit the seizures")
}

/// Inserts funding awards, training events and performance measures (measures whose code exists
/// already are kept as they are), and sets the agencies' eTrace access dates, in one transaction.
pub(crate) async fn insert_programs(
    db: &DatabaseConnection,
    awards: &[funding_award::Model],
    events: &[training_event::Model],
    measures: &[performance_measure::Model],
    etrace_access: &[(String, NaiveDate)],
) -> anyhow::Result<()> {
    let txn = db.begin().await.context("cannot start a transaction")?;
    insert_models::<funding_award::Entity, _>(&txn, awards, None).await?;
    insert_models::<training_event::Entity, _>(&txn, events, None).await?;
    let keep_existing = OnConflict::column(performance_measure::Column::Code)
        .do_nothing()
        .to_owned();
    insert_models::<performance_measure::Entity, _>(&txn, measures, Some(keep_existing)).await?;
    for (code, since) in etrace_access {
        agency::Entity::update_many()
            .col_expr(agency::Column::EtraceAccessSince, Expr::val(*since))
            .filter(agency::Column::Code.eq(code.as_str()))
            .exec(&txn)
            .await
            .with_context(|| format!("cannot set the eTrace access of {code}"))?;
    }
    changed(&txn).await?;
    txn.commit().await.context("cannot commit the programs")
}

/// The firearms with these ids.
pub(crate) async fn firearms_by_ids(
    db: &DatabaseConnection,
    ids: &[i64],
) -> anyhow::Result<Vec<firearm::Model>> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_BIND_PARAMETERS) {
        found.extend(
            firearm::Entity::find()
                .filter(firearm::Column::Id.is_in(chunk.iter().copied()))
                .all(db)
                .await
                .context("cannot read firearms")?,
        );
    }
    Ok(found)
}

/// After rows were inserted with explicit ids, moves PostgreSQL's id sequences past them.
pub(crate) async fn sync_id_sequences(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    for table in [
        "firearm",
        "trace",
        "seizure",
        "funding_award",
        "training_event",
        "performance_measure",
    ] {
        db.execute_unprepared(&format!(
            "SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), \
             GREATEST(COALESCE((SELECT MAX(id) FROM \"{table}\"), 0), 1), \
             (SELECT MAX(id) FROM \"{table}\") IS NOT NULL)"
        ))
        .await
        .with_context(|| format!("cannot move the id sequence of {table}"))?;
    }
    Ok(())
}

/// Links every two firearm records of the same gun (the generators write records in bulk).
pub(crate) async fn link_firearms(db: &DatabaseConnection) -> anyhow::Result<u64> {
    let txn = super::begin_write(db).await?;
    let linked = super::links::link_all(&txn)
        .await
        .context("cannot link the firearm records")?;
    changed(&txn).await?;
    txn.commit().await?;
    Ok(linked)
}
