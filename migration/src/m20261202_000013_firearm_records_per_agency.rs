//! Firearm records per agency, links between them, and natural keys unique per owning agency.
//!
//! - A firearm row held by traces or seizures of an agency other than its owner is split: the owner
//!   keeps the row and its id, and every other agency holding it gets a copy of its own (same
//!   details and provenance), to which that agency's traces and seizure links are re-pointed.
//! - `firearm_link` joins two records taken for the same gun, with the basis of the match; every
//!   pair with the same normalized serial and manufacturer is linked (`EXACT_SERIAL_MANUFACTURER`).
//! - Trace numbers, case numbers, training references and award numbers are unique per owning
//!   agency, not across agencies. SQLite cannot drop a column's `UNIQUE`, so there the four tables
//!   are rebuilt from their own stored definitions (keeping every column and index they have), on
//!   one connection with foreign keys off, as SQLite's documentation prescribes.

use std::collections::BTreeMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement, Value, sqlx};

use crate::common::{foreign_key, index};
use crate::m20261127_000002_create_firearm::Firearm;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum FirearmLink {
    Table,
    Id,
    FirearmId,
    LinkedFirearmId,
    Basis,
    CreatedAt,
}

/// The basis of the links this migration creates.
const EXACT: &str = "EXACT_SERIAL_MANUFACTURER";

/// The natural keys made unique per owning agency: table, key column, the new unique index.
const KEYS: [(&str, &str, &str); 4] = [
    ("trace", "trace_number", "idx_trace_number_owner"),
    ("seizure", "case_number", "idx_seizure_case_owner"),
    (
        "training_event",
        "reference",
        "idx_training_reference_owner",
    ),
    (
        "funding_award",
        "award_number",
        "idx_funding_award_number_owner",
    ),
];

/// Links written per statement.
const CHUNK: usize = 300;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, outer: &SchemaManager) -> Result<(), DbErr> {
        // First the keys (on SQLite a transaction of its own, which a second run finds done), then
        // the records and links in one transaction. PostgreSQL runs the whole migration in a
        // transaction already (the inner one is a savepoint there).
        keys_per_agency(outer.get_connection()).await?;
        let manager = outer.begin().await?;
        manager
            .create_table(
                Table::create()
                    .table(FirearmLink::Table)
                    .if_not_exists()
                    .col(big_pk_auto(FirearmLink::Id))
                    .col(big_integer(FirearmLink::FirearmId))
                    .col(big_integer(FirearmLink::LinkedFirearmId))
                    .col(string_len(FirearmLink::Basis, 32))
                    .col(timestamp_with_time_zone(FirearmLink::CreatedAt))
                    .foreign_key(&mut foreign_key(
                        "fk_firearm_link_firearm",
                        (FirearmLink::Table, FirearmLink::FirearmId),
                        (Firearm::Table, Firearm::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_firearm_link_linked",
                        (FirearmLink::Table, FirearmLink::LinkedFirearmId),
                        (Firearm::Table, Firearm::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    FirearmLink::Table,
                    "idx_firearm_link_pair",
                    [
                        FirearmLink::FirearmId,
                        FirearmLink::LinkedFirearmId,
                        FirearmLink::Basis,
                    ],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                FirearmLink::Table,
                "idx_firearm_link_linked",
                [FirearmLink::LinkedFirearmId],
            ))
            .await?;
        let db = manager.get_connection();
        split_shared_firearms(db).await?;
        link_same_serials(db).await?;
        manager.commit().await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (table, column, per_agency) in KEYS {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS \"{per_agency}\""))
                .await?;
            db.execute_unprepared(&format!(
                "CREATE UNIQUE INDEX \"idx_{table}_{column}_unique\" ON \"{table}\" (\"{column}\")"
            ))
            .await?;
        }
        manager
            .drop_table(Table::drop().table(FirearmLink::Table).to_owned())
            .await
    }
}

/// Gives every agency that holds another agency's firearm row a copy of its own.
async fn split_shared_firearms<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let shared = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT DISTINCT f.id AS id, h.agency AS agency FROM firearm f JOIN ( \
               SELECT firearm_id, owner_agency AS agency FROM trace \
               UNION SELECT l.firearm_id, s.owner_agency FROM seizure_firearm l \
                 JOIN seizure s ON s.id = l.seizure_id \
             ) h ON h.firearm_id = f.id \
             WHERE h.agency <> f.owner_agency ORDER BY f.id, h.agency",
        ))
        .await?;
    let backend = db.get_database_backend();
    for row in shared {
        let id: i64 = row.try_get("", "id")?;
        let agency: String = row.try_get("", "agency")?;
        let copy = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql(
                    backend,
                    "INSERT INTO firearm (manufacturer, model, firearm_type, caliber, serial_number, \
                     serial_normalized, country_of_manufacture, importer, owner_agency, \
                     source_system, ingested_at, version) \
                     SELECT manufacturer, model, firearm_type, caliber, serial_number, \
                     serial_normalized, country_of_manufacture, importer, ?, source_system, \
                     ingested_at, 1 FROM firearm WHERE id = ? RETURNING id",
                ),
                [Value::from(agency.clone()), Value::from(id)],
            ))
            .await?
            .ok_or_else(|| DbErr::Custom(format!("copying firearm {id} returned no id")))?;
        let copy: i64 = copy.try_get("", "id")?;
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                "UPDATE trace SET firearm_id = ? WHERE firearm_id = ? AND owner_agency = ?",
            ),
            [
                Value::from(copy),
                Value::from(id),
                Value::from(agency.clone()),
            ],
        ))
        .await?;
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                "UPDATE seizure_firearm SET firearm_id = ? WHERE firearm_id = ? AND seizure_id IN \
                 (SELECT id FROM seizure WHERE owner_agency = ?)",
            ),
            [Value::from(copy), Value::from(id), Value::from(agency)],
        ))
        .await?;
    }
    Ok(())
}

/// `?` placeholders as the backend spells them.
fn sql(backend: DbBackend, text: &str) -> String {
    match backend {
        DbBackend::Postgres => {
            let mut out = String::with_capacity(text.len() + 8);
            let mut n = 0;
            for c in text.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => text.to_owned(),
    }
}

/// The manufacturer as links compare it: trimmed, lower case, inner whitespace as one space (the
/// same as `entity::firearm::normalize_manufacturer` at the time of this migration).
fn manufacturer_key(recorded: &str) -> String {
    recorded
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Links every two firearm records with the same normalized serial and manufacturer.
async fn link_same_serials<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, serial_normalized, manufacturer FROM firearm \
             WHERE serial_normalized IS NOT NULL ORDER BY id",
        ))
        .await?;
    let mut groups: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for row in rows {
        let id: i64 = row.try_get("", "id")?;
        let serial: String = row.try_get("", "serial_normalized")?;
        let maker: String = row.try_get("", "manufacturer")?;
        groups
            .entry((serial, manufacturer_key(&maker)))
            .or_default()
            .push(id);
    }
    let mut pairs = Vec::new();
    for ids in groups.values() {
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                pairs.push((*a, *b));
            }
        }
    }
    let now = chrono::Utc::now();
    for chunk in pairs.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert.into_table(FirearmLink::Table).columns([
            FirearmLink::FirearmId,
            FirearmLink::LinkedFirearmId,
            FirearmLink::Basis,
            FirearmLink::CreatedAt,
        ]);
        for (a, b) in chunk {
            insert.values_panic([(*a).into(), (*b).into(), EXACT.into(), now.into()]);
        }
        let (text, values) = match backend {
            DbBackend::Postgres => insert.build(PostgresQueryBuilder),
            _ => insert.build(SqliteQueryBuilder),
        };
        db.execute_raw(Statement::from_sql_and_values(backend, text, values))
            .await?;
    }
    Ok(())
}

/// Replaces the cross-agency uniqueness of the natural keys by uniqueness per owning agency.
async fn keys_per_agency(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    match db {
        SchemaManagerConnection::Connection(pool)
            if pool.get_database_backend() == DbBackend::Sqlite =>
        {
            rebuild_sqlite(pool.get_sqlite_connection_pool()).await?;
        }
        _ => {
            for (table, column, _) in KEYS {
                db.execute_unprepared(&format!(
                    "ALTER TABLE \"{table}\" DROP CONSTRAINT IF EXISTS \"{table}_{column}_key\""
                ))
                .await?;
            }
        }
    }
    for (table, column, per_agency) in KEYS {
        // The key-only index `down` makes, when this migration is applied again after it.
        db.execute_unprepared(&format!(
            "DROP INDEX IF EXISTS \"idx_{table}_{column}_unique\""
        ))
        .await?;
        db.execute_unprepared(&format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS \"{per_agency}\" ON \"{table}\" (\"{column}\", \"owner_agency\")"
        ))
        .await?;
    }
    Ok(())
}

/// Rebuilds the four SQLite tables without their natural key's `UNIQUE`, on one connection with
/// foreign keys off (so dropping a table neither cascades nor nulls its children's references), in
/// one transaction that commits only when `foreign_key_check` finds nothing wrong.
async fn rebuild_sqlite(pool: &sqlx::SqlitePool) -> Result<(), DbErr> {
    let error = |e: sqlx::Error| DbErr::Custom(format!("rebuilding tables: {e}"));
    let mut conn = pool.acquire().await.map_err(error)?;
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await
        .map_err(error)?;
    let rebuilt = async {
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let done: Result<(), sqlx::Error> = async {
            for (table, column, _) in KEYS {
                rebuild_sqlite_table(&mut conn, table, column).await?;
            }
            let broken = sqlx::query("PRAGMA foreign_key_check")
                .fetch_all(&mut *conn)
                .await?;
            if !broken.is_empty() {
                return Err(sqlx::Error::Protocol(format!(
                    "{} rows break a foreign key after the rebuild",
                    broken.len()
                )));
            }
            Ok(())
        }
        .await;
        match done {
            Ok(()) => sqlx::query("COMMIT").execute(&mut *conn).await.map(|_| ()),
            Err(e) => {
                sqlx::query("ROLLBACK").execute(&mut *conn).await?;
                Err(e)
            }
        }
    }
    .await;
    let restored = sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await;
    if restored.is_err() {
        // Never hand a connection without foreign keys back to the pool.
        conn.detach();
    }
    rebuilt.map_err(error)?;
    restored.map_err(error)?;
    Ok(())
}

/// Rebuilds one SQLite table from its stored definition with `column`'s `UNIQUE` removed: created
/// again under a new name, filled, the old one dropped, the new one renamed, and its indexes
/// created again from their stored definitions.
async fn rebuild_sqlite_table(
    conn: &mut sqlx::SqliteConnection,
    table: &str,
    column: &str,
) -> Result<(), sqlx::Error> {
    use sqlx::Row;
    // The statements below are built from the database's own schema and fixed names only.
    let master =
        "SELECT sql FROM sqlite_master WHERE type = ? AND tbl_name = ? AND sql IS NOT NULL";
    let create: String = sqlx::query(master)
        .bind("table")
        .bind(table)
        .fetch_one(&mut *conn)
        .await?
        .try_get("sql")?;
    // Dropping the table drops its indexes and triggers (the record keys' among them); both are
    // made again on the rebuilt table.
    let mut dependents: Vec<String> = Vec::new();
    for kind in ["index", "trigger"] {
        for row in sqlx::query(master)
            .bind(kind)
            .bind(table)
            .fetch_all(&mut *conn)
            .await?
        {
            dependents.push(row.try_get("sql")?);
        }
    }
    let fresh = format!("{table}_000013");
    let Some(create) = without_unique(&create, column) else {
        // Rebuilt already, by an earlier run that failed later on.
        return Ok(());
    };
    let create = renamed(&create, table, &fresh)
        .ok_or_else(|| sqlx::Error::Protocol(format!("cannot rename {table}'s definition")))?;
    sqlx::query(sqlx::AssertSqlSafe(create))
        .execute(&mut *conn)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{fresh}\" SELECT * FROM \"{table}\""
    )))
    .execute(&mut *conn)
    .await?;
    // The highest id ever handed out, so ids of deleted records are not handed out again.
    let sequence: Option<i64> = sqlx::query("SELECT seq FROM sqlite_sequence WHERE name = ?")
        .bind(table)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| row.try_get("seq"))
        .transpose()?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE \"{table}\"")))
        .execute(&mut *conn)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE \"{fresh}\" RENAME TO \"{table}\""
    )))
    .execute(&mut *conn)
    .await?;
    if let Some(sequence) = sequence {
        sqlx::query("DELETE FROM sqlite_sequence WHERE name = ?")
            .bind(table)
            .execute(&mut *conn)
            .await?;
        sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)")
            .bind(table)
            .bind(sequence)
            .execute(&mut *conn)
            .await?;
    }
    for dependent in dependents {
        sqlx::query(sqlx::AssertSqlSafe(dependent))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A `CREATE TABLE` statement for `table` naming `to` instead.
fn renamed(create: &str, table: &str, to: &str) -> Option<String> {
    let quoted = format!("\"{table}\"");
    let at = create.find(&quoted)?;
    Some(format!(
        "{}\"{to}\"{}",
        &create[..at],
        &create[at + quoted.len()..]
    ))
}

/// A `CREATE TABLE` statement with the `UNIQUE` of `column`'s definition removed, or `None` when
/// the column is not declared unique.
fn without_unique(create: &str, column: &str) -> Option<String> {
    let start = create.find(&format!("\"{column}\" "))?;
    let rest = &create[start..];
    // The definition ends at the first comma, or the table's closing parenthesis, outside
    // parentheses ("varchar(32)").
    let mut depth = 0i32;
    let end = rest
        .char_indices()
        .find(|(_, c)| {
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => depth -= 1,
                ')' | ',' => return true,
                _ => {}
            }
            false
        })
        .map_or(rest.len(), |(i, _)| i);
    let definition = &rest[..end];
    let unique = definition.find(" UNIQUE")?;
    let mut out = String::with_capacity(create.len());
    out.push_str(&create[..start + unique]);
    out.push_str(&create[start + unique + " UNIQUE".len()..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::without_unique;

    #[test]
    fn only_the_named_columns_unique_is_removed() {
        let create = "CREATE TABLE \"t\" ( \"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \
                      \"number\" varchar(32) NOT NULL UNIQUE, \"hash\" varchar(64) NOT NULL UNIQUE )";
        assert_eq!(
            without_unique(create, "number").as_deref(),
            Some(
                "CREATE TABLE \"t\" ( \"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \
                 \"number\" varchar(32) NOT NULL, \"hash\" varchar(64) NOT NULL UNIQUE )"
            )
        );
        assert_eq!(without_unique(create, "id"), None);
    }
}
