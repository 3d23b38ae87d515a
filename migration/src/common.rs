//! What the migrations share: the column sets every owned record carries, and the statements each
//! table's migration would otherwise spell out again (the table skeleton, foreign keys, indexes,
//! dropping a table).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::m20261127_000001_create_agency::Agency;
use crate::m20261127_000002_create_firearm::Firearm;

#[derive(DeriveIden)]
pub(crate) enum Provenance {
    OwnerAgency,
    SourceSystem,
    IngestedAt,
    Version,
}

/// Adds the provenance columns (owning agency, source system, ingested at) and the optimistic
/// concurrency `version` to a table being created.
pub(crate) fn with_provenance(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(string_len(Provenance::OwnerAgency, 8))
        .col(string_len(Provenance::SourceSystem, 64))
        .col(timestamp_with_time_zone(Provenance::IngestedAt))
        .col(integer(Provenance::Version).default(1))
}

/// A table, created if it does not exist yet, keyed by an auto-incremented 64-bit `id` followed
/// by `columns` in their order.
pub(crate) fn table_with_id(
    table: impl IntoIden + 'static,
    id: impl IntoIden + 'static,
    columns: impl IntoIterator<Item = ColumnDef>,
) -> TableCreateStatement {
    let mut statement = Table::create();
    statement.table(table).if_not_exists().col(big_pk_auto(id));
    for column in columns {
        statement.col(column);
    }
    statement
}

/// An owned record's table: [`table_with_id`] followed by the provenance columns
/// ([`with_provenance`]).
pub(crate) fn owned_table(
    table: impl IntoIden + 'static,
    id: impl IntoIden + 'static,
    columns: impl IntoIterator<Item = ColumnDef>,
) -> TableCreateStatement {
    with_provenance(&mut table_with_id(table, id, columns)).to_owned()
}

/// A named foreign key from `(table, column)` to `(table, column)` with the given `ON DELETE`.
pub(crate) fn foreign_key<FT, FC, TT, TC>(
    name: &str,
    from: (FT, FC),
    to: (TT, TC),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement
where
    FT: IntoIden + 'static,
    FC: IntoIden + 'static,
    TT: IntoIden + 'static,
    TC: IntoIden + 'static,
{
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .to_owned()
}

/// A foreign key from `column` of `table` to an agency's code; an agency that is referred to
/// cannot be deleted.
pub(crate) fn references_agency(
    name: &str,
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    foreign_key(
        name,
        (table, column),
        (Agency::Table, Agency::Code),
        ForeignKeyAction::Restrict,
    )
}

/// A foreign key from `column` of `table` to a firearm's id; a firearm that is referred to cannot
/// be deleted.
pub(crate) fn references_firearm(
    name: &str,
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    foreign_key(
        name,
        (table, column),
        (Firearm::Table, Firearm::Id),
        ForeignKeyAction::Restrict,
    )
}

/// An index named after its table and columns.
pub(crate) fn index<T, C>(table: T, name: &str, columns: C) -> IndexCreateStatement
where
    T: IntoIden + 'static,
    C: IntoIterator,
    C::Item: IntoIndexColumn,
{
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(column);
    }
    index.to_owned()
}

/// Creates each named index (see [`index`]) on `table`, in order.
pub(crate) async fn create_indexes<T, C>(
    manager: &SchemaManager<'_>,
    table: T,
    indexes: impl IntoIterator<Item = (&str, Vec<C>)>,
) -> Result<(), DbErr>
where
    T: IntoIden + 'static,
    C: IntoIndexColumn,
{
    let table = table.into_iden();
    for (name, columns) in indexes {
        manager
            .create_index(index(table.clone(), name, columns))
            .await?;
    }
    Ok(())
}

/// Drops `table`: the `down` of a migration that created it.
pub(crate) async fn drop_table<T>(manager: &SchemaManager<'_>, table: T) -> Result<(), DbErr>
where
    T: IntoIden + 'static,
{
    manager
        .drop_table(Table::drop().table(table).to_owned())
        .await
}
