//! Audit by group commit: the events of concurrent requests are appended together (one
//! transaction per batch), form one chain with every other appender on the database, are answered
//! only once committed, and fail together.
//!
//! To make batches predictable, a test holds the audit table's write lock while events queue
//! (SQLite's write lock; on PostgreSQL an `EXCLUSIVE` lock on the table, which lets readers on).

use std::sync::Arc;
use std::time::Duration;

use entity::{Agency, Role};
use firearms_hub::audit::{self, Appender, AppenderStats, NewEvent, Outcome};
use firearms_hub::config::DatabaseSettings;
use firearms_hub::policy::Policy;
use firearms_hub::server::Application;
use futures_util::future::join_all;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

use crate::helpers::{TestApp, TestDb, error_codes, spawn_app, spawn_app_with};

fn new_event(subject: &str, n: usize) -> NewEvent {
    NewEvent {
        subject: subject.to_owned(),
        role: Role::Atf,
        purpose: None,
        operation: "Batch".to_owned(),
        entities: vec!["trace".into()],
        data_owners: vec![Agency::Atf],
        rows_returned: i64::try_from(n).unwrap_or(0),
        outcome: Outcome::Ok,
        correlation_id: format!("batch-{n}"),
        document_hash: None,
    }
}

/// Takes the audit table's write lock in a transaction of its own; every append waits until it
/// ends.
async fn hold_audit_lock(db: &DatabaseConnection) -> DatabaseTransaction {
    match db.get_database_backend() {
        DbBackend::Sqlite => db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .expect("SQLite's write lock taken"),
        _ => {
            let txn = db.begin().await.expect("begin");
            txn.execute_unprepared("LOCK TABLE audit_event IN EXCLUSIVE MODE")
                .await
                .expect("audit table locked");
            txn
        }
    }
}

/// Waits (at most 20 seconds) until the appender's counts satisfy `done`.
async fn until(appender: &Appender, what: &str, done: impl Fn(&AppenderStats) -> bool) {
    for _ in 0..1000 {
        if done(&appender.stats()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} did not happen: {:?}", appender.stats());
}

async fn assert_chain(db: &DatabaseConnection, events: u64) {
    let report = audit::verify(db).await.expect("verify runs");
    assert_eq!(report.first_broken, None, "chain broken: {report:?}");
    assert_eq!(report.checked, events, "{report:?}");
}

/// Makes the database refuse every audit event of `subject` (a trigger raising an error).
async fn refuse_events_of(t: &TestDb, subject: &str) {
    let statements = match t.backend() {
        DbBackend::Sqlite => vec![format!(
            "CREATE TRIGGER audit_refuse_marker BEFORE INSERT ON audit_event \
             WHEN NEW.subject = '{subject}' BEGIN SELECT RAISE(ABORT, 'refused marker'); END"
        )],
        _ => vec![
            format!(
                "CREATE FUNCTION audit_refuse_marker() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.subject = '{subject}' THEN RAISE EXCEPTION 'refused marker'; END IF; \
                 RETURN NEW; END $$"
            ),
            "CREATE TRIGGER audit_refuse_marker BEFORE INSERT ON audit_event \
             FOR EACH ROW EXECUTE FUNCTION audit_refuse_marker()"
                .to_owned(),
        ],
    };
    for sql in statements {
        t.db.execute_unprepared(&sql).await.expect("trigger made");
    }
}

/// A second server over `app`'s database and settings, with its own pool when `own_pool`; returns
/// it as a test app with the server's appender.
async fn second_server(app: &TestApp, own_pool: bool) -> (String, Appender) {
    let db = if own_pool {
        firearms_hub::store::connect(&DatabaseSettings {
            url: app.db.url.clone(),
            ..DatabaseSettings::default()
        })
        .await
        .expect("second pool opens")
    } else {
        app.db.db.clone()
    };
    let server =
        Application::build_with(app.settings.clone(), db, Arc::new(Policy::default_policy()))
            .expect("server binds");
    let address = format!("http://127.0.0.1:{}", server.port());
    let appender = server.audit().clone();
    tokio::spawn(server.run_until_stopped());
    (address, appender)
}

/// Asks `who am I` as `role` of the server at `address`; returns the status and the body.
async fn ask_me(app: &TestApp, address: &str, role: Role) -> (u16, serde_json::Value) {
    let response = app
        .client
        .post(format!("{address}/graphql"))
        .header("Content-Type", "application/json")
        .header(
            "Authorization",
            format!("Bearer {}", app.as_role(role).token()),
        )
        .body(serde_json::json!({ "query": ME }).to_string())
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body read");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// The value of a counter in the server's `/metrics` (the registry is process-wide).
async fn metric(app: &TestApp, address: &str, name: &str) -> u64 {
    let text = app
        .client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .expect("metrics answered")
        .text()
        .await
        .expect("metrics read");
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{name} not in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_events_share_one_transaction_and_one_chain() {
    let t = TestDb::new().await;
    // More than one INSERT statement's rows in one batch.
    let appender = Appender::new(t.db.clone(), 1000);
    audit::append(&t.db, new_event("before", 0))
        .await
        .expect("a plain append");
    let lock = hold_audit_lock(&t.db).await;
    let waiting: Vec<_> = (1..=450)
        .map(|n| {
            let appender = appender.clone();
            tokio::spawn(async move { appender.append(new_event("analyst", n)).await })
        })
        .collect();
    until(&appender, "450 events queued", |s| s.received == 450).await;
    // Nothing is answered while the batch cannot commit.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        waiting.iter().all(|w| !w.is_finished()),
        "answered before commit"
    );
    lock.commit().await.expect("lock released");
    let mut ids = Vec::new();
    for w in waiting {
        let event = w.await.expect("task ran").expect("recorded");
        ids.push(event.id);
    }
    let stats = appender.stats();
    assert_eq!((stats.batched, stats.recorded, stats.failed), (450, 450, 0));
    assert!(
        stats.batches <= 2,
        "one batch waited, the rest came together: {stats:?}"
    );
    assert_chain(&t.db, 451).await;
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 450, "each caller got its own event back");
    // The appender and a plain append after it extend the same chain.
    audit::append(&t.db, new_event("after", 451))
        .await
        .expect("a plain append");
    appender
        .append(new_event("analyst", 452))
        .await
        .expect("recorded");
    assert_chain(&t.db, 453).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_takes_at_most_the_configured_number_of_events() {
    let t = TestDb::new().await;
    let appender = Appender::new(t.db.clone(), 4);
    let lock = hold_audit_lock(&t.db).await;
    let waiting: Vec<_> = (0..21)
        .map(|n| {
            let appender = appender.clone();
            tokio::spawn(async move { appender.append(new_event("analyst", n)).await })
        })
        .collect();
    until(&appender, "21 events queued", |s| s.received == 21).await;
    lock.commit().await.expect("lock released");
    for w in waiting {
        w.await.expect("task ran").expect("recorded");
    }
    let stats = appender.stats();
    assert!((6..=21).contains(&stats.batches), "{stats:?}");
    assert_eq!(stats.recorded, 21);
    assert_chain(&t.db, 21).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_batch_fails_every_event_in_it_and_records_none() {
    let t = TestDb::new().await;
    refuse_events_of(&t, "refused").await;
    let appender = Appender::new(t.db.clone(), 256);
    let lock = hold_audit_lock(&t.db).await;
    let first = {
        let appender = appender.clone();
        tokio::spawn(async move { appender.append(new_event("analyst", 0)).await })
    };
    until(&appender, "the first batch", |s| s.batches == 1).await;
    let mut batch = Vec::new();
    for n in 1..=6 {
        let subject = if n == 4 { "refused" } else { "analyst" };
        let appender = appender.clone();
        batch.push(tokio::spawn(async move {
            appender.append(new_event(subject, n)).await
        }));
    }
    until(&appender, "7 events queued", |s| s.received == 7).await;
    lock.commit().await.expect("lock released");
    first
        .await
        .expect("task ran")
        .expect("the first batch commits");
    for w in batch {
        let error = w
            .await
            .expect("task ran")
            .expect_err("every event of the refused batch fails");
        assert!(error.to_string().contains("refused marker"), "{error}");
    }
    let stats = appender.stats();
    assert_eq!((stats.batches, stats.recorded, stats.failed), (2, 1, 6));
    assert_eq!(t.scalar("SELECT COUNT(*) FROM audit_event").await, 1);
    assert_chain(&t.db, 1).await;
    // The next batch starts from the committed head.
    appender
        .append(new_event("analyst", 7))
        .await
        .expect("recorded");
    assert_chain(&t.db, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_that_stops_waiting_leaves_its_event_recorded_and_the_chain_whole() {
    let t = TestDb::new().await;
    let appender = Appender::new(t.db.clone(), 256);
    let lock = hold_audit_lock(&t.db).await;
    let first = {
        let appender = appender.clone();
        tokio::spawn(async move { appender.append(new_event("analyst", 0)).await })
    };
    until(&appender, "the first batch", |s| s.batches == 1).await;
    // Ten callers give up while their batch waits; five wait to the end.
    let gave_up = join_all((1..=10).map(|n| {
        let appender = appender.clone();
        async move {
            tokio::time::timeout(
                Duration::from_millis(50),
                appender.append(new_event("impatient", n)),
            )
            .await
        }
    }))
    .await;
    assert!(gave_up.iter().all(Result::is_err), "they stopped waiting");
    let patient: Vec<_> = (11..=15)
        .map(|n| {
            let appender = appender.clone();
            tokio::spawn(async move { appender.append(new_event("patient", n)).await })
        })
        .collect();
    until(&appender, "16 events queued", |s| s.received == 16).await;
    lock.commit().await.expect("lock released");
    first.await.expect("task ran").expect("recorded");
    for w in patient {
        w.await.expect("task ran").expect("recorded");
    }
    until(&appender, "every event committed", |s| s.recorded == 16).await;
    assert_eq!(
        t.scalar("SELECT COUNT(*) FROM audit_event WHERE subject = 'impatient'")
            .await,
        10
    );
    appender
        .append(new_event("analyst", 16))
        .await
        .expect("recorded");
    assert_chain(&t.db, 17).await;
}

const ME: &str = "query Me { me { role } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_are_audited_in_fewer_transactions_than_events() {
    let app = spawn_app().await;
    let (address, appender) = second_server(&app, false).await;
    let lock = hold_audit_lock(&app.db.db).await;
    let requests = join_all((0..30).map(|n| {
        let role = [Role::Atf, Role::Ice, Role::Cbp][n % 3];
        ask_me(&app, &address, role)
    }));
    let release = async {
        until(&appender, "30 events queued", |s| s.received == 30).await;
        lock.commit().await.expect("lock released");
    };
    let (answers, ()) = tokio::join!(requests, release);
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        assert!(answer["errors"].is_null(), "{answer}");
        assert!(answer["data"]["me"]["role"].is_string(), "{answer}");
    }
    let stats = appender.stats();
    assert_eq!(stats.recorded, 30, "{stats:?}");
    assert!(stats.batches <= 2, "{stats:?}");
    assert_chain(&app.db.db, 30).await;
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM audit_event WHERE operation = 'Me' AND outcome = 'ok'")
            .await,
        30
    );
    // The metrics count batches and their sizes.
    let text = app
        .client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .expect("metrics answered")
        .text()
        .await
        .expect("metrics read");
    assert!(text.contains("audit_batches_total "), "{text}");
    assert!(text.contains("audit_batch_events_bucket"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_append_one_chain() {
    let app = spawn_app().await;
    let (first, first_audit) = second_server(&app, true).await;
    let (second, second_audit) = second_server(&app, true).await;
    let servers = [first, second];
    let answers = join_all((0..60).map(|n| {
        let role = [Role::Atf, Role::Ice, Role::Oversight][n % 3];
        ask_me(&app, &servers[n % 2], role)
    }))
    .await;
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        assert!(answer["errors"].is_null(), "{answer}");
    }
    assert_eq!(first_audit.stats().recorded, 30);
    assert_eq!(second_audit.stats().recorded, 30);
    assert_chain(&app.db.db, 60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_batch_withholds_every_answer_in_it() {
    let app = spawn_app().await;
    refuse_events_of(&app.db, "test-ice").await;
    let (address, appender) = second_server(&app, false).await;
    let failures_before = metric(&app, &address, "audit_write_failures_total").await;
    let lock = hold_audit_lock(&app.db.db).await;
    // One request's batch waits for the lock; the next five queue behind it, one ICE among them.
    let first = ask_me(&app, &address, Role::Atf);
    let batch = async {
        until(&appender, "the first batch", |s| s.batches == 1).await;
        join_all(
            [Role::Atf, Role::Cbp, Role::Ice, Role::Atf, Role::Oversight]
                .map(|role| ask_me(&app, &address, role)),
        )
        .await
    };
    let release = async {
        until(&appender, "6 events queued", |s| s.received == 6).await;
        lock.commit().await.expect("lock released");
    };
    let ((status, answer), batch, ()) = tokio::join!(first, batch, release);
    assert_eq!(status, 200, "{answer}");
    assert!(answer["data"]["me"].is_object(), "{answer}");
    for (status, answer) in &batch {
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(error_codes(answer), ["INTERNAL"], "{answer}");
        assert!(answer["data"].is_null(), "the result is withheld: {answer}");
    }
    let stats = appender.stats();
    assert_eq!((stats.batches, stats.recorded, stats.failed), (2, 1, 5));
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM audit_event").await, 1);
    assert_chain(&app.db.db, 1).await;
    assert!(metric(&app, &address, "audit_write_failures_total").await >= failures_before + 5);
    // Other callers go on being answered.
    let (status, answer) = ask_me(&app, &address, Role::Cbp).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["errors"].is_null(), "{answer}");
    assert_chain(&app.db.db, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_timed_out_while_its_event_waits_leaves_the_chain_whole() {
    let app = spawn_app_with(|s| s.limits.request_timeout_secs = 1).await;
    let (address, appender) = second_server(&app, false).await;
    let lock = hold_audit_lock(&app.db.db).await;
    let request = ask_me(&app, &address, Role::Atf);
    let release = async {
        until(&appender, "the event queued", |s| s.received >= 1).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        lock.commit().await.expect("lock released");
    };
    let ((status, answer), ()) = tokio::join!(request, release);
    assert_eq!(status, 503, "{answer}");
    assert_eq!(error_codes(&answer), ["TIMEOUT"], "{answer}");
    // The request's event, queued before the time ran out, and the timed-out event.
    until(&appender, "both events committed", |s| s.recorded == 2).await;
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM audit_event WHERE operation = 'Me'")
            .await,
        2
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM audit_event WHERE operation = 'Me' AND outcome = 'error'")
            .await,
        1
    );
    let (status, answer) = ask_me(&app, &address, Role::Atf).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["data"]["me"].is_object(), "{answer}");
    assert_chain(&app.db.db, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_and_writes_inside_their_own_transactions_interleave_without_forking() {
    let t = TestDb::new().await;
    let appender = Appender::new(t.db.clone(), 256);
    let tasks: Vec<_> = (0..40_usize)
        .map(|n| {
            let appender = appender.clone();
            let db = t.db.clone();
            tokio::spawn(async move {
                if n % 4 == 0 {
                    // A write: its event commits or rolls back with it.
                    let txn = db.begin().await.map_err(|e| e.to_string())?;
                    let guard = audit::append_in(&txn, new_event("writer", n))
                        .await
                        .map_err(|e| e.to_string())?;
                    tokio::task::yield_now().await;
                    if n % 8 == 0 {
                        txn.commit().await.map_err(|e| e.to_string())?;
                    } else {
                        txn.rollback().await.map_err(|e| e.to_string())?;
                    }
                    drop(guard);
                    Ok(())
                } else {
                    appender
                        .append(new_event("reader", n))
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task ran").expect("appended");
    }
    assert_eq!(appender.stats().recorded, 30);
    assert_eq!(
        t.scalar("SELECT COUNT(*) FROM audit_event WHERE subject = 'writer'")
            .await,
        5
    );
    assert_chain(&t.db, 35).await;
}
