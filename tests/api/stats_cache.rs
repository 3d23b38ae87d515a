//! Stats answered from canonical tables cached per data generation: every answer equals the one
//! independent SQL gives (counts, sums and exact medians, for each grouped entity, groupings of 0 to
//! 3 dimensions and filters with lists, ranges, `and`, `or`, `not`, nulls and empty lists), protected
//! answers equal those the SQL path gives, and a write through one server shows in the next answer
//! of another server on the same database.

use std::collections::HashMap;
use std::sync::Arc;

use entity::Role;
use firearms_hub::demo::{self, DemoOptions};
use sea_orm::{ConnectionTrait, QueryResult, Statement};
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{TestApp, spawn_app_with};

/// How a dimension's values are written in a filter.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Text,
    Enum,
}

struct Dim {
    /// The `groupBy` value.
    api: &'static str,
    /// The bucket key field, also the filter field.
    field: &'static str,
    /// The column in the test's own SQL.
    column: &'static str,
    kind: Kind,
    /// A field of the trace's firearm: filtered as a membership of the matching firearms.
    of_firearm: bool,
}

const fn dim(api: &'static str, field: &'static str, column: &'static str, kind: Kind) -> Dim {
    Dim {
        api,
        field,
        column,
        kind,
        of_firearm: false,
    }
}

struct Entity {
    root: &'static str,
    from: &'static str,
    dims: Vec<Dim>,
    /// Bucket field, summed column, whether it is money.
    metrics: Vec<(&'static str, &'static str, bool)>,
    /// The column whose median buckets report, as `medianTimeToCrimeDays`.
    median: Option<&'static str>,
    /// The range-filtered (integer) dimension.
    year: usize,
    /// Dimensions for list filters: two plain ones and a nullable or firearm one.
    lists: [usize; 3],
    groupings: Vec<Vec<usize>>,
}

fn entities() -> Vec<Entity> {
    use Kind::*;
    let firearm = |api, field, column, kind| Dim {
        of_firearm: true,
        ..dim(api, field, column, kind)
    };
    vec![
        Entity {
            root: "traceStats",
            from: "trace t JOIN firearm f ON f.id = t.firearm_id",
            dims: vec![
                dim("YEAR", "year", "t.recovery_year", Int),
                dim("RECOVERY_STATE", "recoveryState", "t.recovery_state", Text),
                dim("SOURCE_CLASS", "sourceClass", "t.source_class", Enum),
                dim("STATUS", "status", "t.status", Enum),
                firearm("FIREARM_TYPE", "firearmType", "f.firearm_type", Enum),
                firearm("CALIBER", "caliber", "f.caliber", Text),
                firearm("MANUFACTURER", "manufacturer", "f.manufacturer", Text),
                dim("PURCHASE_STATE", "purchaseState", "t.purchase_state", Text),
            ],
            metrics: vec![],
            median: Some("t.time_to_crime_days"),
            year: 0,
            lists: [1, 5, 7],
            groupings: vec![vec![], vec![0], vec![2, 1], vec![0, 6, 7], vec![5, 3]],
        },
        Entity {
            root: "seizureStats",
            from: "seizure s",
            dims: vec![
                dim("FISCAL_YEAR", "fiscalYear", "s.fiscal_year", Int),
                dim("SEIZING_AGENCY", "seizingAgency", "s.seizing_agency", Enum),
                dim("US_STATE", "usState", "s.us_state", Text),
                dim("PORT_OF_ENTRY", "portOfEntry", "s.port_of_entry", Text),
                dim("DIRECTION", "direction", "s.direction", Enum),
                dim("OPERATION", "operation", "s.operation", Text),
            ],
            metrics: vec![
                ("firearms", "s.firearm_count", false),
                ("ammunitionRounds", "s.ammunition_rounds", false),
            ],
            median: None,
            year: 0,
            lists: [2, 1, 5],
            groupings: vec![vec![], vec![1], vec![0, 2], vec![2, 5, 3]],
        },
        Entity {
            root: "trainingStats",
            from: "training_event e",
            dims: vec![
                dim("FISCAL_YEAR", "fiscalYear", "e.fiscal_year", Int),
                dim("COURSE", "course", "e.course", Enum),
                dim("PROVIDER", "provider", "e.provider", Enum),
                dim("MEXICAN_STATE", "mexicanState", "e.mexican_state", Text),
            ],
            metrics: vec![
                ("participants", "e.participants", false),
                ("etraceAccountsGranted", "e.etrace_accounts_granted", false),
            ],
            median: None,
            year: 0,
            lists: [1, 2, 3],
            groupings: vec![vec![], vec![3], vec![0, 1], vec![1, 2, 3]],
        },
        Entity {
            root: "fundingStats",
            from: "funding_award a",
            dims: vec![
                dim("FISCAL_YEAR", "fiscalYear", "a.fiscal_year", Int),
                dim("CATEGORY", "category", "a.category", Enum),
                dim(
                    "IMPLEMENTING_AGENCY",
                    "implementingAgency",
                    "a.implementing_agency",
                    Enum,
                ),
                dim("PROGRAM", "program", "a.program", Text),
            ],
            metrics: vec![
                ("obligated", "a.obligated_cents", true),
                ("disbursed", "a.disbursed_cents", true),
            ],
            median: None,
            year: 0,
            lists: [2, 1, 1],
            groupings: vec![vec![], vec![2], vec![0, 3], vec![1, 2, 0]],
        },
    ]
}

/// A filter as the API takes it and as the test's own SQL condition.
struct Filter {
    api: String,
    sql: String,
    /// The dimensions it constrains.
    dims: Vec<usize>,
}

fn row_value(row: &QueryResult, i: usize) -> Value {
    if let Ok(v) = row.try_get_by_index::<Option<i64>>(i) {
        return v.map_or(Value::Null, Value::from);
    }
    if let Ok(v) = row.try_get_by_index::<Option<i32>>(i) {
        return v.map_or(Value::Null, Value::from);
    }
    match row.try_get_by_index::<Option<String>>(i) {
        Ok(v) => v.map_or(Value::Null, Value::from),
        Err(e) => panic!("column {i}: {e}"),
    }
}

async fn rows(app: &TestApp, sql: &str) -> Vec<Vec<Value>> {
    let backend = app.db.backend();
    let rows = app
        .db
        .db
        .query_all_raw(Statement::from_string(backend, sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|row| {
            let width = row.column_names().len();
            (0..width).map(|i| row_value(row, i)).collect()
        })
        .collect()
}

/// The most frequent values of a dimension, most frequent first (nulls left out).
async fn common(app: &TestApp, entity: &Entity, dim: &Dim) -> Vec<Value> {
    let sql = format!(
        "SELECT {c} FROM {from} WHERE {c} IS NOT NULL GROUP BY {c} ORDER BY COUNT(*) DESC, {c}",
        c = dim.column,
        from = entity.from
    );
    rows(app, &sql)
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

fn api_list(dim: &Dim, values: &[Value]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| match (dim.kind, v) {
            (Kind::Enum, Value::String(s)) => s.clone(),
            (_, v) => v.to_string(),
        })
        .collect();
    format!("{}: [{}]", dim.field, items.join(", "))
}

fn sql_list(dim: &Dim, values: &[Value]) -> String {
    if values.is_empty() {
        return "1 = 0".to_owned();
    }
    let items: Vec<String> = values
        .iter()
        .map(|v| match v {
            Value::String(s) => format!("'{}'", s.replace('\'', "''")),
            v => v.to_string(),
        })
        .collect();
    let column = dim.column.split('.').next_back().unwrap_or(dim.column);
    if dim.of_firearm {
        format!(
            "t.firearm_id IN (SELECT id FROM firearm WHERE {column} IN ({}))",
            items.join(", ")
        )
    } else {
        format!("{} IN ({})", dim.column, items.join(", "))
    }
}

/// Filters over the entity's data: none, a list, a range, and/or/not with a nullable dimension,
/// and empty lists.
async fn filters(app: &TestApp, entity: &Entity) -> Vec<Filter> {
    let [a, b, c] = entity.lists;
    let (da, db, dc) = (&entity.dims[a], &entity.dims[b], &entity.dims[c]);
    let va = common(app, entity, da).await;
    let vb = common(app, entity, db).await;
    let vc = common(app, entity, dc).await;
    let years: Vec<i64> = common(app, entity, &entity.dims[entity.year])
        .await
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    let (lo, hi) = (
        *years.iter().min().expect("years"),
        *years.iter().max().expect("years"),
    );
    let (lo, hi) = if hi - lo >= 2 {
        (lo + 1, hi - 1)
    } else {
        (lo, lo)
    };
    let year = &entity.dims[entity.year];
    assert!(
        va.len() >= 2 && !vb.is_empty() && !vc.is_empty(),
        "{}",
        entity.root
    );
    let two = &va[..2];
    vec![
        Filter {
            api: String::new(),
            sql: "1 = 1".into(),
            dims: vec![],
        },
        Filter {
            api: api_list(da, two),
            sql: sql_list(da, two),
            dims: vec![a],
        },
        Filter {
            api: format!("{}: {{min: {lo}, max: {hi}}}", year.field),
            sql: format!("{c} >= {lo} AND {c} <= {hi}", c = year.column),
            dims: vec![entity.year],
        },
        Filter {
            api: format!(
                "or: [{{{}}}, {{{}}}], not: {{{}}}",
                api_list(da, &va[..1]),
                api_list(db, &vb[..1]),
                api_list(dc, &vc[..1])
            ),
            sql: format!(
                "(({}) OR ({})) AND NOT ({})",
                sql_list(da, &va[..1]),
                sql_list(db, &vb[..1]),
                sql_list(dc, &vc[..1])
            ),
            dims: vec![a, b, c],
        },
        Filter {
            api: format!(
                "and: [{{{}: {{min: {lo}}}}}], not: {{or: [{{{}}}, {{{}}}]}}",
                year.field,
                api_list(db, &vb[..1]),
                api_list(dc, &[])
            ),
            sql: format!(
                "{} >= {lo} AND NOT (({}) OR ({}))",
                year.column,
                sql_list(db, &vb[..1]),
                sql_list(dc, &[])
            ),
            dims: vec![entity.year, b, c],
        },
        Filter {
            api: format!("not: {{{}}}, {}", api_list(dc, &vc[..1]), api_list(da, &va)),
            sql: format!("NOT ({}) AND {}", sql_list(dc, &vc[..1]), sql_list(da, &va)),
            dims: vec![c, a],
        },
        Filter {
            api: "or: []".into(),
            sql: "1 = 0".into(),
            dims: vec![],
        },
    ]
}

fn document(entity: &Entity, grouping: &[usize], filter: &Filter) -> String {
    let group_by: Vec<&str> = grouping.iter().map(|i| entity.dims[*i].api).collect();
    let key = if grouping.is_empty() {
        String::new()
    } else {
        let fields: Vec<&str> = grouping.iter().map(|i| entity.dims[*i].field).collect();
        format!("key {{ {} }} ", fields.join(" "))
    };
    let metrics: Vec<&str> = entity.metrics.iter().map(|(f, _, _)| *f).collect();
    let median = if entity.median.is_some() {
        "medianTimeToCrimeDays"
    } else {
        ""
    };
    let filter = if filter.api.is_empty() {
        String::new()
    } else {
        format!("filter: {{{}}}, ", filter.api)
    };
    format!(
        "{{ {}({filter}groupBy: [{}]) {{ total suppressed buckets {{ {key}count suppressed {} {median} }} }} }}",
        entity.root,
        group_by.join(", "),
        metrics.join(" ")
    )
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The exact answer, from the test's own SQL: counts and sums grouped and ordered by the database,
/// medians (mean of the two middle values, rounded half up) from the values themselves.
async fn expected(app: &TestApp, entity: &Entity, grouping: &[usize], filter: &Filter) -> Value {
    let columns: Vec<&str> = grouping.iter().map(|i| entity.dims[*i].column).collect();
    let mut select: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
    select.push("COUNT(*)".into());
    for (_, column, _) in &entity.metrics {
        select.push(format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)"));
    }
    let group = if columns.is_empty() {
        String::new()
    } else {
        format!(
            " GROUP BY {} ORDER BY {}",
            columns.join(", "),
            columns.join(", ")
        )
    };
    let sql = format!(
        "SELECT {} FROM {} WHERE {}{group}",
        select.join(", "),
        entity.from,
        filter.sql
    );
    let mut medians: HashMap<Vec<Value>, Vec<i64>> = HashMap::new();
    if let Some(median) = entity.median {
        let mut select: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        select.push(format!("CAST({median} AS BIGINT)"));
        let sql = format!(
            "SELECT {} FROM {} WHERE ({}) AND {median} IS NOT NULL",
            select.join(", "),
            entity.from,
            filter.sql
        );
        for mut row in rows(app, &sql).await {
            let value = row.pop().and_then(|v| v.as_i64()).expect("a value");
            medians.entry(row).or_default().push(value);
        }
    }
    let k = grouping.len();
    let mut total = 0;
    let mut buckets = Vec::new();
    for row in rows(app, &sql).await {
        let count = row[k].as_i64().expect("count");
        total += count;
        let mut bucket = serde_json::Map::new();
        if k > 0 {
            let key: serde_json::Map<String, Value> = grouping
                .iter()
                .zip(&row)
                .map(|(i, v)| (entity.dims[*i].field.to_owned(), v.clone()))
                .collect();
            bucket.insert("key".into(), Value::Object(key));
        }
        bucket.insert("count".into(), json!(count));
        bucket.insert("suppressed".into(), json!(false));
        for (j, (field, _, is_money)) in entity.metrics.iter().enumerate() {
            let sum = row[k + 1 + j].as_i64().expect("sum");
            let value = if *is_money {
                json!(money(sum))
            } else {
                json!(sum)
            };
            bucket.insert((*field).to_owned(), value);
        }
        if entity.median.is_some() {
            let median = medians.get_mut(&row[..k]).map(|values| {
                values.sort_unstable();
                let n = values.len();
                let (lo, hi) = (values[n.div_ceil(2) - 1], values[(n + 2) / 2 - 1]);
                (lo + hi + 1).div_euclid(2)
            });
            bucket.insert("medianTimeToCrimeDays".into(), json!(median));
        }
        buckets.push(Value::Object(bucket));
    }
    json!({ "total": total, "suppressed": false, "buckets": buckets })
}

/// A second server over the same database, with a pool of its own, adjusted settings and the
/// first server's token secret.
async fn second_server(
    app: &TestApp,
    adjust: impl FnOnce(&mut firearms_hub::config::Settings),
) -> String {
    let mut settings = app.settings.clone();
    adjust(&mut settings);
    let db = firearms_hub::store::connect(&settings.database)
        .await
        .expect("second pool");
    let server = firearms_hub::server::Application::build_with(
        settings,
        db,
        Arc::new(firearms_hub::policy::Policy::default_policy()),
    )
    .expect("server binds");
    let address = format!("http://127.0.0.1:{}", server.port());
    tokio::spawn(server.run_until_stopped());
    address
}

/// Runs `query` on the server at `address` as `role` (with a purpose), expecting no errors.
async fn on(app: &TestApp, address: &str, role: Role, query: &str) -> Value {
    let token = app.as_role(role).token().to_owned();
    let response = app
        .client
        .post(format!("{address}/graphql"))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {token}"))
        .header("X-Access-Purpose", "CASE-2026-0001 test")
        .body(json!({ "query": query }).to_string())
        .send()
        .await
        .expect("request sent");
    let body: Value = response.json().await.expect("JSON body");
    assert!(body["errors"].is_null(), "{query}: {body}");
    body
}

fn unthrottled(settings: &mut firearms_hub::config::Settings) {
    settings.limits.rate_per_second = 0.0;
}

#[tokio::test]
async fn answers_from_cached_tables_equal_independent_sql_and_the_sql_path() {
    let app = spawn_app_with(unthrottled).await;
    demo::generate(
        &app.db.db,
        &DemoOptions {
            seed: 11,
            scale: 0.02,
            progress: false,
        },
    )
    .await
    .expect("demo data");
    // The same database answered in SQL alone.
    let sql_path = second_server(&app, |s| {
        unthrottled(s);
        s.cache.stats_bytes = 0;
    })
    .await;
    let mut compared = 0;
    let mut protected = 0;
    for entity in entities() {
        let all = expected(&app, &entity, &[], &filters(&app, &entity).await[0]).await;
        let everything = all["total"].as_i64().expect("total");
        assert!(everything > 0, "{} has rows", entity.root);
        for filter in filters(&app, &entity).await {
            for grouping in &entity.groupings {
                let query = document(&entity, grouping, &filter);
                let want = expected(&app, &entity, grouping, &filter).await;
                // Twice: the first answer may compute the table, the second reads it.
                for _ in 0..2 {
                    let got = app.as_role(Role::Atf).query_ok(&query).await;
                    assert_eq!(got["data"][entity.root], want, "{query}");
                }
                let total = want["total"].as_i64().expect("total");
                if filter.api.is_empty() || filter.api == "or: []" {
                    assert!(total == everything || total == 0, "{query}");
                } else {
                    assert!(
                        0 < total && total < everything,
                        "the filter selects some rows, not all: {query}"
                    );
                }
                let exact_sql = on(&app, &sql_path, Role::Atf, &query).await;
                assert_eq!(exact_sql["data"][entity.root], want, "SQL path: {query}");
                compared += 1;

                // Aggregate-only callers may filter only dimensions they group by.
                if filter.dims.iter().all(|d| grouping.contains(d)) {
                    let cached = app.as_role(Role::Oversight).query_ok(&query).await;
                    let in_sql = on(&app, &sql_path, Role::Oversight, &query).await;
                    assert_eq!(cached["data"][entity.root]["suppressed"], true, "{cached}");
                    assert_eq!(cached, in_sql, "protected answers: {query}");
                    protected += 1;
                }
            }
        }
    }
    assert!(compared >= 4 * 4 * 7, "{compared}");
    assert!(protected >= 20, "{protected}");
}

const BY_STATE: &str = "{ traceStats(groupBy: [RECOVERY_STATE]) { total buckets { key { recoveryState } count medianTimeToCrimeDays } } }";

fn count_in(answer: &Value, state: &str) -> i64 {
    answer["data"]["traceStats"]["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .find(|b| b["key"]["recoveryState"] == state)
        .map_or(0, |b| b["count"].as_i64().expect("count"))
}

#[tokio::test]
async fn a_write_through_one_server_shows_in_the_next_answer_of_another() {
    let app = spawn_app_with(unthrottled).await;
    fixtures::load(&app.db.db).await;
    let other = second_server(&app, unthrottled).await;

    let before = on(&app, &other, Role::Atf, BY_STATE).await;
    assert_eq!(
        on(&app, &other, Role::Atf, BY_STATE).await,
        before,
        "a cached answer"
    );
    assert_eq!(count_in(&before, "MX-CHH"), 0, "{before}");

    let created = app
        .as_role(Role::Atf)
        .query(
            "mutation($input: TraceInput!) { createTrace(input: $input) { id } }",
            json!({ "input": fixtures::trace_input("T-FRESH", "FRESH-1") }),
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");
    let id = created["data"]["createTrace"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let after = on(&app, &other, Role::Atf, BY_STATE).await;
    assert_eq!(count_in(&after, "MX-CHH"), 1, "{after}");
    assert_eq!(
        after["data"]["traceStats"]["total"].as_i64(),
        before["data"]["traceStats"]["total"]
            .as_i64()
            .map(|t| t + 1)
    );

    let deleted = app
        .as_role(Role::Atf)
        .query(
            "mutation($id: ID!) { deleteTrace(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert!(deleted["errors"].is_null(), "{deleted}");
    let again = on(&app, &other, Role::Atf, BY_STATE).await;
    assert_eq!(
        again, before,
        "the deleted trace is gone from the other server's answer"
    );
}

#[tokio::test]
async fn a_warm_answer_reads_only_the_generation_and_any_dimension_filter_reuses_the_table() {
    let (app, statements) = crate::helpers::spawn_app_counting_statements().await;
    fixtures::load(&app.db.db).await;
    let atf = app.as_role(Role::Atf);
    let run = |query: &'static str| {
        let atf = &atf;
        let statements = statements.clone();
        async move {
            let before = statements.data().len();
            let answer = atf.query_ok(query).await;
            (statements.data().len() - before, answer)
        }
    };
    let (cold, first) = run(BY_STATE).await;
    let (warm, second) = run(BY_STATE).await;
    assert_eq!(first, second);
    assert!(
        cold >= 1,
        "a cold answer computes its table: {cold} data statements"
    );
    assert_eq!(
        warm, 0,
        "a warm answer reads no data, only the generation: {warm} data statements"
    );
    // A filter on the grouped dimension is answered from the same table.
    let (filtered, answer) = run(
        "{ traceStats(filter: {recoveryState: [\"MX-SON\"]}, groupBy: [RECOVERY_STATE]) { total buckets { key { recoveryState } count medianTimeToCrimeDays } } }",
    )
    .await;
    assert_eq!(filtered, warm, "{answer}");
    assert_eq!(answer["data"]["traceStats"]["total"], 1, "{answer}");
    // A filter on a field that is no dimension is answered in SQL: more statements than warm.
    let (dated, answer) = run(
        "{ traceStats(filter: {recoveredBetween: {from: \"2019-01-01\"}}, groupBy: [RECOVERY_STATE]) { total buckets { key { recoveryState } count } } }",
    )
    .await;
    assert!(dated > warm, "{dated} vs {warm}");
    assert_eq!(answer["data"]["traceStats"]["total"], 1, "{answer}");
}
