//! The access policy is data: a file an operator edits changes what a role sees, and a policy that
//! does not decide every field of the schema stops the hub.

use std::time::{Duration, Instant};

use entity::Role;
use firearms_hub::graphql::shape::{check_descriptors, schema_fields};
use firearms_hub::policy::{DEFAULT_POLICY, Policy};
use firearms_hub::store::catalogue;

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
        .run("{ traces { totalCount nodes { traceNumber recoveryMunicipality } } }")
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
    let invalid = DEFAULT_POLICY.replace("[roles.STATE.firearm]", "[roles.STATE.firearms]");
    assert_ne!(invalid, DEFAULT_POLICY, "the edit applies");
    std::fs::write(&policy, invalid).expect("written");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_firearms-hub"));
    // The child reads HUB_* settings from its environment; the test's own must not leak in.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HUB_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &db.url])
        .env("HUB_POLICY_FILE", &policy)
        .env("HUB_AUTH_DEV_SECRET", crate::helpers::TEST_DEV_SECRET)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    // A hub that accepted the file would serve until stopped: give it a deadline instead.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the hub started with an invalid policy file (still running after 60 s)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr read");
    assert_eq!(status.code(), Some(1), "{status:?}: {stderr}");
    assert!(
        stderr.contains("policy") && stderr.contains("firearms"),
        "the message names the problem: {stderr}"
    );
}
