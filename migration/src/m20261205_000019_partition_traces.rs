//! Traces partitioned by recovery year on PostgreSQL (declarative range partitioning); SQLite keeps
//! one table, and this migration changes nothing there.
//!
//! - `trace` becomes a table partitioned by `recovery_year`: one partition per year
//!   (`trace_y2019` holds 2019) from 2014 (the first year of the demo's data) to the year after the
//!   migration runs, one for every other year the table already holds, and `trace_default` for any
//!   year without a partition of its own, so no write ever fails for want of one. Every row is
//!   moved over, its id kept.
//! - A partitioned table's primary key and unique indexes must contain the partition key: the
//!   primary key becomes `(id, recovery_year)`. Ids stay unique: the only writer of `id` is the
//!   sequence `trace_id_seq` (an identity column is not allowed on a partitioned table before
//!   PostgreSQL 17, so `id` takes its default from the sequence, owned by the column).
//! - The natural key, a trace number unique per owning agency, cannot be a unique index of the
//!   partitioned table without the year, and with it two traces of one number in two years would
//!   both be allowed. It is kept unique by `trace_number_key`, a plain table keyed by
//!   `(trace_number, owner_agency)` that a row trigger on `trace` keeps in step with every insert,
//!   update and delete: a second trace of a number is refused by its primary key, as the unique
//!   index refused it (a unique violation, which the hub answers as a conflict). The index
//!   `idx_trace_number_owner` stays, non-unique, for lookups by natural key.
//! - No foreign key references `trace`; its own foreign keys (firearm, requesting agency) and
//!   every index are declared on the partitioned table, so each partition gets them.
//! - `ensure_trace_partition(year)` creates a year's partition when it is missing, moving that
//!   year's rows out of the default partition first (PostgreSQL refuses to create a partition
//!   whose rows the default partition holds); the hub calls it for the current and the next year
//!   whenever it migrates (every start), and an operator may call it for any year.
//!
//! Down puts back the one table, its identity column and its unique index.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The first year partitioned however empty the table is: the first year of the demo's data.
const FIRST_YEAR: i32 = 2014;

/// The indexes of `trace` besides its primary key: name and columns. The natural key's is unique
/// on the one table and not on the partitioned one.
const INDEXES: [(&str, &str); 8] = [
    ("idx_trace_firearm", "(firearm_id)"),
    ("idx_trace_number_owner", "(trace_number, owner_agency)"),
    ("idx_trace_purchase_state", "(purchase_state)"),
    ("idx_trace_recovery_date", "(recovery_date, id)"),
    ("idx_trace_source_class", "(source_class)"),
    (
        "idx_trace_state_date",
        "(recovery_state, recovery_date DESC, id, recovery_year)",
    ),
    ("idx_trace_status", "(status)"),
    ("idx_trace_year_source", "(recovery_year, source_class)"),
];

const FOREIGN_KEYS: &str = "ALTER TABLE trace \
     ADD CONSTRAINT fk_trace_firearm FOREIGN KEY (firearm_id) REFERENCES firearm(id) ON DELETE RESTRICT, \
     ADD CONSTRAINT fk_trace_requesting_agency FOREIGN KEY (requesting_agency) REFERENCES agency(code) ON DELETE RESTRICT";

/// Keeps `trace_number_key` in step with `trace`. Moving rows between partitions
/// (`ensure_trace_partition`) sets `hub.moving_traces` for its transaction: the rows keep their
/// keys. An update that changes a row's year moves it to another partition as a delete and an
/// insert, whose AFTER triggers run in that order.
const KEY_FUNCTION: &str = r#"
CREATE FUNCTION trace_number_key_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('hub.moving_traces', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.trace_number = NEW.trace_number
        AND OLD.owner_agency = NEW.owner_agency THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM trace_number_key
        WHERE trace_number = OLD.trace_number AND owner_agency = OLD.owner_agency;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO trace_number_key (trace_number, owner_agency)
        VALUES (NEW.trace_number, NEW.owner_agency);
    END IF;
    RETURN NULL;
END
$$"#;

const KEY_TRIGGER: &str = "CREATE TRIGGER trace_number_key_sync \
     AFTER INSERT OR UPDATE OR DELETE ON trace \
     FOR EACH ROW EXECUTE FUNCTION trace_number_key_sync()";

/// Creates the partition of one recovery year when it is missing; true when it created it.
const ENSURE_FUNCTION: &str = r#"
CREATE FUNCTION ensure_trace_partition(year integer) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    partition text := format('trace_y%s', year);
BEGIN
    IF to_regclass(partition) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- One creation at a time; writers wait while rows move.
    LOCK TABLE trace IN SHARE ROW EXCLUSIVE MODE;
    IF to_regclass(partition) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM set_config('hub.moving_traces', 'on', true);
    CREATE TEMPORARY TABLE trace_moving ON COMMIT DROP AS
        SELECT * FROM trace_default WHERE recovery_year = year;
    DELETE FROM trace_default WHERE recovery_year = year;
    EXECUTE format('CREATE TABLE %I PARTITION OF trace FOR VALUES FROM (%s) TO (%s)',
        partition, year, year + 1);
    INSERT INTO trace SELECT * FROM trace_moving;
    DROP TABLE trace_moving;
    PERFORM set_config('hub.moving_traces', 'off', true);
    RETURN true;
END
$$"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        // The one table out of the way, its identity (and sequence) and index names freed.
        db.execute_unprepared("ALTER TABLE trace ALTER COLUMN id DROP IDENTITY IF EXISTS")
            .await?;
        db.execute_unprepared("ALTER TABLE trace RENAME TO trace_unpartitioned")
            .await?;
        db.execute_unprepared("ALTER TABLE trace_unpartitioned DROP CONSTRAINT trace_pkey")
            .await?;
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        db.execute_unprepared("CREATE SEQUENCE trace_id_seq AS bigint")
            .await?;
        db.execute_unprepared(
            "CREATE TABLE trace (LIKE trace_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS) \
             PARTITION BY RANGE (recovery_year)",
        )
        .await?;
        db.execute_unprepared(
            "ALTER TABLE trace ALTER COLUMN id SET DEFAULT nextval('trace_id_seq'), \
             ADD CONSTRAINT trace_pkey PRIMARY KEY (id, recovery_year)",
        )
        .await?;
        db.execute_unprepared("ALTER SEQUENCE trace_id_seq OWNED BY trace.id")
            .await?;
        db.execute_unprepared(FOREIGN_KEYS).await?;
        db.execute_unprepared("CREATE TABLE trace_default PARTITION OF trace DEFAULT")
            .await?;
        let years = db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SELECT y::int AS year FROM generate_series({FIRST_YEAR}, \
                     EXTRACT(YEAR FROM CURRENT_DATE)::int + 1) AS y \
                     UNION SELECT DISTINCT recovery_year FROM trace_unpartitioned ORDER BY 1"
                ),
            ))
            .await?;
        for row in years {
            let year: i32 = row.try_get("", "year")?;
            db.execute_unprepared(&format!(
                "CREATE TABLE \"trace_y{year}\" PARTITION OF trace FOR VALUES FROM ({year}) TO ({})",
                year + 1
            ))
            .await?;
        }
        db.execute_unprepared("INSERT INTO trace SELECT * FROM trace_unpartitioned")
            .await?;
        db.execute_unprepared(
            "SELECT setval('trace_id_seq', GREATEST(COALESCE((SELECT MAX(id) FROM trace), 0), 1), \
             (SELECT MAX(id) FROM trace) IS NOT NULL)",
        )
        .await?;
        db.execute_unprepared("DROP TABLE trace_unpartitioned")
            .await?;
        for (name, columns) in INDEXES {
            db.execute_unprepared(&format!("CREATE INDEX {name} ON trace {columns}"))
                .await?;
        }
        db.execute_unprepared(
            "CREATE TABLE trace_number_key (\
                 trace_number varchar(32) NOT NULL, \
                 owner_agency varchar(8) NOT NULL, \
                 CONSTRAINT trace_number_key_pkey PRIMARY KEY (trace_number, owner_agency))",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO trace_number_key (trace_number, owner_agency) \
             SELECT trace_number, owner_agency FROM trace",
        )
        .await?;
        db.execute_unprepared(KEY_FUNCTION).await?;
        db.execute_unprepared(KEY_TRIGGER).await?;
        db.execute_unprepared(ENSURE_FUNCTION).await?;
        db.execute_unprepared("ANALYZE trace").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP FUNCTION ensure_trace_partition(integer)")
            .await?;
        db.execute_unprepared("DROP TRIGGER trace_number_key_sync ON trace")
            .await?;
        db.execute_unprepared("DROP FUNCTION trace_number_key_sync()")
            .await?;
        db.execute_unprepared("DROP TABLE trace_number_key").await?;
        db.execute_unprepared(
            "CREATE TABLE trace_unpartitioned \
             (LIKE trace INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
        )
        .await?;
        db.execute_unprepared("INSERT INTO trace_unpartitioned SELECT * FROM trace")
            .await?;
        db.execute_unprepared("ALTER TABLE trace_unpartitioned ALTER COLUMN id DROP DEFAULT")
            .await?;
        // Dropping the partitioned table drops its partitions, indexes and sequence.
        db.execute_unprepared("DROP TABLE trace").await?;
        db.execute_unprepared("ALTER TABLE trace_unpartitioned RENAME TO trace")
            .await?;
        db.execute_unprepared(
            "ALTER TABLE trace ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY \
             (SEQUENCE NAME trace_id_seq)",
        )
        .await?;
        db.execute_unprepared(
            "SELECT setval('trace_id_seq', GREATEST(COALESCE((SELECT MAX(id) FROM trace), 0), 1), \
             (SELECT MAX(id) FROM trace) IS NOT NULL)",
        )
        .await?;
        db.execute_unprepared("ALTER TABLE trace ADD CONSTRAINT trace_pkey PRIMARY KEY (id)")
            .await?;
        db.execute_unprepared(FOREIGN_KEYS).await?;
        for (name, columns) in INDEXES {
            let unique = if name == "idx_trace_number_owner" {
                "UNIQUE "
            } else {
                ""
            };
            db.execute_unprepared(&format!("CREATE {unique}INDEX {name} ON trace {columns}"))
                .await?;
        }
        Ok(())
    }
}
