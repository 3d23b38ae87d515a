//! Time-boxed grants: oversight opens exactly some rows of another agency's entity to one role for
//! exactly a window; a grant can be revoked and stops working at once.

use chrono::{Duration, Utc};
use entity::Role;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::fixtures::{self, Fixture};
use crate::helpers::{TEST_DATABASE_ENV, TestApp, another_process, error_codes, spawn_app};

const GRANT: &str =
    "mutation($input: GrantInput!) { grantAccess(input: $input) { id role entity reason } }";
const TRACES: &str = "{ traces { totalCount nodes { traceNumber recoveryState purchaserName firearm { manufacturer } } } }";

async fn app() -> (TestApp, Fixture) {
    let app = spawn_app().await;
    let f = fixtures::load(&app.db.db).await;
    (app, f)
}

fn window(from_hours: i64, to_hours: i64) -> (String, String) {
    let now = Utc::now();
    (
        (now + Duration::hours(from_hours)).to_rfc3339(),
        (now + Duration::hours(to_hours)).to_rfc3339(),
    )
}

/// Oversight grants STATE, for the hour around now, the traces recovered in Sonora.
async fn state_grant_for_sonora(app: &TestApp) -> Value {
    let sonora = Some(r#"{"recoveryState": ["MX-SON"]}"#);
    grant(app, "STATE", sonora, window(-1, 1)).await
}

async fn grant(
    app: &TestApp,
    role: &str,
    filter: Option<&str>,
    (from, to): (String, String),
) -> Value {
    app.as_role(Role::Oversight)
        .query(
            GRANT,
            json!({ "input": { "role": role, "entity": "trace", "rowFilter": filter, "reason": "MOU 2026-3 Sonora corridor", "startsAt": from, "endsAt": to } }),
        )
        .await
}

#[tokio::test]
async fn a_grant_opens_exactly_its_rows_for_exactly_its_window() {
    let (app, f) = app().await;
    let state = app.as_role(Role::State);
    assert_eq!(
        error_codes(&state.run(TRACES).await),
        ["FORBIDDEN"],
        "no trace rows before the grant"
    );

    let made = state_grant_for_sonora(&app).await;
    assert_eq!(made["data"]["grantAccess"]["role"], "STATE", "{made}");
    let id = made["data"]["grantAccess"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let seen = state.run(TRACES).await;
    assert_eq!(seen["data"]["traces"]["totalCount"], 1, "{seen}");
    assert_eq!(seen["data"]["traces"]["nodes"][0]["traceNumber"], "T-1");
    assert_eq!(
        seen["data"]["traces"]["nodes"][0]["firearm"]["manufacturer"], "Glock",
        "the granted trace's firearm comes with it"
    );
    assert!(
        seen["data"]["traces"]["nodes"][0]["purchaserName"].is_null(),
        "a grant opens rows, not hidden fields"
    );
    let outside = state
        .query(
            "query($id: ID!) { trace(id: $id) { traceNumber } }",
            json!({ "id": (f.trace_sonora + 1).to_string() }),
        )
        .await;
    assert!(
        outside["data"]["trace"].is_null(),
        "rows outside the condition stay closed: {outside}"
    );
    let me = state.run("{ me { grants { id entity reason } } }").await;
    assert_eq!(me["data"]["me"]["grants"][0]["id"], id.as_str());
    let ice = app.as_role(Role::Ice).run("{ me { grants { id } } }").await;
    assert_eq!(ice["data"]["me"]["grants"], json!([]));

    // Without a stated purpose the grant does not apply.
    let no_purpose = app.as_role(Role::State).without_purpose().run(TRACES).await;
    assert_eq!(error_codes(&no_purpose)[0], "FORBIDDEN");

    let revoked = app
        .as_role(Role::Oversight)
        .query(
            "mutation($id: ID!) { revokeGrant(id: $id) { revokedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert!(
        revoked["data"]["revokeGrant"]["revokedAt"].is_string(),
        "{revoked}"
    );
    assert_eq!(
        error_codes(&state.run(TRACES).await),
        ["FORBIDDEN"],
        "revoked grants stop at once"
    );
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(*) FROM audit_event WHERE operation IN ('grantAccess', 'revokeGrant')"
            )
            .await,
        2
    );
}

#[tokio::test]
async fn grants_outside_their_window_open_nothing() {
    let (app, _) = app().await;
    grant(&app, "CBP", None, window(-48, -24)).await;
    grant(&app, "CBP", None, window(24, 48)).await;
    let cbp = app.as_role(Role::Cbp).run(TRACES).await;
    assert_eq!(error_codes(&cbp), ["FORBIDDEN"], "{cbp}");
    let all = app
        .as_role(Role::Oversight)
        .run("{ accessGrants(inForceOnly: false) { id } }")
        .await;
    assert_eq!(
        all["data"]["accessGrants"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn only_oversight_grants_and_bad_grants_are_refused_by_name() {
    let (app, _) = app().await;
    let input = |filter: &str, to: i64| json!({ "input": { "role": "STATE", "entity": "trace", "rowFilter": filter, "reason": "MOU 2026-3", "startsAt": Utc::now().to_rfc3339(), "endsAt": (Utc::now() + Duration::hours(to)).to_rfc3339() } });
    let atf = app
        .as_role(Role::Atf)
        .query(GRANT, input(r#"{"recoveryState": ["MX-SON"]}"#, 1))
        .await;
    assert_eq!(error_codes(&atf), ["FORBIDDEN"]);
    let oversight = app.as_role(Role::Oversight);
    let bad_filter = oversight
        .query(GRANT, input(r#"{"recoveryStat": ["MX-SON"]}"#, 1))
        .await;
    assert_eq!(error_codes(&bad_filter), ["BAD_USER_INPUT"], "{bad_filter}");
    assert_eq!(bad_filter["errors"][0]["extensions"]["field"], "rowFilter");
    let backwards = oversight.query(GRANT, input("{}", -1)).await;
    assert_eq!(backwards["errors"][0]["extensions"]["field"], "endsAt");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM access_grant").await, 0);
}

#[tokio::test]
async fn introspection_follows_grants_and_keeps_grant_mutations_to_oversight() {
    let (app, _) = app().await;
    let fields = |response: &Value, root: &str| -> Vec<String> {
        response["data"]["__schema"][root]["fields"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|x| x["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let query = "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }";
    let oversight = app.as_role(Role::Oversight).run(query).await;
    assert!(
        fields(&oversight, "mutationType").contains(&"grantAccess".to_owned()),
        "{oversight}"
    );
    let atf = app.as_role(Role::Atf).run(query).await;
    assert!(!fields(&atf, "mutationType").contains(&"grantAccess".to_owned()));

    let before = app.as_role(Role::State).run(query).await;
    assert!(!fields(&before, "queryType").contains(&"traces".to_owned()));
    grant(&app, "STATE", None, window(-1, 1)).await;
    let after = app.as_role(Role::State).run(query).await;
    assert!(
        fields(&after, "queryType").contains(&"traces".to_owned()),
        "a grant shows the rows it opens"
    );
}

#[tokio::test]
async fn a_stored_grant_that_no_longer_compiles_opens_nothing_and_oversight_sees_why() {
    let (app, _) = app().await;
    let made = state_grant_for_sonora(&app).await;
    assert!(made["data"]["grantAccess"]["id"].is_string(), "{made}");
    // A grant stored under an older filter shape: its field no longer exists.
    let id = made["data"]["grantAccess"]["id"].as_str().expect("id");
    app.db
        .db
        .execute_unprepared(&format!(
            "UPDATE access_grant SET row_filter = '{{\"recoveryProvince\": [\"MX-SON\"]}}' WHERE id = {id}"
        ))
        .await
        .expect("the stored filter is rewritten");

    let state = app.as_role(Role::State).run(TRACES).await;
    assert_eq!(
        error_codes(&state),
        ["FORBIDDEN"],
        "the broken grant opens nothing and the grantee's reads do not fail as bad input: {state}"
    );
    let seen = app
        .as_role(Role::Oversight)
        .run("{ accessGrants { id problem } }")
        .await;
    let problem = seen["data"]["accessGrants"][0]["problem"]
        .as_str()
        .unwrap_or_default();
    assert!(
        problem.contains("recoveryProvince"),
        "oversight is told why the grant opens nothing: {seen}"
    );
}

/// Asks `app` as STATE for the traces until `done` holds of the answer, for `within` at most;
/// returns how long it took.
async fn until(
    app: &TestApp,
    within: std::time::Duration,
    done: impl Fn(&Value) -> bool,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        let answer = app.as_role(Role::State).run(TRACES).await;
        if done(&answer) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "not seen within {within:?}; last answer: {answer}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_grant_made_and_revoked_through_one_process_takes_effect_in_another_within_the_bound() {
    let (one, _) = app().await;
    let postgres = std::env::var(TEST_DATABASE_ENV).is_ok_and(|url| !url.trim().is_empty());
    // On PostgreSQL the other process hears the change by notification, so it gets no poll to
    // speak of; on SQLite its generation poll is the bound.
    let poll_ms = if postgres { 3_600_000 } else { 300 };
    let other = another_process(&one, |s| s.cache.generation_poll_ms = poll_ms).await;
    let bound = std::time::Duration::from_millis(if postgres { 0 } else { poll_ms })
        + std::time::Duration::from_secs(2);
    // (A granted answer has a FORBIDDEN error too, for the hidden `purchaserName`.)
    let forbidden = |a: &Value| error_codes(a) == ["FORBIDDEN"] && a["data"]["traces"].is_null();
    let granted = |a: &Value| a["data"]["traces"]["totalCount"] == 1;

    // Both processes hold STATE's grants (none) in their caches.
    assert!(forbidden(&one.as_role(Role::State).run(TRACES).await));
    assert!(forbidden(&other.as_role(Role::State).run(TRACES).await));

    let made = state_grant_for_sonora(&one).await;
    let id = made["data"]["grantAccess"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let here = one.as_role(Role::State).run(TRACES).await;
    assert!(
        granted(&here),
        "at once in the process that made it: {here}"
    );
    let took = until(&other, bound, granted).await;
    assert!(
        took <= bound,
        "the grant reached the other process in {took:?}"
    );

    let revoked = one
        .as_role(Role::Oversight)
        .query(
            "mutation($id: ID!) { revokeGrant(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert!(revoked["errors"].is_null(), "{revoked}");
    let here = one.as_role(Role::State).run(TRACES).await;
    assert!(forbidden(&here), "revoked at once where revoked: {here}");
    let took = until(&other, bound, forbidden).await;
    assert!(
        took <= bound,
        "the revoke reached the other process in {took:?}"
    );

    if postgres {
        // The listeners lose their connections: what is granted meanwhile still arrives.
        let ended = one
            .db
            .scalar(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND query ILIKE 'listen%'",
            )
            .await;
        assert!(ended >= 2, "each process listens: {ended} listeners ended");
        let made = state_grant_for_sonora(&one).await;
        assert!(made["errors"].is_null(), "{made}");
        let took = until(&other, bound, granted).await;
        assert!(took <= bound, "after a lost listener, in {took:?}");
    }
}

#[tokio::test]
async fn a_cached_grant_starts_and_ends_at_its_own_times() {
    let (app, _) = app().await;
    let state = app.as_role(Role::State);
    // Starts in a second and a half, ends two seconds later: no change of grants in between.
    let now = Utc::now();
    let starts = now + Duration::milliseconds(1500);
    let ends = starts + Duration::seconds(2);
    let made = grant(
        &app,
        "STATE",
        Some(r#"{"recoveryState": ["MX-SON"]}"#),
        (starts.to_rfc3339(), ends.to_rfc3339()),
    )
    .await;
    assert!(made["errors"].is_null(), "{made}");
    let before = state.run(TRACES).await;
    let closed = |a: &Value| error_codes(a) == ["FORBIDDEN"] && a["data"]["traces"].is_null();
    if Utc::now() < starts {
        assert!(closed(&before), "before its start: {before}");
    }
    let window = std::time::Duration::from_secs(5);
    until(&app, window, |a| a["data"]["traces"]["totalCount"] == 1).await;
    assert!(Utc::now() >= starts, "in force only from its start");
    until(&app, window, closed).await;
    assert!(Utc::now() >= ends, "in force until its end");
}
