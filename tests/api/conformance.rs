//! Responses checked by a second GraphQL implementation. graphql-core (Python) executes each query
//! of a corpus over the schema the role is shown, with resolvers that read the hub's answer and
//! fail where the hub's errors say a field failed; its completed result (data, null propagation,
//! error paths, locations) must equal the hub's. The checker is `conformance.py` beside this
//! file; graphql-core is installed on first use into a virtual environment under `target/`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use entity::Role;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{As, spawn_app};

/// The graphql-core release the checker runs on.
const GRAPHQL_CORE: &str = "3.2.6";

const CHECKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/conformance.py");

/// The Python of a virtual environment holding graphql-core, made on first use.
pub(crate) fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("graphql-core-{GRAPHQL_CORE}"));
        let python = venv.join("bin").join("python");
        if has_graphql_core(&python) {
            return python;
        }
        let system = Command::new("python3").arg("--version").output();
        assert!(
            system.is_ok_and(|o| o.status.success()),
            "the conformance tests need python3 (3.7 or later, with the venv module) on PATH to run graphql-core; install it, e.g. `apt-get install python3 python3-venv`"
        );
        // Made beside its final place and renamed, so concurrent test runs never see half of it.
        let building = venv.with_extension(format!("building-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&building);
        run(Command::new("python3").arg("-m").arg("venv").arg(&building));
        run(Command::new(building.join("bin").join("python")).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("graphql-core=={GRAPHQL_CORE}"),
        ]));
        if std::fs::rename(&building, &venv).is_err() {
            // Another run finished first; use its environment.
            let _ = std::fs::remove_dir_all(&building);
        }
        assert!(
            has_graphql_core(&python),
            "graphql-core {GRAPHQL_CORE} is not importable from {}",
            python.display()
        );
        python
    })
}

fn has_graphql_core(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            &format!("import graphql, sys; sys.exit(graphql.__version__ != '{GRAPHQL_CORE}')"),
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The standard introspection query, as graphql-core writes it.
pub(crate) fn introspection_query() -> &'static str {
    static QUERY: OnceLock<String> = OnceLock::new();
    QUERY.get_or_init(|| {
        let output = Command::new(python())
            .arg(CHECKER)
            .arg("introspection-query")
            .output()
            .expect("checker runs");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).expect("UTF-8")
    })
}

/// One query as one role, and the hub's answer.
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) introspection: Value,
    pub(crate) query: String,
    pub(crate) variables: Value,
    /// The response as parsed here (for the corpus's own checks).
    pub(crate) response: Value,
    /// The response as the hub sent it, for the checker, which compares the order of keys too.
    pub(crate) text: String,
}

impl Case {
    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "introspection": self.introspection,
            "query": self.query,
            "variables": self.variables,
            "operationName": Value::Null,
            "response": self.text,
        })
    }
}

/// What graphql-core finds wrong with each case: `(case name, problems)` for the cases that do not
/// conform.
pub(crate) fn check(cases: &[Case]) -> Vec<(String, Vec<String>)> {
    let payload = json!({
        "full_sdl": firearms_hub::graphql::sdl(),
        "cases": cases.iter().map(Case::json).collect::<Vec<_>>(),
    });
    let mut child = Command::new(python())
        .arg(CHECKER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("checker starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(payload.to_string().as_bytes())
        .expect("payload written");
    let output = child.wait_with_output().expect("checker finishes");
    assert!(
        output.status.success(),
        "the checker failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let failures: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("checker answers JSON");
    failures
        .into_iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or_default().to_owned(),
                f["problems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| p.as_str().unwrap_or_default().to_owned())
                    .collect(),
            )
        })
        .collect()
}

/// Runs `query` as `caller` and records the case.
async fn case(
    caller: &As<'_>,
    introspection: &Value,
    name: String,
    query: &str,
    variables: Value,
) -> Case {
    let (_, text) = caller.send_text(query, variables.clone()).await;
    Case {
        name,
        introspection: introspection.clone(),
        query: query.to_owned(),
        variables,
        response: serde_json::from_str(&text).unwrap_or(Value::String(text.clone())),
        text,
    }
}

const ROLES: [Role; 5] = [
    Role::Atf,
    Role::Ice,
    Role::Cbp,
    Role::State,
    Role::Oversight,
];

/// Queries every role sends: each entity's lists, lookups and nested edges, stats, forbidden
/// fields, edges into entities the role cannot read, errors at several depths, aliases, fragments
/// and directives.
const QUERIES: &[&str] = &[
    "{ me { subject role scopes permissions { entity rows hiddenFields canWrite } } }",
    "{ traces(first: 3) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } \
       nodes { id traceNumber recoveryState recoveryDate status sourceClass purchaserName dealerLicense timeToCrimeDays \
         provenance { ownerAgency sourceSystem } firearm { id manufacturer type serialNumber \
           seizures { totalCount nodes { id caseNumber seizingAgency } } } } } }",
    "{ traces { edges { cursor node { purchaserName dealerLicense } } nodes { purchaserName } } }",
    "{ seizures(first: 5, orderBy: [{ field: SEIZED_ON, direction: DESC }]) { totalCount \
       nodes { id caseNumber seizingAgency seizedOn fiscalYear firearmCount \
         firearms { id manufacturer serialNumber traces { totalCount nodes { traceNumber purchaserName } } } } } }",
    "{ seizures { nodes { firearms { traces { nodes { id } } } } } }",
    "{ trainings { totalCount nodes { id course provider participants fundingAward { id awardNumber obligated } } } }",
    "{ fundingAwards { totalCount nodes { id awardNumber fiscalYear obligated disbursed implementingAgency } } }",
    "{ firearms(first: 5) { totalCount nodes { id manufacturer model type caliber serialNumber \
       traces { totalCount } seizures { totalCount } } } }",
    "query($id: ID!) { trace(id: $id) { id traceNumber purchaserName firearm { serialNumber } } }",
    "query($id: ID!) { seizure(id: $id) { id caseNumber firearms { id } } }",
    "query($id: ID!) { fundingAward(id: $id) { id awardNumber recipient } firearm(id: $id) { id } }",
    "{ trace(id: \"999999\") { id } seizure(id: \"999999\") { id } }",
    "{ traceStats(groupBy: [YEAR, SOURCE_CLASS]) { total suppressed \
       buckets { key { year sourceClass recoveryState } count suppressed medianTimeToCrimeDays } } }",
    "{ seizureStats(groupBy: [SEIZING_AGENCY]) { total suppressed buckets { key { seizingAgency } count firearms ammunitionRounds suppressed } } \
       trainingStats(groupBy: [PROVIDER]) { total buckets { key { provider } count suppressed } } }",
    "{ fundingStats(groupBy: [FISCAL_YEAR]) { total suppressed buckets { key { fiscalYear } count suppressed } } }",
    "{ traceCorridors(minCount: 1) { suppressed corridors { purchaseState recoveryState year count medianTimeToCrimeDays suppressed } } \
       trainingOutcomes { window outcomes { mexicanState fiscalYear trainings { count participants mexicanStates suppressed } \
         traces { before { firstYear count } after { lastYear count } suppressed } } } }",
    "{ fundingOutcomes(window: 2) { window byAward suppressed outcomes { awardNumber key { fiscalYear implementingAgency } awards \
       trainings { count etraceAccountsGranted suppressed } traces { after { count } suppressed } } } }",
    "{ me { role } traces(first: 1) { totalCount } }",
    "{ me { role } stats: traceStats(groupBy: [YEAR]) { total } seizures(first: 1) { totalCount } }",
    "query Aliased { first: traces(first: 1) { ...Page } second: traces(first: 2) { count: totalCount nodes { number: traceNumber who: purchaserName } } } \
     fragment Page on TraceConnection { totalCount nodes { ...Row ... on Trace { recoveryState } } } \
     fragment Row on Trace { id traceNumber dealerLicense }",
    "query($with: Boolean!) { seizures(first: 2) { nodes { id caseNumber @include(if: $with) seizingAgency @skip(if: $with) } } }",
    "{ traces(first: -1) { totalCount } }",
    "{ auditEvents(first: 3) { totalCount nodes { id role operation entities outcome } } }",
    "{ __typename me { __typename role } __type(name: \"Trace\") { name fields { name } } }",
    "mutation($input: SeizureInput!) { recordSeizure(input: $input) { id caseNumber seizingAgency firearms { id serialNumber } } }",
    "mutation($input: TraceInput!) { createTrace(input: $input) { id traceNumber purchaserName firearm { id } } }",
    "mutation($id: ID!) { deleteTraining(id: $id) }",
    "mutation { gone: deleteTraining(id: \"999999\") again: deleteTraining(id: \"999998\") }",
    "{ traces(filter: { serialNumber: \"---\" }) { totalCount } }",
    "{ performanceMeasures { code goal ownerAgency version metric { name unit parameters { name value } } \
       actuals { fiscalYear value numerator denominator suppressed status } asOf } \
       metricCatalogue { name unit span reads parameters { name type description } } }",
];

#[tokio::test]
async fn every_roles_responses_conform_to_its_schema_as_graphql_core_completes_them() {
    let app = spawn_app().await;
    let fixture = fixtures::load(&app.db.db).await;
    // A measure every role reads, whose values CBP may not (it reads no funding aggregates).
    let made = app
        .as_role(Role::Oversight)
        .query(
            "mutation($input: PerformanceMeasureInput!) { \
               createPerformanceMeasure(input: $input) { code } }",
            json!({ "input": {
                "code": "CF-FUNDING", "ownerAgency": "STATE", "goal": "g", "indicator": "i", "metric": "funding_disbursed_per_mille",
                "baseline": 700, "target": 900, "periodStart": "2020-10-01", "periodEnd": "2022-09-30"
            }}),
        )
        .await;
    assert!(made["errors"].is_null(), "{made}");
    let introspection_query = introspection_query();
    let mut cases = Vec::new();
    for role in ROLES {
        let tag = role.as_str();
        for (purpose, caller) in [
            ("with purpose", app.as_role(role)),
            ("without purpose", app.as_role(role).without_purpose()),
        ] {
            let introspection = caller.query_ok(introspection_query).await["data"].clone();
            for (i, query) in QUERIES.iter().enumerate() {
                let variables = if query.contains("$input: SeizureInput") {
                    json!({ "input": {
                        "caseNumber": format!("CF-{tag}-{purpose}"),
                        "seizingAgency": if role == Role::Ice { "ICE" } else { "CBP" },
                        "seizedOn": "2022-03-04", "usState": "AZ", "direction": "OUTBOUND",
                        "ammunitionRounds": 10,
                        "firearms": [{ "manufacturer": "Ruger", "type": "PISTOL", "serialNumber": format!("CF-{tag}-{}", purpose.len()) }]
                    }})
                } else if query.contains("$input: TraceInput") {
                    json!({ "input": fixtures::trace_input(&format!("CF-{tag}-{}", purpose.len()), &format!("CFT-{tag}-{}", purpose.len())) })
                } else if query.contains("$with") {
                    json!({ "with": role == Role::Atf })
                } else if query.contains("$id") {
                    let id = match i % 3 {
                        0 => fixture.trace_sonora,
                        1 => fixture.seizure_cbp,
                        _ => fixture.award_atf,
                    };
                    json!({ "id": id.to_string() })
                } else {
                    json!({})
                };
                cases.push(
                    case(
                        &caller,
                        &introspection,
                        format!("{tag} {purpose} #{i}: {query}"),
                        query,
                        variables,
                    )
                    .await,
                );
            }
        }
        // The scoped variant of ATF reads personal data.
        if role == Role::Atf {
            let caller = app.as_role_with(role, &["pii"]);
            let introspection = caller.query_ok(introspection_query).await["data"].clone();
            for (i, query) in QUERIES.iter().enumerate().filter(|(_, q)| !q.contains('$')) {
                cases.push(
                    case(
                        &caller,
                        &introspection,
                        format!("ATF pii #{i}: {query}"),
                        query,
                        json!({}),
                    )
                    .await,
                );
            }
        }
    }
    // The corpus reaches what it is meant to: forbidden fields, failures that null a parent, and
    // failures that null the whole of `data`.
    let nulled_data = cases
        .iter()
        .filter(|c| c.response["data"].is_null() && c.response["errors"][0]["path"].is_array())
        .count();
    let forbidden_fields = cases
        .iter()
        .filter(|c| {
            c.response["errors"].as_array().is_some_and(|e| {
                e.iter()
                    .any(|e| e["path"].as_array().is_some_and(|p| p.len() > 3))
            })
        })
        .count();
    assert!(
        nulled_data > 5 && forbidden_fields > 5,
        "{nulled_data} {forbidden_fields}"
    );

    let failures = check(&cases);
    assert!(
        failures.is_empty(),
        "{} of {} responses do not conform:\n{}",
        failures.len(),
        cases.len(),
        failures
            .iter()
            .map(|(name, problems)| {
                // Short enough that a CI log's tail still shows every failing case.
                let detail = problems.join("\n    ");
                let detail: String = detail.chars().take(1_500).collect();
                format!("{name}\n    {detail}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn the_checker_finds_a_missing_key_a_null_that_stops_short_and_a_zero_location() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    let ice = app.as_role(Role::Ice);
    let introspection = ice.query_ok(introspection_query()).await["data"].clone();
    // Selected in alphabetical order, the order in which the edited responses are written back.
    let query = "{ traces(first: 1) { nodes { id purchaserName } totalCount } }";
    let good = case(&ice, &introspection, "as served".into(), query, json!({})).await;
    assert_eq!(
        good.response["data"]["traces"]["nodes"][0]["purchaserName"],
        Value::Null
    );
    assert_eq!(
        good.response["errors"][0]["path"],
        json!(["traces", "nodes", 0, "purchaserName"])
    );

    let broken = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut response = good.response.clone();
        edit(&mut response);
        Case {
            name: name.to_owned(),
            introspection: introspection.clone(),
            query: query.to_owned(),
            variables: json!({}),
            text: response.to_string(),
            response,
        }
    };
    let cases = vec![
        Case {
            name: "as served".into(),
            introspection: introspection.clone(),
            query: query.to_owned(),
            variables: json!({}),
            response: good.response.clone(),
            text: good.text.clone(),
        },
        broken("missing key", &|r| {
            r["data"]["traces"]["nodes"][0]
                .as_object_mut()
                .expect("node")
                .remove("purchaserName");
        }),
        broken("node nulled in a non-null list", &|r| {
            r["data"]["traces"]["nodes"][0] = Value::Null;
        }),
        broken("null left in a non-null field", &|r| {
            r["data"]["traces"]["nodes"][0]["id"] = Value::Null;
            r["errors"][0]["path"] = json!(["traces", "nodes", 0, "id"]);
        }),
        broken("null propagated past the nullable parent", &|r| {
            r["data"] = Value::Null;
        }),
        broken("zero location", &|r| {
            r["errors"][0]["locations"] = json!([{ "line": 0, "column": 0 }]);
        }),
        broken("error without its null", &|r| {
            r["data"]["traces"]["nodes"][0]["purchaserName"] = json!("Someone");
        }),
    ];
    let failures = check(&cases);
    let failed: Vec<&str> = failures.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        failed,
        [
            "missing key",
            "node nulled in a non-null list",
            "null left in a non-null field",
            "null propagated past the nullable parent",
            "zero location",
            "error without its null"
        ],
        "{failures:?}"
    );
}
