//! Reading: keyset pages with opaque cursors and exact totals, filters that combine, nested edges
//! without N+1, and stats computed in the database.

use chrono::Duration;
use entity::{Agency, FirearmType, Role, SourceClass};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::fixtures::{self, date};
use crate::helpers::{As, TestApp, error_codes, spawn_app, spawn_app_counting_statements};

/// Adds `n` traces recovered on consecutive days of 2020, each with its own firearm.
async fn more_traces(app: &TestApp, n: i64) {
    for i in 0..n {
        let firearm = fixtures::firearm(
            &app.db.db,
            "Taurus",
            FirearmType::Pistol,
            &format!("TAU-{i:04}"),
            Agency::Atf,
        )
        .await;
        fixtures::trace(
            &app.db.db,
            &format!("P-{i:03}"),
            firearm,
            "MX-JAL",
            date(2020, 1, 1) + Duration::days(i),
            SourceClass::Foreign,
            None,
        )
        .await;
    }
}

fn trace_numbers(response: &Value) -> Vec<String> {
    response["data"]["traces"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges: {response}"))
        .iter()
        .map(|e| {
            e["node"]["traceNumber"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn pages_follow_cursors_in_a_stable_order_with_an_exact_total() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    more_traces(&app, 60).await;
    let atf = app.as_role(Role::Atf);
    let query = "query($after: String) { traces(first: 25, after: $after, orderBy: [{field: RECOVERY_DATE, direction: DESC}]) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { traceNumber recoveryDate } } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let response = atf.query(query, json!({ "after": after })).await;
        let conn = &response["data"]["traces"];
        assert_eq!(conn["totalCount"], 62, "{response}");
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], pages > 0);
        seen.extend(trace_numbers(&response));
        pages += 1;
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 62);
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 62, "no row twice, none skipped");
    assert_eq!(seen[0], "P-059", "newest first");
    assert_eq!(seen.last().map(String::as_str), Some("T-2"), "oldest last");
}

/// A page newest first across several recovery states is read as one index range per state,
/// merged: page after page through cursors, it holds the same rows in the same order as the plain
/// statement (`ORDER BY recovery_date DESC, id`), dates shared within and across states included.
#[tokio::test]
async fn a_page_across_several_states_follows_the_plain_order_through_its_cursors() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    let states = ["MX-CHH", "MX-JAL", "MX-SON", "MX-TAM"];
    for i in 0..47i64 {
        let firearm = fixtures::firearm(
            &app.db.db,
            "Taurus",
            FirearmType::Pistol,
            &format!("MRG-{i:04}"),
            Agency::Atf,
        )
        .await;
        // Few dates, so that many traces share one, in one state and across states.
        fixtures::trace(
            &app.db.db,
            &format!("M-{i:03}"),
            firearm,
            states[(i * 7 % 4) as usize],
            date(2019, 6, 1) + Duration::days(i % 9),
            SourceClass::Foreign,
            None,
        )
        .await;
    }
    let asked = ["MX-TAM", "MX-JAL", "MX-CHH", "MX-JAL"];
    let expected: Vec<i64> = app
        .db
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.backend(),
            "SELECT id FROM trace WHERE recovery_state IN ('MX-TAM', 'MX-JAL', 'MX-CHH') \
             AND recovery_date BETWEEN '2019-06-02' AND '2019-06-08' \
             ORDER BY recovery_date DESC, id"
                .to_owned(),
        ))
        .await
        .expect("plain statement")
        .iter()
        .map(|row| row.try_get::<i64>("", "id").expect("id"))
        .collect();
    assert!(expected.len() > 20, "{expected:?}");
    let query = "query($after: String, $states: [String!]) { traces(first: 4, after: $after, \
        filter: {recoveryState: $states, recoveredBetween: {from: \"2019-06-02\", to: \"2019-06-08\"}}, \
        orderBy: [{field: RECOVERY_DATE, direction: DESC}]) { totalCount pageInfo { hasNextPage endCursor } \
        nodes { id } } }";
    let atf = app.as_role(Role::Atf);
    let mut seen: Vec<i64> = Vec::new();
    let mut after = Value::Null;
    loop {
        let response = atf
            .query(query, json!({ "after": after, "states": asked }))
            .await;
        let conn = &response["data"]["traces"];
        assert_eq!(conn["totalCount"], expected.len(), "{response}");
        let nodes = conn["nodes"].as_array().expect("nodes");
        seen.extend(nodes.iter().map(|n| {
            n["id"]
                .as_str()
                .and_then(|id| id.parse::<i64>().ok())
                .expect("an id")
        }));
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        assert_eq!(nodes.len(), 4, "{response}");
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn page_sizes_and_cursors_are_checked() {
    let app = spawn_app().await;
    // More rows than the largest page, so the cap and the default size show in what comes back.
    more_traces(&app, 101).await;
    let atf = app.as_role(Role::Atf);
    let page = "query($n: Int) { traces(first: $n) { totalCount pageInfo { hasNextPage } nodes { traceNumber } } }";
    let size = |response: &Value| {
        response["data"]["traces"]["nodes"]
            .as_array()
            .map(Vec::len)
            .unwrap_or_else(|| panic!("no nodes: {response}"))
    };

    let largest = atf.query(page, json!({ "n": 100 })).await;
    assert!(largest["errors"].is_null(), "{largest}");
    assert_eq!(size(&largest), 100, "a page holds up to 100 rows");
    assert_eq!(largest["data"]["traces"]["totalCount"], 101);
    assert_eq!(largest["data"]["traces"]["pageInfo"]["hasNextPage"], true);

    for n in [101, 1000] {
        let over = atf.query(page, json!({ "n": n })).await;
        assert_eq!(error_codes(&over), ["BAD_USER_INPUT"], "first: {n}: {over}");
        assert_eq!(over["errors"][0]["extensions"]["field"], "first");
        assert!(over["data"].is_null(), "no rows for first: {n}: {over}");
    }

    let default = atf.run(page).await;
    assert!(default["errors"].is_null(), "{default}");
    assert_eq!(size(&default), 20, "without `first` a page holds 20 rows");
    assert_eq!(default["data"]["traces"]["pageInfo"]["hasNextPage"], true);

    let none = atf.query(page, json!({ "n": 0 })).await;
    assert!(none["errors"].is_null(), "{none}");
    assert_eq!(size(&none), 0);
    assert_eq!(none["data"]["traces"]["totalCount"], 101);

    let forged = atf
        .run("{ traces(after: \"' OR 1=1 --\") { totalCount nodes { traceNumber } } }")
        .await;
    assert_eq!(error_codes(&forged), ["BAD_USER_INPUT"], "{forged}");
    assert!(forged["data"].is_null(), "{forged}");
}

#[tokio::test]
async fn filters_combine_with_and_or_not_and_match_serials_after_normalization() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    let atf = app.as_role(Role::Atf);
    let q = |filter: Value| {
        let atf = &atf;
        async move {
            let r = atf.query("query($f: TraceFilter) { traces(filter: $f) { totalCount nodes { traceNumber } } }", json!({ "f": filter })).await;
            assert!(r["errors"].is_null(), "{r}");
            let mut n: Vec<String> = r["data"]["traces"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["traceNumber"].as_str().unwrap().to_owned())
                .collect();
            n.sort();
            n
        }
    };
    assert_eq!(
        q(json!({ "or": [{ "recoveryState": ["MX-SON"] }, { "sourceClass": ["US_IMPORTED"] }] }))
            .await,
        ["T-1", "T-2"]
    );
    assert_eq!(
        q(json!({ "not": { "recoveryState": ["MX-SON"] } })).await,
        ["T-2"]
    );
    assert_eq!(
        q(json!({ "and": [{ "year": { "min": 2019 } }, { "firearmType": ["PISTOL"] }] })).await,
        ["T-1"]
    );
    assert_eq!(q(json!({ "serialNumber": "glk00123" })).await, ["T-1"]);
    assert_eq!(
        q(json!({ "recoveredBetween": { "from": "2018-06-01", "to": "2018-06-01" } })).await,
        ["T-2"]
    );
    assert_eq!(
        q(json!({ "manufacturer": ["Robert'); DROP TABLE trace;--"] })).await,
        Vec::<String>::new()
    );
    assert_eq!(
        app.db.scalar("SELECT COUNT(*) FROM trace").await,
        2,
        "injection attempts are only values"
    );
}

/// Adds `n` guns, each recorded twice: an ATF record held by a trace recovered in Jalisco in 2020,
/// and a CBP record of the same serial held by a CBP seizure, the two joined by a link.
async fn linked_guns(app: &TestApp, n: i64) -> Vec<i64> {
    use sea_orm::{ActiveModelTrait, Set};
    let mut traces = Vec::new();
    for i in 0..n {
        let serial = format!("LNK-{i:04}");
        let atf = fixtures::firearm(
            &app.db.db,
            "Taurus",
            FirearmType::Pistol,
            &serial,
            Agency::Atf,
        )
        .await;
        let cbp = fixtures::firearm(
            &app.db.db,
            "Taurus",
            FirearmType::Pistol,
            &serial,
            Agency::Cbp,
        )
        .await;
        traces.push(
            fixtures::trace(
                &app.db.db,
                &format!("L-{i:03}"),
                atf,
                "MX-JAL",
                date(2020, 1, 1) + Duration::days(i),
                SourceClass::Foreign,
                None,
            )
            .await,
        );
        fixtures::seizure(
            &app.db.db,
            &format!("CBP-L-{i:03}"),
            Agency::Cbp,
            date(2021, 1, 1) + Duration::days(i),
            &[cbp],
        )
        .await;
        entity::firearm_link::ActiveModel {
            id: sea_orm::NotSet,
            firearm_id: Set(atf.min(cbp)),
            linked_firearm_id: Set(atf.max(cbp)),
            basis: Set(entity::LinkBasis::ExactSerialManufacturer),
            created_at: Set(chrono::Utc::now()),
        }
        .insert(&app.db.db)
        .await
        .expect("link stored");
    }
    traces
}

/// Q1: one trace by id with its firearm.
const LOOKUP: &str = "query($id: ID!) { trace(id: $id) { traceNumber recoveryDate firearm { manufacturer serialNumber } } }";
/// Q2: a page of one state's traces of one year, newest first, with firearms and `totalCount`.
const STATE_YEAR_PAGE: &str = "query($n: Int) { traces(first: $n, filter: { recoveryState: [\"MX-JAL\"], year: { min: 2020, max: 2020 } }, orderBy: [{ field: RECOVERY_DATE, direction: DESC }]) { totalCount edges { node { traceNumber firearm { manufacturer serialNumber } } } } }";
/// Q3a: firearms with their traces, and their seizures with those seizures' firearms.
const FIREARM_TREE: &str = "query($n: Int) { firearms(first: $n) { edges { node { serialNumber traces { nodes { traceNumber } } seizures { nodes { seizedOn firearms { serialNumber } } } } } } }";
/// Q3b: the newest seizures, their firearms and those firearms' traces.
const SEIZURE_TREE: &str = "query($n: Int) { seizures(first: $n, orderBy: [{ field: SEIZED_ON, direction: DESC }]) { edges { node { seizedOn firearms { serialNumber traces { nodes { traceNumber } } } } } } }";

/// Runs `query` as ATF and returns the data statements it cost (the audit append aside) and the
/// response.
async fn data_statements(
    atf: &As<'_>,
    statements: &crate::helpers::Statements,
    query: &str,
    variables: Value,
) -> (Vec<String>, Value) {
    statements.clear();
    let response = atf.query(query, variables).await;
    assert!(response["errors"].is_null(), "{response}");
    (statements.data(), response)
}

#[tokio::test]
async fn each_portal_query_costs_a_fixed_number_of_statements_whatever_its_page_size() {
    let (app, statements) = spawn_app_counting_statements().await;
    let traces = linked_guns(&app, 60).await;
    let atf = app.as_role(Role::Atf);
    // The first request reads the grants into the process's cache; the others read none.
    atf.query_ok("{ __typename }").await;
    let (first, _) = data_statements(&atf, &statements, "{ __typename }", json!({})).await;
    assert!(
        first.iter().all(|sql| !sql.contains("access_grant")),
        "grants are read from the cache: {first:#?}"
    );

    // Q1: the trace, then its firearm with the linked-firearm rule in the same statement.
    let (sql, response) = data_statements(
        &atf,
        &statements,
        LOOKUP,
        json!({ "id": traces[7].to_string() }),
    )
    .await;
    assert_eq!(
        response["data"]["trace"]["firearm"]["serialNumber"],
        "LNK-0007"
    );
    assert_eq!(sql.len(), 2, "a lookup: {sql:#?}");

    for (query, name, expected) in [
        // The page, its count, the firearms.
        (STATE_YEAR_PAGE, "traces", 3),
        // The page; the links of its records with the records across them (once for both
        // edges); the traces; the seizures with their links; those seizures' firearms with
        // their links.
        (FIREARM_TREE, "firearms", 5),
        // The page; its firearms with their links; the links of those records with the records
        // across them; their traces.
        (SEIZURE_TREE, "seizures", 4),
    ] {
        let mut costs = Vec::new();
        for n in [5, 50] {
            let (sql, response) =
                data_statements(&atf, &statements, query, json!({ "n": n })).await;
            let edges = response["data"][name]["edges"].as_array().unwrap();
            assert_eq!(edges.len(), n, "{name}: {response}");
            costs.push((n, sql.len()));
            assert_eq!(sql.len(), expected, "{name} with a page of {n}: {sql:#?}");
        }
        assert_eq!(costs[0].1, costs[1].1, "{name}: {costs:?}");
    }

    // The trees reach every level: a firearm's linked seizure and its own trace, a seizure's
    // firearm and the trace of the record linked to it.
    let (_, tree) = data_statements(&atf, &statements, FIREARM_TREE, json!({ "n": 2 })).await;
    let node = &tree["data"]["firearms"]["edges"][0]["node"];
    assert_eq!(node["traces"]["nodes"][0]["traceNumber"], "L-000", "{tree}");
    assert_eq!(
        node["seizures"]["nodes"][0]["seizedOn"], "2021-01-01",
        "{tree}"
    );
    assert_eq!(
        node["seizures"]["nodes"][0]["firearms"][0]["serialNumber"], "LNK-0000",
        "{tree}"
    );
    let (_, tree) = data_statements(&atf, &statements, SEIZURE_TREE, json!({ "n": 1 })).await;
    let node = &tree["data"]["seizures"]["edges"][0]["node"];
    assert_eq!(node["seizedOn"], "2021-03-01", "{tree}");
    assert_eq!(
        node["firearms"][0]["traces"]["nodes"][0]["traceNumber"], "L-059",
        "{tree}"
    );
}

#[tokio::test]
async fn a_connection_counts_its_rows_only_when_asked_for_its_total() {
    let (app, statements) = spawn_app_counting_statements().await;
    more_traces(&app, 30).await;
    let atf = app.as_role(Role::Atf);
    atf.query_ok("{ __typename }").await;
    let counts = |sql: &[String]| sql.iter().filter(|s| s.contains("COUNT(")).count();

    let (sql, response) = data_statements(
        &atf,
        &statements,
        "{ traces(first: 5) { pageInfo { hasNextPage } edges { node { traceNumber } } } }",
        json!({}),
    )
    .await;
    assert_eq!(response["data"]["traces"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(counts(&sql), 0, "no totalCount asked: {sql:#?}");
    assert_eq!(sql.len(), 1, "{sql:#?}");

    // Asked for through a fragment, it is counted, and exact.
    let (sql, response) = data_statements(
        &atf,
        &statements,
        "{ traces(first: 5) { ...total edges { node { traceNumber } } } } fragment total on TraceConnection { totalCount }",
        json!({}),
    )
    .await;
    assert_eq!(response["data"]["traces"]["totalCount"], 30, "{response}");
    assert_eq!(counts(&sql), 1, "{sql:#?}");
}

#[tokio::test]
async fn stats_group_in_the_database_with_true_medians_and_exact_money() {
    let app = spawn_app().await;
    let f = fixtures::load(&app.db.db).await;
    // Three more purchaser traces: time-to-crime 100, 200 and 300 days, plus T-1's 1522.
    for (i, days) in [100, 200, 300].iter().enumerate() {
        let firearm = fixtures::firearm(
            &app.db.db,
            "Colt",
            FirearmType::Rifle,
            &format!("M-{i}"),
            Agency::Atf,
        )
        .await;
        fixtures::trace(
            &app.db.db,
            &format!("M-{i}"),
            firearm,
            "MX-SON",
            date(2015, 3, 1) + Duration::days(*days),
            SourceClass::UsManufactured,
            Some("Synthetic Purchaser 9"),
        )
        .await;
    }
    let atf = app.as_role(Role::Atf);
    let stats = atf.query_ok("{ traceStats(groupBy: [RECOVERY_STATE]) { total suppressed buckets { key { recoveryState year } count medianTimeToCrimeDays } } }").await;
    assert_eq!(stats["data"]["traceStats"]["total"], 5);
    assert_eq!(
        stats["data"]["traceStats"]["buckets"],
        json!([
            { "key": { "recoveryState": "MX-SON", "year": null }, "count": 4, "medianTimeToCrimeDays": 250 },
            { "key": { "recoveryState": "MX-TAM", "year": null }, "count": 1, "medianTimeToCrimeDays": null }
        ])
    );
    let by_type = atf.run("{ traceStats(filter: {recoveryState: [\"MX-SON\"]}, groupBy: [FIREARM_TYPE, YEAR]) { buckets { key { firearmType year } count } } }").await;
    assert!(
        by_type["data"]["traceStats"]["buckets"]
            .as_array()
            .unwrap()
            .contains(&json!({ "key": { "firearmType": "RIFLE", "year": 2015 }, "count": 3 })),
        "{by_type}"
    );

    let funding = app
        .as_role(Role::State)
        .run("{ fundingStats(groupBy: [IMPLEMENTING_AGENCY]) { total obligated buckets { key { implementingAgency } obligated disbursed } } }")
        .await;
    assert_eq!(
        funding["data"]["fundingStats"]["obligated"], "1270000.50",
        "{funding}"
    );
    assert!(funding["data"]["fundingStats"]["buckets"].as_array().unwrap().contains(&json!({ "key": { "implementingAgency": "ATF" }, "obligated": "1250000.50", "disbursed": "625000.25" })));
    let _ = f;
}

#[tokio::test]
async fn on_the_demo_data_seventy_percent_of_2014_2018_traces_are_us_sourced() {
    let app = spawn_app().await;
    firearms_hub::demo::generate(
        &app.db.db,
        &firearms_hub::demo::DemoOptions {
            seed: firearms_hub::demo::DEFAULT_SEED,
            scale: 0.05,
            progress: false,
        },
    )
    .await
    .expect("demo data generated");
    for role in [Role::Atf, Role::Oversight] {
        // An aggregate-only role may filter only on dimensions it groups by, so it groups by year
        // as well and adds the years up.
        let stats = app
            .as_role(role)
            .run("{ traceStats(filter: {year: {min: 2014, max: 2018}}, groupBy: [YEAR, SOURCE_CLASS]) { buckets { key { sourceClass } count suppressed } } }")
            .await;
        assert!(stats["errors"].is_null(), "{role}: {stats}");
        let buckets = stats["data"]["traceStats"]["buckets"].as_array().unwrap();
        let count = |b: &Value| b["count"].as_i64().expect("large cells are not suppressed");
        let total: i64 = buckets.iter().map(count).sum();
        let us: i64 = buckets
            .iter()
            .filter(|b| {
                b["key"]["sourceClass"] == "US_MANUFACTURED"
                    || b["key"]["sourceClass"] == "US_IMPORTED"
            })
            .map(count)
            .sum();
        let share = us * 1000 / total;
        assert!(
            (690..=710).contains(&share),
            "{role}: {us} of {total} U.S.-sourced"
        );
    }
}

#[tokio::test]
async fn an_edge_pages_through_every_row_whatever_their_order() {
    let app = spawn_app().await;
    let firearm = fixtures::firearm(
        &app.db.db,
        "Glock",
        FirearmType::Pistol,
        "EDGE-1",
        Agency::Atf,
    )
    .await;
    for (number, year) in [("E-1", 2020), ("E-2", 2019), ("E-3", 2021)] {
        fixtures::trace(
            &app.db.db,
            number,
            firearm,
            "MX-SON",
            date(year, 1, 1),
            SourceClass::Foreign,
            None,
        )
        .await;
    }
    let atf = app.as_role(Role::Atf);
    let query = "query($id: ID!, $after: String) { firearm(id: $id) { traces(first: 1, after: $after) { pageInfo { hasNextPage endCursor } nodes { traceNumber } } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = atf
            .query(query, json!({ "id": firearm.to_string(), "after": after }))
            .await;
        let traces = &page["data"]["firearm"]["traces"];
        seen.extend(
            traces["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["traceNumber"].as_str().unwrap().to_owned()),
        );
        if traces["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = traces["pageInfo"]["endCursor"].clone();
    }
    seen.sort();
    assert_eq!(seen, ["E-1", "E-2", "E-3"]);
}

#[tokio::test]
async fn reading_own_data_reports_nothing_withheld() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    let atf = app.as_role(Role::Atf).without_purpose();
    let response = atf
        .run("{ traces { nodes { traceNumber firearm { manufacturer } } } }")
        .await;
    assert!(
        response["errors"].is_null(),
        "ATF reads its own traces and their firearms: {response}"
    );
}

#[tokio::test]
async fn a_serial_filter_that_normalizes_to_nothing_matches_nothing() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    let atf = app.as_role(Role::Atf);
    // A trace whose firearm was recovered without a serial.
    let mut input = fixtures::trace_input("T-NOSERIAL", "unused");
    input["firearm"]
        .as_object_mut()
        .expect("firearm input")
        .remove("serialNumber");
    let created = atf
        .query(
            "mutation($i: TraceInput!) { createTrace(input: $i) { traceNumber firearm { serialNumber } } }",
            json!({ "i": input }),
        )
        .await;
    assert_eq!(
        created["data"]["createTrace"]["firearm"]["serialNumber"],
        Value::Null,
        "{created}"
    );
    for empty in ["---", "  ", ""] {
        assert_eq!(
            serial_counts(&atf, empty).await,
            (Some(0), Some(0)),
            "'{empty}' matches nothing, not the firearm without a serial"
        );
    }
    let (traces, firearms) = serial_counts(&atf, "glk 00123").await;
    assert!(
        traces >= Some(1) && firearms >= Some(1),
        "a real serial still matches after normalization"
    );
}

/// The traces and the firearms a serial filter matches, as the caller reads them.
async fn serial_counts(caller: &As<'_>, serial: &str) -> (Option<i64>, Option<i64>) {
    let answer = caller
        .query(
            "query($s: String) { traces(filter: { serialNumber: $s }) { totalCount } firearms(filter: { serialNumber: $s }) { totalCount } }",
            json!({ "s": serial }),
        )
        .await;
    (
        answer["data"]["traces"]["totalCount"].as_i64(),
        answer["data"]["firearms"]["totalCount"].as_i64(),
    )
}
