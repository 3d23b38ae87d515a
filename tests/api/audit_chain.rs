//! The audit trail's hash chain: appends (alone, concurrent, inside a caller's transaction) form one
//! unbroken chain, and changing, deleting or forking events is caught and named.

use entity::audit_event as event;
use entity::{Agency, Role};
use firearms_hub::audit::{self, NewEvent, Outcome};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, QueryOrder,
    Statement, TransactionTrait, Value,
};

use crate::helpers::TestDb;

fn new_event(n: usize) -> NewEvent {
    NewEvent {
        subject: format!("analyst-{n}"),
        role: Role::Ice,
        purpose: n.is_multiple_of(2).then(|| "case review".to_owned()),
        operation: audit::operation_label(Some("Traces"), "{ traces { totalCount } }"),
        entities: vec!["trace".into(), "firearm".into()],
        data_owners: vec![Agency::Ice, Agency::Atf],
        rows_returned: i64::try_from(n).unwrap_or(0),
        outcome: Outcome::Ok,
        correlation_id: format!("corr-{n}"),
        document_hash: None,
    }
}

async fn append_many(t: &TestDb, n: usize) -> Vec<event::Model> {
    let mut events = Vec::with_capacity(n);
    for i in 0..n {
        events.push(audit::append(&t.db, new_event(i)).await.expect("append"));
    }
    events
}

async fn all_events(t: &TestDb) -> Vec<event::Model> {
    event::Entity::find()
        .order_by_asc(event::Column::Id)
        .all(&t.db)
        .await
        .expect("events read")
}

async fn assert_intact(t: &TestDb, expected: u64) {
    let report = audit::verify(&t.db).await.expect("verify runs");
    assert_eq!(report.first_broken, None, "chain broken: {report:?}");
    assert_eq!(report.checked, expected);
}

async fn broken_at(t: &TestDb) -> (i64, String) {
    let report = audit::verify(&t.db).await.expect("verify runs");
    let Some(broken) = report.first_broken.clone() else {
        panic!("tampering went unnoticed: {report:?}");
    };
    (broken.id, broken.reason)
}

async fn exec(t: &TestDb, sql: &str) -> Result<(), sea_orm::DbErr> {
    t.db.execute_unprepared(sql).await.map(|_| ())
}

/// Deletes the event `id`, as an attacker who has bypassed the triggers can.
async fn delete_event(t: &TestDb, id: i64) {
    let sql = format!("DELETE FROM audit_event WHERE id = {id}");
    exec(t, &sql).await.expect("deleted");
}

/// What an attacker with database access does first: switch the append-only triggers off.
async fn bypass_triggers(t: &TestDb) {
    let sql = match t.backend() {
        DbBackend::Postgres => "ALTER TABLE audit_event DISABLE TRIGGER USER",
        _ => "DROP TRIGGER audit_event_no_update; DROP TRIGGER audit_event_no_delete",
    };
    for statement in sql.split(';') {
        exec(t, statement.trim()).await.expect("triggers bypassed");
    }
}

async fn set_column(t: &TestDb, id: i64, column: &str, value: Value) {
    let placeholder = match t.backend() {
        DbBackend::Postgres => "$1",
        _ => "?",
    };
    t.db.execute_raw(Statement::from_sql_and_values(
        t.backend(),
        format!("UPDATE audit_event SET {column} = {placeholder} WHERE id = {id}"),
        [value],
    ))
    .await
    .unwrap_or_else(|e| panic!("update of {column} failed: {e}"));
}

#[tokio::test]
async fn a_long_chain_links_every_event_to_the_one_before() {
    let t = TestDb::new().await;
    assert_intact(&t, 0).await;
    let appended = append_many(&t, 1100).await;
    let stored = all_events(&t).await;
    assert_eq!(stored, appended);
    assert_eq!(stored[0].prev_hash, audit::GENESIS);
    for pair in stored.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    assert_eq!(stored[1].data_owners, ",ATF,ICE,");
    assert_eq!(stored[1].entities, "trace,firearm");
    assert_eq!(stored[1].outcome, "ok");
    assert_eq!(stored[1].at.timestamp_subsec_nanos() % 1000, 0);
    let report = audit::verify(&t.db).await.expect("verify runs");
    assert_eq!(report.checked, 1100);
    assert_eq!(report.first_broken, None);
    let head = report.head.expect("a head");
    assert_eq!(
        (head.id, head.hash.as_str()),
        (stored[1099].id, stored[1099].hash.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_appends_form_one_chain() {
    let t = TestDb::new().await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            audit::append(&db, new_event(i)).await
        }));
    }
    for task in tasks {
        task.await.expect("task ran").expect("append succeeded");
    }
    assert_intact(&t, 50).await;
    assert_eq!(
        t.scalar("SELECT COUNT(DISTINCT correlation_id) FROM audit_event")
            .await,
        50
    );
}

#[tokio::test]
async fn an_event_appended_in_a_transaction_shares_its_fate() {
    let t = TestDb::new().await;
    append_many(&t, 3).await;

    let txn = t.db.begin().await.expect("begin");
    exec_in(&txn, "UPDATE agency SET name = name WHERE 1 = 0").await;
    let guard = audit::append_in(&txn, new_event(10))
        .await
        .expect("append_in");
    assert_eq!(guard.event().correlation_id, "corr-10");
    txn.rollback().await.expect("rollback");
    drop(guard);
    assert_eq!(t.scalar("SELECT COUNT(*) FROM audit_event").await, 3);
    assert_intact(&t, 3).await;

    let txn = t.db.begin().await.expect("begin");
    let guard = audit::append_in(&txn, new_event(11))
        .await
        .expect("append_in");
    let id = guard.event().id;
    txn.commit().await.expect("commit");
    drop(guard);
    audit::append(&t.db, new_event(12))
        .await
        .expect("append after");
    assert_intact(&t, 5).await;
    assert_eq!(
        t.scalar(&format!(
            "SELECT COUNT(*) FROM audit_event WHERE id = {id} AND correlation_id = 'corr-11'"
        ))
        .await,
        1
    );
}

async fn exec_in(txn: &sea_orm::DatabaseTransaction, sql: &str) {
    txn.execute_unprepared(sql).await.expect("statement runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_inside_and_outside_transactions_interleave_without_forking() {
    let t = TestDb::new().await;
    let mut tasks = Vec::new();
    for i in 0..20_usize {
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            if i.is_multiple_of(2) {
                audit::append(&db, new_event(i)).await.map(|_| ())
            } else {
                let txn = db.begin().await?;
                let guard = audit::append_in(&txn, new_event(i)).await?;
                tokio::task::yield_now().await;
                if i % 4 == 1 {
                    txn.commit().await?;
                } else {
                    txn.rollback().await?;
                }
                drop(guard);
                Ok(())
            }
        }));
    }
    for task in tasks {
        task.await.expect("task ran").expect("append succeeded");
    }
    assert_intact(&t, 15).await;
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_events() {
    let t = TestDb::new().await;
    append_many(&t, 2).await;
    for sql in [
        "UPDATE audit_event SET subject = 'x'",
        "DELETE FROM audit_event",
    ] {
        let error = exec(&t, sql).await.expect_err("refused");
        assert!(
            error.to_string().contains("audit events are append-only"),
            "{sql}: {error}"
        );
    }
    if t.backend() == DbBackend::Postgres {
        let error = exec(&t, "TRUNCATE audit_event").await.expect_err("refused");
        assert!(error.to_string().contains("append-only"), "{error}");
    }
    assert_eq!(t.scalar("SELECT COUNT(*) FROM audit_event").await, 2);
}

#[tokio::test]
async fn changing_any_field_of_an_event_names_that_event() {
    let t = TestDb::new().await;
    let events = append_many(&t, 5).await;
    let target = events[2].clone();
    bypass_triggers(&t).await;
    let later = target.at + chrono::Duration::seconds(1);
    let changes: Vec<(&str, Value, Value)> = vec![
        ("at", later.into(), target.at.into()),
        ("subject", "intruder".into(), target.subject.clone().into()),
        ("role", "OVERSIGHT".into(), target.role.as_str().into()),
        ("role", "NOBODY".into(), target.role.as_str().into()),
        (
            "purpose",
            Some("x".to_owned()).into(),
            target.purpose.clone().into(),
        ),
        ("operation", "Other".into(), target.operation.clone().into()),
        ("entities", "seizure".into(), target.entities.clone().into()),
        (
            "data_owners",
            ",CBP,".into(),
            target.data_owners.clone().into(),
        ),
        ("rows_returned", 999_i64.into(), target.rows_returned.into()),
        ("outcome", "denied".into(), target.outcome.clone().into()),
        (
            "correlation_id",
            "forged".into(),
            target.correlation_id.clone().into(),
        ),
        (
            "prev_hash",
            "0".repeat(64).into(),
            target.prev_hash.clone().into(),
        ),
        ("hash", "f".repeat(64).into(), target.hash.clone().into()),
    ];
    for (column, tampered, original) in changes {
        set_column(&t, target.id, column, tampered).await;
        let (id, reason) = broken_at(&t).await;
        assert_eq!(id, target.id, "{column}: {reason}");
        assert!(reason.contains("changed"), "{column}: {reason}");
        set_column(&t, target.id, column, original).await;
        assert_intact(&t, 5).await;
    }
}

#[tokio::test]
async fn deleting_events_names_the_event_after_the_gap() {
    let t = TestDb::new().await;
    let events = append_many(&t, 6).await;
    bypass_triggers(&t).await;

    delete_event(&t, events[2].id).await;
    let (id, reason) = broken_at(&t).await;
    assert_eq!(id, events[3].id, "{reason}");
    assert_eq!(
        reason,
        format!(
            "prev_hash does not match event {} (deleted or reordered)",
            events[1].id
        )
    );

    delete_event(&t, events[0].id).await;
    let (id, reason) = broken_at(&t).await;
    assert_eq!(id, events[1].id, "{reason}");
    assert!(reason.contains("genesis"), "{reason}");
}

#[tokio::test]
async fn deleting_the_newest_events_needs_the_recorded_head() {
    let t = TestDb::new().await;
    let events = append_many(&t, 4).await;
    let head = audit::verify(&t.db)
        .await
        .expect("verify")
        .head
        .expect("head");
    assert_eq!(head.hash, events[3].hash);
    bypass_triggers(&t).await;
    delete_event(&t, events[3].id).await;
    // The shorter chain is still whole: this is the limitation the recorded head covers.
    assert_intact(&t, 3).await;
    let report = audit::verify_against(&t.db, Some(&head.hash))
        .await
        .expect("verify");
    let broken = report.first_broken.expect("truncation detected");
    assert_eq!(broken.id, events[2].id + 1);
    assert!(
        broken.reason.contains("newest events deleted"),
        "{}",
        broken.reason
    );
}

#[tokio::test]
async fn a_fork_is_refused_by_the_unique_prev_hash() {
    let t = TestDb::new().await;
    let events = append_many(&t, 3).await;
    let mut fork = events[1].clone().into_active_model();
    fork.id = sea_orm::ActiveValue::NotSet;
    fork.hash = sea_orm::ActiveValue::Set("e".repeat(64));
    // Same prev_hash as events[1]: a second successor of events[0].
    let refused = fork.insert(&t.db).await;
    assert!(refused.is_err(), "forked insert accepted");
    let mut genesis = events[0].clone().into_active_model();
    genesis.id = sea_orm::ActiveValue::NotSet;
    genesis.hash = sea_orm::ActiveValue::Set("d".repeat(64));
    assert!(
        genesis.insert(&t.db).await.is_err(),
        "second genesis accepted"
    );
    assert_intact(&t, 3).await;
}

#[tokio::test]
async fn control_characters_and_long_values_are_stored_safely() {
    let t = TestDb::new().await;
    let mut event = new_event(1);
    event.subject = format!("a\0b{}", "s".repeat(500));
    event.purpose = Some("why\0\n".to_owned());
    event.operation = audit::operation_label(Some("Op\0\u{7}"), "");
    event.correlation_id = "c\0".repeat(100);
    event.entities = vec!["tra,ce\0".to_owned(), String::new()];
    let stored = audit::append(&t.db, event).await.expect("append");
    assert_eq!(stored.subject.chars().count(), 200);
    assert!(stored.subject.starts_with("a\u{FFFD}b"));
    assert_eq!(stored.purpose.as_deref(), Some("why\u{FFFD}\u{FFFD}"));
    assert_eq!(stored.operation, "Op\u{FFFD}\u{FFFD}");
    assert_eq!(stored.correlation_id.chars().count(), 64);
    assert_eq!(stored.entities, "trace\u{FFFD}");
    assert_intact(&t, 1).await;
}

#[test]
fn operation_labels_name_or_hash_the_operation() {
    assert_eq!(
        audit::operation_label(Some("  TracesByState \n"), "query { a }"),
        "TracesByState"
    );
    let long = "x".repeat(300);
    assert_eq!(audit::operation_label(Some(&long), "").len(), 100);
    let hashed = audit::operation_label(None, "{ traces { totalCount } }");
    assert!(hashed.starts_with("sha256:"), "{hashed}");
    assert_eq!(hashed.len(), "sha256:".len() + 16);
    assert!(
        hashed["sha256:".len()..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(
        audit::operation_label(Some(""), "{ traces { totalCount } }"),
        hashed
    );
    assert_ne!(
        audit::operation_label(None, "{ seizures { totalCount } }"),
        hashed
    );
    // The SHA-256 of the empty document starts e3b0c44298fc1c14.
    assert_eq!(audit::operation_label(None, ""), "sha256:e3b0c44298fc1c14");
}

fn run_cli(t: &TestDb, extra: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_firearms-hub"));
    command
        .current_dir(dir.path())
        .args(["--database-url", &t.url, "audit", "verify"])
        .args(extra);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HUB_") {
            command.env_remove(name);
        }
    }
    let output = command.output().expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_command_line_reports_an_intact_or_broken_trail() {
    let t = TestDb::new().await;
    let (code, stdout, stderr) = run_cli(&t, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), "audit trail intact: 0 events");

    let events = append_many(&t, 3).await;
    let (code, stdout, stderr) = run_cli(&t, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        stdout.trim(),
        format!(
            "audit trail intact: 3 events, head {} (event {})",
            events[2].hash, events[2].id
        )
    );
    let (code, stdout, _) = run_cli(&t, &["--head", &events[1].hash]);
    assert_eq!(code, Some(0), "{stdout}");

    bypass_triggers(&t).await;
    set_column(&t, events[1].id, "rows_returned", 12_345_i64.into()).await;
    let (code, stdout, stderr) = run_cli(&t, &[]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert_eq!(
        stdout.trim(),
        format!(
            "audit trail broken at event {}: hash does not match its fields (changed)",
            events[1].id
        )
    );
}
