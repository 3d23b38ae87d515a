//! Column sets every owned record carries.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

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
