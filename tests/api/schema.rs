//! The migrations build the same schema on every backend, with the keys the data relies on.

use crate::helpers::TestDb;
use sea_orm::{ConnectionTrait, Statement};

#[tokio::test]
async fn migrations_create_every_table_and_seed_the_agencies() {
    let t = TestDb::new().await;
    for table in [
        "agency",
        "firearm",
        "trace",
        "seizure",
        "seizure_firearm",
        "training_event",
        "funding_award",
        "performance_measure",
        "performance_measure_version",
        "audit_event",
        "subscription_lease",
    ] {
        // Counting rows fails if the table is missing.
        t.scalar(&format!("SELECT COUNT(*) FROM {table}")).await;
    }
    assert_eq!(
        t.scalar("SELECT COUNT(*) FROM agency WHERE country = 'US'")
            .await,
        4
    );
    assert_eq!(
        t.scalar("SELECT COUNT(*) FROM agency WHERE kind = 'MX_STATE'")
            .await,
        32
    );
    assert!(
        firearms_hub::store::migrations_current(&t.db)
            .await
            .expect("state")
    );
}

#[tokio::test]
async fn migrating_twice_changes_nothing() {
    let t = TestDb::new().await;
    firearms_hub::store::migrate(&t.db)
        .await
        .expect("second run is a no-op");
    assert_eq!(t.scalar("SELECT COUNT(*) FROM agency").await, 40);
}

#[tokio::test]
async fn foreign_keys_and_natural_keys_are_enforced() {
    let t = TestDb::new().await;
    let backend = t.backend();
    let now = "'2024-01-01T00:00:00Z'";
    let insert_trace = format!(
        "INSERT INTO trace (trace_number, firearm_id, requesting_agency, recovery_date, recovery_year, \
         recovery_state, status, source_class, owner_agency, source_system, ingested_at, version) \
         VALUES ('T1', 999, 'FGR', '2019-01-01', 2019, 'MX-SON', 'PENDING', 'FOREIGN', 'ATF', 'test', {now}, 1)"
    );
    let orphan =
        t.db.execute_raw(Statement::from_string(backend, insert_trace))
            .await;
    assert!(
        orphan.is_err(),
        "a trace of a firearm that does not exist must be refused"
    );

    let insert_seizure = format!(
        "INSERT INTO seizure (case_number, seizing_agency, seized_on, fiscal_year, us_state, direction, \
         owner_agency, source_system, ingested_at, version) \
         VALUES ('C-1', 'CBP', '2020-01-01', 2020, 'AZ', 'OUTBOUND', 'CBP', 'test', {now}, 1)"
    );
    t.db.execute_raw(Statement::from_string(backend, insert_seizure.clone()))
        .await
        .expect("first seizure stored");
    let duplicate =
        t.db.execute_raw(Statement::from_string(backend, insert_seizure))
            .await;
    assert!(
        duplicate.is_err(),
        "a second seizure with the same case number must be refused"
    );
}
