//! Indexes chosen from the filters and orders the API offers, so that every documented portal
//! query has an index path whatever plan the database picks.
//!
//! A page of traces of one recovery state, newest first (the portals' usual list, mostly of some
//! years too), reads `(recovery_state, recovery_date DESC, id, recovery_year)`: the rows of the
//! state come in the page's key order (newest first, then by id), the years are checked in the
//! index, and the page stops after its rows instead of sorting the state's; its `totalCount` needs
//! only the index. Several states are
//! a few index ranges. The index leads with the recovery state, so the single-column state index it
//! replaces answers nothing it does not. The other orders and filters already have theirs:
//! `(recovery_date, id)` and `(seized_on, id)` for newest first, the firearm id on `trace` and
//! `seizure_firearm` for a gun's records, the primary keys for lists by id.

use sea_orm_migration::prelude::*;

use crate::common::index;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Trace {
    Table,
    Id,
    RecoveryDate,
    RecoveryYear,
    RecoveryState,
}

const STATE_DATE: &str = "idx_trace_state_date";
const STATE: &str = "idx_trace_recovery_state";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(STATE_DATE)
                    .table(Trace::Table)
                    .col(Trace::RecoveryState)
                    .col((Trace::RecoveryDate, IndexOrder::Desc))
                    .col(Trace::Id)
                    .col(Trace::RecoveryYear)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name(STATE).table(Trace::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index(Trace::Table, STATE, [Trace::RecoveryState]))
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(STATE_DATE)
                    .table(Trace::Table)
                    .to_owned(),
            )
            .await
    }
}
