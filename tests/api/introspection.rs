//! Each role's introspection shows only what the policy lets it read and write, `firearms-hub
//! schema --role` prints the same, and a field hidden from introspection still answers `null` with
//! `FORBIDDEN` when asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use entity::Role;
use serde_json::{Value, json};

use crate::helpers::{As, error_codes, error_paths, spawn_app, spawn_app_with_policy};

const ROOTS_AND_TRACE: &str = "{ __schema { queryType { fields { name } } mutationType { fields { name } } } \
     __type(name: \"Trace\") { fields { name } } }";

/// Every type introspection lists, and the fields of each object type.
const TYPES: &str = "{ __schema { types { name kind fields { name } } } }";

/// The names in a list of `{ name }` objects; empty when the list is null (a type not shown).
fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

struct Seen {
    query: BTreeSet<String>,
    mutation: BTreeSet<String>,
    trace: BTreeSet<String>,
}

async fn seen(caller: As<'_>) -> Seen {
    let response = caller.query_ok(ROOTS_AND_TRACE).await;
    let data = &response["data"];
    Seen {
        query: names(&data["__schema"]["queryType"]["fields"]),
        mutation: names(&data["__schema"]["mutationType"]["fields"]),
        trace: names(&data["__type"]["fields"]),
    }
}

fn has(set: &BTreeSet<String>, name: &str) -> bool {
    set.contains(name)
}

#[tokio::test]
async fn each_role_sees_only_its_slice_in_introspection() {
    let app = spawn_app().await;

    let ice = seen(app.as_role(Role::Ice)).await;
    assert!(!has(&ice.trace, "purchaserName"), "{:?}", ice.trace);
    assert!(!has(&ice.trace, "dealerLicense"));
    assert!(has(&ice.trace, "recoveryState") && has(&ice.trace, "firearm"));
    assert!(has(&ice.query, "traces") && has(&ice.query, "fundingStats"));
    assert!(!has(&ice.query, "fundingAwards") && !has(&ice.query, "fundingAward"));
    assert!(has(&ice.mutation, "recordSeizure") && !has(&ice.mutation, "createTrace"));

    let atf = seen(app.as_role(Role::Atf)).await;
    assert!(!has(&atf.trace, "purchaserName"));
    assert!(has(&atf.trace, "dealerLicense"));
    let atf_pii = seen(app.as_role_with(Role::Atf, &["pii"])).await;
    assert!(has(&atf_pii.trace, "purchaserName"), "{:?}", atf_pii.trace);
    assert!(has(&atf_pii.mutation, "createTrace") && has(&atf_pii.mutation, "importTraces"));
    assert!(!has(&atf_pii.mutation, "recordSeizure"));
    assert!(!has(&atf_pii.mutation, "createFundingAward"));

    let cbp = seen(app.as_role(Role::Cbp)).await;
    assert!(has(&cbp.query, "traceStats"), "{:?}", cbp.query);
    assert!(!has(&cbp.query, "traces") && !has(&cbp.query, "trace"));
    assert!(!has(&cbp.query, "fundingAwards") && !has(&cbp.query, "fundingStats"));
    assert!(has(&cbp.query, "seizures") && has(&cbp.query, "firearms"));
    assert!(
        cbp.trace.is_empty(),
        "CBP reads no trace rows: the type is out of reach"
    );
    let cbp_types = app
        .as_role(Role::Cbp)
        .run(
            "{ firearm: __type(name: \"Firearm\") { fields { name } } \
               seizure: __type(name: \"Seizure\") { fields { name } } }",
        )
        .await;
    let firearm = names(&cbp_types["data"]["firearm"]["fields"]);
    assert!(
        has(&firearm, "seizures") && !has(&firearm, "traces"),
        "{firearm:?}"
    );
    assert!(has(
        &names(&cbp_types["data"]["seizure"]["fields"]),
        "firearms"
    ));

    let oversight = seen(app.as_role(Role::Oversight)).await;
    let writes = ["create", "update", "delete", "import", "record"];
    assert!(
        !oversight
            .mutation
            .iter()
            .filter(|m| !m.ends_with("PerformanceMeasure"))
            .any(|m| writes.iter().any(|w| m.starts_with(w))),
        "{:?}",
        oversight.mutation
    );
    // Oversight creates, changes and retires any agency's performance measures.
    assert!(has(&oversight.mutation, "createPerformanceMeasure"));
    assert!(has(&oversight.query, "auditEvents") && has(&oversight.query, "traceStats"));
    assert!(!has(&oversight.query, "trainings") && !has(&oversight.query, "firearms"));

    let state = seen(app.as_role(Role::State)).await;
    assert!(has(&state.mutation, "createFundingAward") && has(&state.mutation, "createTraining"));
    assert!(!has(&state.mutation, "createTrace") && !has(&state.mutation, "recordSeizure"));
    assert!(has(&state.query, "trainings") && has(&state.query, "fundingAwards"));
    assert!(!has(&state.query, "traces") && !has(&state.query, "seizures"));
    assert!(!has(&state.query, "firearms") && !has(&state.query, "firearm"));
    let training = app
        .as_role(Role::State)
        .run("{ __type(name: \"Training\") { fields { name } } }")
        .await;
    assert!(has(
        &names(&training["data"]["__type"]["fields"]),
        "fundingAward"
    ));
}

#[tokio::test]
async fn asking_for_what_introspection_hides_still_answers_null_and_forbidden() {
    let app = spawn_app().await;
    crate::fixtures::load(&app.db.db).await;

    let ice = app
        .as_role(Role::Ice)
        .run("{ traces { nodes { traceNumber purchaserName } } }")
        .await;
    let nodes = ice["data"]["traces"]["nodes"].as_array().expect("rows");
    assert_eq!(nodes.len(), 2, "{ice}");
    assert!(nodes.iter().all(|n| n["purchaserName"].is_null()));
    assert!(nodes.iter().all(|n| n["traceNumber"].is_string()));
    assert_eq!(
        error_paths(&ice),
        [
            "traces.nodes.0.purchaserName",
            "traces.nodes.1.purchaserName"
        ]
    );
    assert!(error_codes(&ice).iter().all(|c| c == "FORBIDDEN"), "{ice}");

    // A row query the role's introspection does not show.
    let cbp = app
        .as_role(Role::Cbp)
        .run("{ traces { totalCount } }")
        .await;
    assert!(
        cbp["data"].is_null() || cbp["data"]["traces"].is_null(),
        "{cbp}"
    );
    assert_eq!(error_codes(&cbp), ["FORBIDDEN"]);
}

#[tokio::test]
async fn hiding_a_field_in_the_policy_hides_it_from_introspection() {
    // Every field of every entity type a policy can hide, hidden from ATF.
    let fields = firearms_hub::graphql::shape::schema_fields();
    // The default policy without ATF's own `hidden` lines, which are replaced below.
    let mut section = "";
    let mut policy = String::new();
    for line in firearms_hub::policy::DEFAULT_POLICY.lines() {
        if line.starts_with('[') {
            section = line;
        }
        if !(section.starts_with("[roles.ATF.") && line.starts_with("hidden")) {
            policy.push_str(line);
            policy.push('\n');
        }
    }
    let mut nullable: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for kind in firearms_hub::policy::EntityKind::ALL {
        let hidden: Vec<String> = firearms_hub::store::fields(kind)
            .iter()
            .filter(|f| f.hideable)
            .map(|f| f.name.to_owned())
            .collect();
        let header = format!("[roles.ATF.{}]\n", kind.as_str());
        let line = format!("hidden = {}\n", json!(hidden));
        policy = policy.replace(&header, &format!("{header}{line}"));
        nullable.insert(kind.type_name(), hidden);
    }
    let app = spawn_app_with_policy(&policy).await;
    let response = app.as_role_with(Role::Atf, &["pii"]).run(TYPES).await;
    let types = object_fields(&response);
    for (type_name, hidden) in &nullable {
        assert!(
            !hidden.is_empty()
                || matches!(
                    *type_name,
                    "AuditEvent" | "Training" | "FirearmLink" | "LinkCandidate"
                )
        );
        let shown = types
            .get(*type_name)
            .unwrap_or_else(|| panic!("{type_name} is shown to ATF: {response}"));
        for field in hidden {
            assert!(
                !shown.contains(field),
                "{type_name}.{field} is hidden by the policy but shown"
            );
        }
        // Every field that may not be null is still there.
        for (field, null) in &fields[*type_name] {
            if !null {
                assert!(shown.contains(field), "{type_name}.{field} is missing");
            }
        }
    }
}

/// The object types introspection shows (but its own) and their fields.
fn object_fields(response: &Value) -> BTreeMap<String, BTreeSet<String>> {
    response["data"]["__schema"]["types"]
        .as_array()
        .unwrap_or_else(|| panic!("no types: {response}"))
        .iter()
        .filter(|t| t["kind"] == "OBJECT" && !t["name"].as_str().unwrap_or("__").starts_with("__"))
        .filter_map(|t| Some((t["name"].as_str()?.to_owned(), names(&t["fields"]))))
        .collect()
}

/// Every type introspection shows, without the introspection types and the built-in scalars,
/// which the SDL does not print.
fn type_names(response: &Value) -> BTreeSet<String> {
    names(&response["data"]["__schema"]["types"])
        .into_iter()
        .filter(|n| {
            !n.starts_with("__")
                && !["Boolean", "String", "Int", "Float", "ID"].contains(&n.as_str())
        })
        .collect()
}

/// `firearms-hub schema` with these arguments, run in an empty directory with no HUB_ settings.
fn schema_cli(args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut command = Command::new(env!("CARGO_BIN_EXE_firearms-hub"));
    command.current_dir(dir.path()).arg("schema").args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HUB_") {
            command.env_remove(name);
        }
    }
    let output = command.output().expect("the binary runs");
    assert!(
        output.status.success(),
        "schema {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 SDL")
}

/// The types an SDL defines, and the fields of each object type.
fn sdl_shape(sdl: &str) -> (BTreeSet<String>, BTreeMap<String, BTreeSet<String>>) {
    use async_graphql::parser::parse_schema;
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let document = parse_schema(sdl).unwrap_or_else(|e| panic!("the SDL parses: {e}\n{sdl}"));
    let mut all = BTreeSet::new();
    let mut objects = BTreeMap::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(t) = definition else {
            continue;
        };
        let name = t.node.name.node.to_string();
        all.insert(name.clone());
        if let TypeKind::Object(o) = &t.node.kind {
            let fields = o
                .fields
                .iter()
                .map(|f| f.node.name.node.to_string())
                .collect();
            objects.insert(name, fields);
        }
    }
    (all, objects)
}

#[tokio::test]
async fn the_cli_prints_a_roles_sdl() {
    let state = schema_cli(&["--role", "STATE"]);
    assert!(!state.contains("traces("), "{state}");
    assert!(!state.contains("createTrace"));
    assert!(state.contains("trainings("));
    assert!(state.contains("createFundingAward"));

    let full = schema_cli(&[]);
    assert_eq!(full, firearms_hub::graphql::sdl());
    assert!(full.contains("traces(") && full.contains("createTrace"));
}

#[tokio::test]
async fn the_cli_and_http_introspection_agree_for_every_role() {
    let app = spawn_app().await;
    let cases: Vec<(Role, &[&str])> = vec![
        (Role::Atf, &[]),
        (Role::Atf, &["pii"]),
        (Role::Ice, &[]),
        (Role::Cbp, &[]),
        (Role::State, &[]),
        (Role::Oversight, &[]),
    ];
    for (role, scopes) in cases {
        let mut args = vec!["--role", role.as_str()];
        for scope in scopes {
            args.extend(["--scope", scope]);
        }
        let (sdl_types, sdl_objects) = sdl_shape(&schema_cli(&args));
        let response = app.as_role_with(role, scopes).run(TYPES).await;
        let mut http_objects = object_fields(&response);
        let mut http_types = type_names(&response);
        // A root with no field left (the mutations of a role that writes nothing) is listed empty
        // by introspection; the SDL, where an empty type is not allowed, leaves it out.
        let empty: Vec<String> = http_objects
            .iter()
            .filter(|(_, fields)| fields.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        for name in &empty {
            http_objects.remove(name);
            http_types.remove(name);
        }
        let label = format!("{role:?} {scopes:?}");
        for type_name in ["Query", "Mutation", "Trace", "Seizure", "FundingAward"] {
            assert_eq!(
                sdl_objects.get(type_name),
                http_objects.get(type_name),
                "{label}: the fields of {type_name}"
            );
        }
        // Not just those: every type and every field of every object type.
        assert_eq!(sdl_types, http_types, "{label}: the types");
        assert_eq!(sdl_objects, http_objects, "{label}: the object types");
    }
}

/// The standard introspection query: graphql-js's `getIntrospectionQuery` with descriptions,
/// `specifiedByURL`, `isRepeatable`, input-value deprecation and the schema's description, as
/// graphql-core prints it (`get_introspection_query(descriptions=True, specified_by_url=True,
/// directive_is_repeatable=True, schema_description=True, input_value_deprecation=True)`), the
/// query GraphiQL, GraphQL Code Generator, Postman and Rover send. Its type references nest
/// `ofType` nine deep: 15 levels in all.
const STANDARD_INTROSPECTION: &str = include_str!("../fixtures/introspection-query.graphql");

/// The chain of kinds of a type reference, outermost first: `NON_NULL LIST NON_NULL OBJECT`.
fn type_chain(reference: &Value) -> Vec<String> {
    let mut chain = Vec::new();
    let mut at = reference;
    while let Some(kind) = at["kind"].as_str() {
        chain.push(kind.to_owned());
        at = &at["ofType"];
    }
    chain
}

#[tokio::test]
async fn the_standard_introspection_query_passes_for_every_role_and_shows_its_schema() {
    assert!(STANDARD_INTROSPECTION.contains("query IntrospectionQuery"));
    assert!(STANDARD_INTROSPECTION.contains("specifiedByURL"));
    assert!(STANDARD_INTROSPECTION.contains("isRepeatable"));
    assert!(STANDARD_INTROSPECTION.contains("args(includeDeprecated: true)"));
    let app = spawn_app().await;
    let cases: Vec<(Role, &[&str])> = vec![
        (Role::Atf, &[]),
        (Role::Atf, &["pii"]),
        (Role::Ice, &[]),
        (Role::Cbp, &[]),
        (Role::State, &[]),
        (Role::Oversight, &[]),
    ];
    for (role, scopes) in cases {
        let label = format!("{role:?} {scopes:?}");
        let (status, response) = app
            .as_role_with(role, scopes)
            .send(STANDARD_INTROSPECTION, json!({}))
            .await;
        assert_eq!(status, 200, "{label}: {response}");
        assert!(response.get("errors").is_none(), "{label}: {response}");
        let schema = &response["data"]["__schema"];
        assert_eq!(schema["queryType"]["name"], "Query", "{label}");
        assert!(
            schema["directives"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["name"] == "include")),
            "{label}"
        );

        // The documentation is the role's own: every type and field `schema --role` prints.
        let mut args = vec!["--role", role.as_str()];
        for scope in scopes {
            args.extend(["--scope", scope]);
        }
        let (sdl_types, sdl_objects) = sdl_shape(&schema_cli(&args));
        let mut http_objects = object_fields(&response);
        let mut http_types = type_names(&response);
        let empty: Vec<String> = http_objects
            .iter()
            .filter(|(_, fields)| fields.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        for name in &empty {
            http_objects.remove(name);
            http_types.remove(name);
        }
        assert_eq!(sdl_types, http_types, "{label}: the types");
        assert_eq!(sdl_objects, http_objects, "{label}: the object types");

        // Deep type references come back whole: `me: Viewer!`, and a list of non-null
        // records inside a non-null connection field.
        let query = schema["types"]
            .as_array()
            .and_then(|types| types.iter().find(|t| t["name"] == "Query"))
            .expect("the Query type");
        let field = |name: &str| {
            query["fields"]
                .as_array()
                .and_then(|fields| fields.iter().find(|f| f["name"] == name))
                .unwrap_or_else(|| panic!("{label}: Query.{name}"))
        };
        assert_eq!(type_chain(&field("me")["type"]), ["NON_NULL", "OBJECT"]);
        let viewer = schema["types"]
            .as_array()
            .and_then(|types| types.iter().find(|t| t["name"] == "Viewer"))
            .expect("the Viewer type");
        let permissions = viewer["fields"]
            .as_array()
            .and_then(|fields| fields.iter().find(|f| f["name"] == "permissions"))
            .expect("Viewer.permissions");
        assert_eq!(
            type_chain(&permissions["type"]),
            ["NON_NULL", "LIST", "NON_NULL", "OBJECT"],
            "{label}"
        );
    }

    // What the role may not read is not in its documentation.
    let (_, cbp) = app
        .as_role(Role::Cbp)
        .send(STANDARD_INTROSPECTION, json!({}))
        .await;
    let cbp_types = type_names(&cbp);
    assert!(!cbp_types.contains("Trace"), "{cbp_types:?}");
    assert!(cbp_types.contains("Seizure"));
}
