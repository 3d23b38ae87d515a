//! The access policy is data: a file an operator edits changes what a role sees, and a policy that
//! does not decide every field of the schema stops the hub.

use entity::Role;
use firearms_hub::graphql::shape::{check_descriptors, schema_fields};
use firearms_hub::policy::{DEFAULT_POLICY, Policy};
use firearms_hub::store::catalogue;
use serde_json::json;

use crate::fixtures;
use crate::helpers::{TestDb, error_codes, spawn_app_with_policy};

#[test]
fn every_field_of_the_schema_is_described_by_its_entitys_descriptor() {
    // Adding a field to an entity type without adding it to the store's descriptor fails here.
    check_descriptors(&schema_fields()).expect("the descriptors describe every schema field");
    Policy::default_policy()
        .check_fields(&catalogue())
        .expect("the default policy hides only hideable fields");
}

#[test]
fn a_policy_hiding_an_unknown_or_unhideable_field_is_refused_by_name() {
    let unknown = DEFAULT_POLICY.replace("hidden = [\"caseNumber\"]", "hidden = [\"caseNo\"]");
    let policy = Policy::parse(&unknown).expect("parses");
    let message = format!(
        "{:#}",
        policy.check_fields(&catalogue()).expect_err("refused")
    );
    assert!(message.contains("unknown field 'caseNo'"), "{message}");

    let non_null = DEFAULT_POLICY.replace(
        "hidden = [\"caseNumber\"]",
        "hidden = [\"caseNumber\", \"seizedOn\"]",
    );
    let policy = Policy::parse(&non_null).expect("parses");
    let message = format!(
        "{:#}",
        policy.check_fields(&catalogue()).expect_err("refused")
    );
    assert!(
        message.contains("seizedOn") && message.contains("cannot be hidden"),
        "{message}"
    );

    let unknown_role = DEFAULT_POLICY.replace("[roles.CBP.trace]", "[roles.DEA.trace]");
    assert!(format!("{:#}", Policy::parse(&unknown_role).expect_err("refused")).contains("DEA"));
}

#[tokio::test]
async fn editing_the_policy_file_changes_a_roles_slice_without_code() {
    let opened = DEFAULT_POLICY.replace(
        "[roles.CBP.trace]\nrows = \"none\"\naggregates = \"suppressed\"\nhidden = [\"purchaserName\", \"dealerLicense\"]",
        "[roles.CBP.trace]\nrows = \"all\"\naggregates = \"exact\"\nhidden = [\"purchaserName\", \"dealerLicense\", \"recoveryMunicipality\"]",
    );
    assert_ne!(opened, DEFAULT_POLICY, "the edit applies");
    let app = spawn_app_with_policy(&opened).await;
    fixtures::load(&app.db.db).await;
    let cbp = app
        .as_role(Role::Cbp)
        .query(
            "{ traces { totalCount nodes { traceNumber recoveryMunicipality } } }",
            json!({}),
        )
        .await;
    assert_eq!(cbp["data"]["traces"]["totalCount"], 2, "{cbp}");
    assert!(error_codes(&cbp).iter().all(|c| c == "FORBIDDEN"));
    assert!(
        cbp["data"]["traces"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["recoveryMunicipality"].is_null())
    );
}

#[tokio::test]
async fn the_hub_refuses_to_start_with_an_invalid_policy_file() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        DEFAULT_POLICY.replace("[roles.STATE.firearm]", "[roles.STATE.firearms]"),
    )
    .expect("written");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_firearms-hub"))
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &db.url])
        .env("HUB_POLICY_FILE", &policy)
        .current_dir(dir.path())
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("policy") && stderr.contains("firearms"),
        "{stderr}"
    );
}
