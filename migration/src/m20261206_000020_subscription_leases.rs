//! Subscription leases: one row per subscription a hub process holds for a token subject, so the
//! per-subject limit (`subscriptions.per_subject`) holds across every process on one PostgreSQL
//! database. A process renews its leases' `expires_at` while their subscriptions run and deletes
//! each when its subscription ends; the leases of a process that died expire and stop counting.
//! SQLite serves one process, which counts its subscriptions in memory: there the table stays
//! empty.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{create_indexes, drop_table, table_with_id};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum SubscriptionLease {
    Table,
    Id,
    Subject,
    Holder,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(table_with_id(
                SubscriptionLease::Table,
                SubscriptionLease::Id,
                [
                    string_len(SubscriptionLease::Subject, 200),
                    // The holding process's random id (a UUID made when it starts).
                    string_len(SubscriptionLease::Holder, 36),
                    timestamp_with_time_zone(SubscriptionLease::ExpiresAt),
                ],
            ))
            .await?;
        create_indexes(
            manager,
            SubscriptionLease::Table,
            [(
                "idx_subscription_lease_subject_expires",
                vec![SubscriptionLease::Subject, SubscriptionLease::ExpiresAt],
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, SubscriptionLease::Table).await
    }
}
