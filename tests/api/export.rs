//! `GET /export/{list}` as a client meets it: the rows of the GraphQL list, in its order, as CSV or
//! NDJSON, filtered with the list's own filter input, within the caller's slice (rows, purpose,
//! masking), refused for roles that read only aggregates, and one audit event per export with the
//! rows sent.

use std::time::Duration;

use entity::Role;
use firearms_hub::demo::{self, DemoOptions};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Map, Value, json};

use crate::fixtures;
use crate::helpers::{TestApp, spawn_app};

async fn with_fixtures() -> TestApp {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    app
}

/// A hub over the demo data at scale 0.02: about 4,000 traces, several export chunks.
async fn with_demo_data() -> TestApp {
    let app = spawn_app().await;
    demo::generate(
        &app.db.db,
        &DemoOptions {
            seed: 11,
            scale: 0.02,
            progress: false,
        },
    )
    .await
    .expect("demo data generates");
    app
}

/// What an export answered.
struct Exported {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn export(request: reqwest::RequestBuilder) -> Exported {
    let response = request.send().await.expect("export requested");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.expect("export read to its end");
    Exported {
        status,
        content_type,
        headers,
        body,
    }
}

impl Exported {
    fn ndjson(&self) -> Vec<Map<String, Value>> {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.content_type, "application/x-ndjson");
        self.body
            .lines()
            .map(|line| match serde_json::from_str(line) {
                Ok(Value::Object(row)) => row,
                other => panic!("not a JSON object per line: {line} ({other:?})"),
            })
            .collect()
    }

    /// The header row and the rows.
    fn csv(&self) -> (Vec<String>, Vec<Vec<String>>) {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.content_type, "text/csv; charset=utf-8");
        let mut reader = csv::Reader::from_reader(self.body.as_bytes());
        let header = reader
            .headers()
            .expect("a header row")
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|r| r.expect("a CSV row").iter().map(str::to_owned).collect())
            .collect();
        (header, rows)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::String(self.body.clone()))
    }
}

/// The GraphQL selection of a list's nodes for the export's columns: `provenance.ownerAgency`
/// becomes `provenance { ownerAgency }`.
fn selection(columns: &[String]) -> String {
    let plain: Vec<&str> = columns
        .iter()
        .filter(|c| !c.contains('.'))
        .map(String::as_str)
        .collect();
    let provenance: Vec<&str> = columns
        .iter()
        .filter_map(|c| c.strip_prefix("provenance."))
        .collect();
    format!(
        "{} provenance {{ {} }}",
        plain.join(" "),
        provenance.join(" ")
    )
}

/// Every row of a GraphQL list, paged with cursors, flattened as the export writes them.
async fn every_row_of_the_list(
    caller: &crate::helpers::As<'_>,
    list: &str,
    columns: &[String],
    filter: Value,
) -> Vec<Map<String, Value>> {
    let query = format!(
        "query Rows($filter: {filter_type}, $after: String) {{ {list}(filter: $filter, first: 100, \
         after: $after) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {} }} }} }}",
        selection(columns),
        filter_type = match list {
            "traces" => "TraceFilter",
            "seizures" => "SeizureFilter",
            "trainings" => "TrainingFilter",
            _ => "FundingFilter",
        }
    );
    let mut rows = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = caller
            .query(&query, json!({ "filter": filter, "after": after }))
            .await;
        let connection = &page["data"][list];
        for node in connection["nodes"].as_array().expect("nodes") {
            let mut row = Map::new();
            for column in columns {
                let value = match column.strip_prefix("provenance.") {
                    Some(field) => node["provenance"][field].clone(),
                    None => node[column].clone(),
                };
                row.insert(column.clone(), value);
            }
            rows.push(row);
        }
        if connection["pageInfo"]["hasNextPage"] != json!(true) {
            return rows;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
}

/// A JSON value as the CSV writes it.
fn as_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn every_list_exports_the_rows_of_its_graphql_list_in_both_formats_across_many_chunks() {
    let app = with_demo_data().await;
    for (role, list) in [
        (Role::Atf, "traces"),
        (Role::Ice, "traces"),
        (Role::Cbp, "seizures"),
        (Role::Atf, "trainings"),
        (Role::State, "fundingAwards"),
    ] {
        let caller = app.as_role(role);
        let ndjson = export(caller.get(&format!("/export/{list}?format=ndjson"))).await;
        let exported = ndjson.ndjson();
        assert!(!exported.is_empty(), "{role:?} {list}: no rows");
        let columns: Vec<String> = exported[0].keys().cloned().collect();
        let listed = every_row_of_the_list(&caller, list, &columns, Value::Null).await;
        assert_eq!(
            exported.len(),
            listed.len(),
            "{role:?} {list}: the export and the list have different rows"
        );
        assert!(
            exported == listed,
            "{role:?} {list}: the export differs from the GraphQL list"
        );
        if list == "traces" {
            assert!(
                exported.len() > 1000,
                "the export crosses several chunks: {} rows",
                exported.len()
            );
        }

        let csv = export(
            caller
                .get(&format!("/export/{list}"))
                .header("Accept", "text/csv"),
        )
        .await;
        let (header, rows) = csv.csv();
        let mut sorted = header.clone();
        sorted.sort();
        assert_eq!(sorted, columns, "{role:?} {list}: the CSV's columns");
        assert!(
            ndjson.body.starts_with("{\"id\":"),
            "NDJSON keys follow the type's order"
        );
        let expected: Vec<Vec<String>> = exported
            .iter()
            .map(|row| header.iter().map(|c| as_cell(&row[c])).collect())
            .collect();
        assert!(
            rows == expected,
            "{role:?} {list}: the CSV differs from the NDJSON"
        );
    }
}

#[tokio::test]
async fn an_export_takes_the_lists_filter_and_order_and_refuses_what_the_list_refuses() {
    let app = with_fixtures().await;
    let atf = app.as_role(Role::Atf);
    let filter = json!({ "recoveryState": ["MX-SON"], "sourceClass": ["US_MANUFACTURED"] });
    let path = format!(
        "/export/traces?format=ndjson&filter={}",
        urlencode(&filter.to_string())
    );
    let rows = export(atf.get(&path)).await.ndjson();
    let numbers: Vec<&Value> = rows.iter().map(|r| &r["traceNumber"]).collect();
    assert_eq!(numbers, [&json!("T-1")]);

    let order = json!([{ "field": "RECOVERY_DATE", "direction": "ASC" }]);
    let path = format!(
        "/export/traces?format=ndjson&orderBy={}",
        urlencode(&order.to_string())
    );
    let rows = export(atf.get(&path)).await.ndjson();
    let numbers: Vec<&Value> = rows.iter().map(|r| &r["traceNumber"]).collect();
    assert_eq!(numbers, [&json!("T-2"), &json!("T-1")], "oldest first");

    for (query, names) in [
        ("filter=%7B%22recoveryStat%22%3A1%7D", "recoveryStat"),
        ("filter=%7B%22status%22%3A%5B%22LOST%22%5D%7D", "LOST"),
        ("filter=not-json", "filter is not JSON"),
        ("format=xlsx", "format"),
        ("first=10", "first"),
        ("format=csv&format=ndjson", "more than once"),
        (
            "orderBy=%5B%7B%22field%22%3A%22PURCHASER%22%7D%5D",
            "orderBy",
        ),
    ] {
        let refused = export(atf.get(&format!("/export/traces?{query}"))).await;
        assert_eq!(refused.status, 400, "{query}: {}", refused.body);
        let body = refused.json();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{query}: {message}");
    }
    let unknown = export(atf.get("/export/firearms")).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
}

#[tokio::test]
async fn the_format_follows_accept_unless_the_query_names_one() {
    let app = with_fixtures().await;
    let atf = app.as_role(Role::Atf);
    let by_accept = export(
        atf.get("/export/traces")
            .header("Accept", "text/csv;q=0.5, application/x-ndjson"),
    )
    .await;
    assert_eq!(by_accept.ndjson().len(), 2);
    let query_wins = export(
        atf.get("/export/traces?format=csv")
            .header("Accept", "application/x-ndjson"),
    )
    .await;
    assert_eq!(query_wins.csv().1.len(), 2);
    assert_eq!(
        query_wins.header("content-disposition"),
        Some("attachment; filename=\"traces.csv\"")
    );
    let by_default = export(atf.get("/export/traces")).await;
    assert_eq!(by_default.csv().1.len(), 2, "CSV when nothing is asked");
    let refused = export(
        atf.get("/export/traces")
            .header("Accept", "application/json"),
    )
    .await;
    assert_eq!(refused.status, 406, "{}", refused.body);
    assert!(refused.body.contains("text/csv"), "{}", refused.body);

    let anonymous = export(app.client.get(format!("{}/export/traces", app.address))).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
}

#[tokio::test]
async fn an_export_masks_what_the_policy_hides_and_needs_a_purpose_for_other_agencies_rows() {
    let app = with_fixtures().await;
    // ICE reads traces without the purchaser or the dealer.
    let ice = app.as_role(Role::Ice);
    let traces = export(ice.get("/export/traces?format=ndjson")).await;
    assert_eq!(
        traces.header("x-withheld-fields"),
        Some("dealerLicense, purchaserName")
    );
    let rows = traces.ndjson();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row["purchaserName"], Value::Null, "{row:?}");
        assert_eq!(row["dealerLicense"], Value::Null, "{row:?}");
        assert!(row["recoveryState"].is_string(), "{row:?}");
    }
    let csv = export(ice.get("/export/traces?format=csv")).await;
    let (header, csv_rows) = csv.csv();
    let purchaser = header
        .iter()
        .position(|c| c == "purchaserName")
        .expect("the column is there");
    assert!(csv_rows.iter().all(|r| r[purchaser].is_empty()));
    assert!(!csv.body.contains("Synthetic Purchaser"));

    // ATF sees the purchaser only with the `pii` scope.
    let atf = export(app.as_role(Role::Atf).get("/export/traces?format=csv")).await;
    assert!(!atf.body.contains("Synthetic Purchaser"), "{}", atf.body);
    let atf_pii = export(
        app.as_role_with(Role::Atf, &["pii"])
            .get("/export/traces?format=csv"),
    )
    .await;
    assert!(
        atf_pii.body.contains("Synthetic Purchaser 1"),
        "{}",
        atf_pii.body
    );
    assert_eq!(atf_pii.header("x-withheld-fields"), None);

    // Without a purpose ICE gets its own seizures only, and is told why.
    let ice = app.as_role(Role::Ice).without_purpose();
    let seizures = export(ice.get("/export/seizures?format=ndjson")).await;
    assert_eq!(seizures.header("x-withheld-rows"), Some("PURPOSE_REQUIRED"));
    let rows = seizures.ndjson();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["seizingAgency"], "ICE");
    let traces = export(ice.get("/export/traces?format=ndjson")).await;
    assert!(traces.ndjson().is_empty(), "ATF's traces need a purpose");
    // With one, both seizures.
    let with_purpose = export(app.as_role(Role::Ice).get("/export/seizures?format=ndjson")).await;
    assert_eq!(with_purpose.header("x-withheld-rows"), None);
    assert_eq!(with_purpose.ndjson().len(), 2);
    // A purpose that is not one is refused.
    let bad = export(
        app.as_role(Role::Ice)
            .with_purpose("ab")
            .get("/export/seizures"),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[tokio::test]
async fn roles_that_read_only_aggregates_are_refused_an_export_naming_the_entity() {
    let app = with_fixtures().await;
    for (role, list, entity) in [
        (Role::Oversight, "traces", "trace"),
        (Role::State, "seizures", "seizure"),
        (Role::Cbp, "traces", "trace"),
        (Role::Cbp, "fundingAwards", "fundingAward"),
        (Role::Oversight, "trainings", "training"),
    ] {
        let refused = export(app.as_role(role).get(&format!("/export/{list}"))).await;
        assert_eq!(refused.status, 403, "{role:?} {list}: {}", refused.body);
        let body = refused.json();
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("may not read {entity} rows")),
            "{message}"
        );
    }
    let denied = events(&app, "export traces").await;
    assert!(
        denied
            .iter()
            .any(|e| e.outcome == "denied" && e.role == Role::Oversight),
        "{denied:?}"
    );
}

async fn events(app: &TestApp, operation: &str) -> Vec<entity::audit_event::Model> {
    entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Operation.eq(operation))
        .order_by_asc(entity::audit_event::Column::Id)
        .all(&app.db.db)
        .await
        .expect("audit events read")
}

#[tokio::test]
async fn each_export_leaves_one_audit_event_with_the_rows_it_sent() {
    let app = with_fixtures().await;
    let ice = app.as_role(Role::Ice);
    let rows = export(ice.get("/export/seizures?format=ndjson"))
        .await
        .ndjson();
    assert_eq!(rows.len(), 2);
    let recorded = events(&app, "export seizures").await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let event = &recorded[0];
    assert_eq!(event.rows_returned, 2);
    assert_eq!(event.outcome, "ok");
    assert_eq!(event.role, Role::Ice);
    assert_eq!(event.purpose.as_deref(), Some("CASE-2026-0001 test"));
    assert!(event.entities.contains("seizure"), "{event:?}");
    assert!(
        event.data_owners.contains("CBP") && event.data_owners.contains("ICE"),
        "{event:?}"
    );
}

#[tokio::test]
async fn an_export_the_client_abandons_is_audited_with_the_rows_handed_over() {
    let app = with_demo_data().await;
    let atf = app.as_role(Role::Atf);
    let total = export(atf.get("/export/traces?format=ndjson"))
        .await
        .ndjson()
        .len() as i64;
    let mut response = atf
        .get("/export/traces?format=ndjson")
        .send()
        .await
        .expect("export started");
    let first = response
        .chunk()
        .await
        .expect("a first chunk")
        .expect("the body has a chunk");
    assert!(!first.is_empty());
    drop(response);
    let mut waited = Duration::ZERO;
    let event = loop {
        let recorded = events(&app, "export traces").await;
        if recorded.len() == 2 {
            break recorded[1].clone();
        }
        assert!(
            waited < Duration::from_secs(20),
            "the abandoned export's event: {recorded:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    };
    assert!(event.rows_returned > 0, "{event:?}");
    assert!(event.rows_returned <= total, "{event:?}");
    if event.outcome == "ok" {
        // The whole body fitted the connection's buffers before the client went away.
        assert_eq!(event.rows_returned, total);
    } else {
        assert_eq!(event.outcome, "error", "{event:?}");
        assert!(event.rows_returned < total, "{event:?}");
    }
}

#[tokio::test]
async fn csv_text_a_spreadsheet_would_run_is_neutralised() {
    let app = with_fixtures().await;
    let atf = app.as_role(Role::Atf);
    // A trace whose municipality is a formula, written through the API.
    let mut trace = fixtures::trace_input("T-FORMULA", "FORMULA-1");
    trace["recoveryMunicipality"] = json!("=HYPERLINK(\"http://x\")");
    trace["dealerLicense"] = json!("@SUM(A1)");
    let created = atf
        .query(
            "mutation($input: TraceInput!) { createTrace(input: $input) { id } }",
            json!({ "input": trace }),
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");
    let filter = urlencode(&json!({ "recoveryState": ["MX-CHH"] }).to_string());
    let csv = export(atf.get(&format!("/export/traces?format=csv&filter={filter}"))).await;
    let (header, rows) = csv.csv();
    let at = |name: &str| header.iter().position(|c| c == name).expect(name);
    let row = rows
        .iter()
        .find(|r| r[at("traceNumber")] == "T-FORMULA")
        .expect("the new trace is exported");
    assert_eq!(row[at("recoveryMunicipality")], "'=HYPERLINK(\"http://x\")");
    assert_eq!(row[at("dealerLicense")], "'@SUM(A1)");
    assert_eq!(row[at("recoveryDate")], "2021-04-02", "dates are not text");
    // NDJSON is data for programs: unchanged.
    let ndjson = export(atf.get(&format!("/export/traces?format=ndjson&filter={filter}"))).await;
    assert!(
        ndjson
            .ndjson()
            .iter()
            .any(|r| r["dealerLicense"] == "@SUM(A1)")
    );
}

/// Percent-encodes a query parameter's value.
fn urlencode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
