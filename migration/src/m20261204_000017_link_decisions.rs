//! Decisions on link candidates, and the demo's record of its near-serial pairs.
//!
//! `link_decision`: one row per decision an agency takes on a pair of a seized firearm record and
//! a traced firearm record (CONFIRM or REJECT), with who decided, as which role and agency, when
//! and for what stated purpose. Rows are only ever added: a later decision of the same side
//! supersedes an earlier one, and the earlier one stays. No foreign key: a decision outlives the
//! records it was about.
//!
//! `demo_near_serial`: the pairs the demo generator seeded (a seized firearm later traced under a
//! near-identical serial) with the edit made. Only the demo writes it and only tests and the
//! benchmark read it; the API never does.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{create_indexes, drop_table, table_with_id};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum LinkDecision {
    Table,
    Id,
    SeizedFirearmId,
    TracedFirearmId,
    Side,
    Decision,
    Subject,
    Role,
    Purpose,
    DecidedAt,
}

#[derive(DeriveIden)]
enum DemoNearSerial {
    Table,
    SeizedFirearmId,
    TracedFirearmId,
    Edit,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(table_with_id(
                LinkDecision::Table,
                LinkDecision::Id,
                [
                    big_integer(LinkDecision::SeizedFirearmId),
                    big_integer(LinkDecision::TracedFirearmId),
                    string_len(LinkDecision::Side, 8),
                    string_len(LinkDecision::Decision, 8),
                    string_len(LinkDecision::Subject, 256),
                    string_len(LinkDecision::Role, 16),
                    text_null(LinkDecision::Purpose),
                    timestamp_with_time_zone(LinkDecision::DecidedAt),
                ],
            ))
            .await?;
        create_indexes(
            manager,
            LinkDecision::Table,
            [(
                "idx_link_decision_pair",
                vec![
                    LinkDecision::SeizedFirearmId,
                    LinkDecision::TracedFirearmId,
                    LinkDecision::Id,
                ],
            )],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(DemoNearSerial::Table)
                    .if_not_exists()
                    .col(big_integer(DemoNearSerial::SeizedFirearmId).primary_key())
                    .col(big_integer(DemoNearSerial::TracedFirearmId))
                    .col(string_len(DemoNearSerial::Edit, 32))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, DemoNearSerial::Table).await?;
        drop_table(manager, LinkDecision::Table).await
    }
}
