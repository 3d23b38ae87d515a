//! Firearm records per agency, the links between them, references checked as reads and natural keys
//! per owning agency, tried as an attacker would: each write learns nothing about another agency's
//! records, and the migration splits the firearm rows older data shares between agencies.

use chrono::{TimeZone, Utc};
use entity::{Agency, FirearmType, Role, SourceClass, firearm, firearm_link, seizure};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, QueryFilter, Set,
};
use serde_json::{Value, json};

use crate::fixtures::{self, date};
use crate::helpers::{TestApp, TestDb, error_codes, spawn_app};

const RECORD_SEIZURE: &str = "mutation($i: SeizureInput!) { recordSeizure(input: $i) { caseNumber seizingAgency firearms { id manufacturer model type caliber serialNumber countryOfManufacture provenance { ownerAgency } links { firearm { id } } } } }";

const CREATE_TRACE: &str = "mutation($i: TraceInput!) { createTrace(input: $i) { traceNumber firearm { id manufacturer model type caliber serialNumber countryOfManufacture provenance { ownerAgency } links { firearm { id } } } } }";

fn seizure_input(case: &str, agency: &str, firearm: Value) -> Value {
    json!({
        "caseNumber": case, "seizingAgency": agency, "seizedOn": "2022-05-01", "usState": "AZ",
        "direction": "OUTBOUND", "ammunitionRounds": 0, "firearms": [firearm]
    })
}

/// A firearm as answered, without what the caller sent itself (id and serial differ by design).
fn details(firearm: &Value) -> Value {
    let mut f = firearm.clone();
    if let Some(map) = f.as_object_mut() {
        map.remove("id");
        map.remove("serialNumber");
    }
    f
}

fn id_of(value: &Value) -> i64 {
    value
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("an id: {value}"))
}

async fn stored_firearm(app: &TestApp, id: i64) -> firearm::Model {
    firearm::Entity::find_by_id(id)
        .one(&app.db.db)
        .await
        .expect("read")
        .expect("stored")
}

async fn links_between(app: &TestApp, a: i64, b: i64) -> i64 {
    app.db
        .scalar(&format!(
            "SELECT COUNT(*) FROM firearm_link WHERE (firearm_id = {a} AND linked_firearm_id = {b}) \
             OR (firearm_id = {b} AND linked_firearm_id = {a})"
        ))
        .await
}

#[tokio::test]
async fn cbp_recording_atfs_serial_gets_its_own_record_and_learns_nothing_of_atfs() {
    let app = spawn_app().await;
    let f = fixtures::load(&app.db.db).await;
    let atf_before = stored_firearm(&app, f.firearm_traced_only).await;
    let cbp = app.as_role(Role::Cbp);
    // ATF traced a Colt rifle, serial CLT-555; CBP records a Colt pistol with that serial.
    let gun =
        |serial: &str| json!({ "manufacturer": "Colt", "type": "PISTOL", "serialNumber": serial });
    let probe = cbp
        .query(
            RECORD_SEIZURE,
            json!({ "i": seizure_input("CBP-F2-1", "CBP", gun("CLT-555")) }),
        )
        .await;
    let control = cbp
        .query(
            RECORD_SEIZURE,
            json!({ "i": seizure_input("CBP-F2-2", "CBP", gun("CLT-999")) }),
        )
        .await;
    let recorded = &probe["data"]["recordSeizure"]["firearms"][0];
    assert_eq!(recorded["type"], "PISTOL", "what CBP recorded: {probe}");
    assert_eq!(recorded["serialNumber"], "CLT-555", "{probe}");
    for field in ["model", "caliber", "countryOfManufacture"] {
        assert!(recorded[field].is_null(), "ATF's {field} leaked: {probe}");
    }
    assert_eq!(recorded["provenance"]["ownerAgency"], "CBP", "{probe}");
    assert_eq!(
        recorded["links"],
        json!([]),
        "CBP follows no links: {probe}"
    );
    let id = id_of(&recorded["id"]);
    assert_ne!(id, f.firearm_traced_only, "never ATF's record: {probe}");
    // A serial nobody recorded answers exactly alike.
    assert_eq!(
        details(recorded),
        details(&control["data"]["recordSeizure"]["firearms"][0]),
        "{probe} vs {control}"
    );
    assert_eq!(error_codes(&probe), error_codes(&control));

    // ATF's record is untouched, and joined to CBP's by a link.
    assert_eq!(
        stored_firearm(&app, f.firearm_traced_only).await,
        atf_before
    );
    assert_eq!(links_between(&app, id, f.firearm_traced_only).await, 1);
    // CBP still cannot read ATF's record, nor find it by serial.
    let found = cbp
        .run("{ firearms(filter: { serialNumber: \"CLT-555\" }) { nodes { id provenance { ownerAgency } } } }")
        .await;
    assert_eq!(
        found["data"]["firearms"]["nodes"],
        json!([{ "id": id.to_string(), "provenance": { "ownerAgency": "CBP" } }]),
        "{found}"
    );
}

#[tokio::test]
async fn atf_tracing_a_seized_serial_gets_its_own_record_and_follows_the_link_only_with_a_purpose()
{
    let app = spawn_app().await;
    let f = fixtures::load(&app.db.db).await;
    let _ = f;
    // The Ruger only ICE seized.
    let ice_record = app
        .db
        .scalar("SELECT id FROM firearm WHERE serial_number = 'RGR-777'")
        .await;
    let ice_before = stored_firearm(&app, ice_record).await;
    assert_eq!(ice_before.owner_agency, Agency::Ice);
    let atf = app.as_role(Role::Atf).without_purpose();
    let trace = |number: &str, serial: &str| {
        let mut input = fixtures::trace_input(number, serial);
        input["firearm"] =
            json!({ "manufacturer": "Ruger", "type": "RIFLE", "serialNumber": serial });
        json!({ "i": input })
    };
    let probe = atf.query(CREATE_TRACE, trace("T-F2-1", "RGR-777")).await;
    let control = atf.query(CREATE_TRACE, trace("T-F2-2", "RGR-999")).await;
    let recorded = &probe["data"]["createTrace"]["firearm"];
    assert_eq!(recorded["type"], "RIFLE", "what ATF recorded: {probe}");
    for field in ["model", "caliber", "countryOfManufacture"] {
        assert!(recorded[field].is_null(), "ICE's {field} leaked: {probe}");
    }
    assert_eq!(recorded["provenance"]["ownerAgency"], "ATF", "{probe}");
    assert_eq!(recorded["links"], json!([]), "no purpose, no link: {probe}");
    let id = id_of(&recorded["id"]);
    assert_ne!(id, ice_record, "never ICE's record: {probe}");
    assert_eq!(
        details(recorded),
        details(&control["data"]["createTrace"]["firearm"]),
        "{probe} vs {control}"
    );
    assert_eq!(error_codes(&probe), error_codes(&control));
    assert_eq!(stored_firearm(&app, ice_record).await, ice_before);
    assert_eq!(links_between(&app, id, ice_record).await, 1);

    // With a stated purpose ATF's policy lets it follow the link: ICE holds the same gun, and its
    // seizure is one of this gun's.
    let with = app.as_role(Role::Atf).with_purpose("ATF case 2026-9");
    let followed = with
        .query_on(
            "query($id: ID!) { firearm(id: $id) { links { basis firearm { id model provenance { ownerAgency } } } seizures { nodes { seizingAgency } } traces { nodes { traceNumber } } } }",
            id,
        )
        .await;
    assert!(followed["errors"].is_null(), "{followed}");
    assert_eq!(
        followed["data"]["firearm"]["links"],
        json!([{ "basis": "EXACT_SERIAL_MANUFACTURER", "firearm": {
            "id": ice_record.to_string(), "model": "Model X", "provenance": { "ownerAgency": "ICE" }
        } }]),
        "{followed}"
    );
    assert_eq!(
        followed["data"]["firearm"]["seizures"]["nodes"],
        json!([{ "seizingAgency": "ICE" }]),
        "{followed}"
    );
    assert_eq!(
        followed["data"]["firearm"]["traces"]["nodes"],
        json!([{ "traceNumber": "T-F2-1" }]),
        "{followed}"
    );
}

#[tokio::test]
async fn the_readmes_question_is_answered_through_links_for_ice_and_never_for_cbp() {
    let app = spawn_app().await;
    let f = fixtures::load(&app.db.db).await;
    let ice = app
        .as_role(Role::Ice)
        .query_ok("{ traces(filter: { recoveryState: [\"MX-SON\"] }) { nodes { traceNumber firearm { seizures { totalCount nodes { caseNumber } } } } } }")
        .await;
    assert_eq!(
        ice["data"]["traces"]["nodes"][0]["firearm"]["seizures"],
        json!({ "totalCount": 1, "nodes": [{ "caseNumber": "C-1" }] }),
        "{ice}"
    );
    // CBP's record of the same gun leads to no trace, and the link is not shown.
    let cbp = app
        .as_role(Role::Cbp)
        .query_on(
            "query($id: ID!) { firearm(id: $id) { traces { totalCount } links { firearm { id } } } }",
            f.firearm_seized_by_cbp,
        )
        .await;
    assert_eq!(
        cbp["data"]["firearm"],
        json!({ "traces": { "totalCount": 0 }, "links": [] }),
        "{cbp}"
    );
}

const CREATE_TRAINING: &str = "mutation($i: TrainingInput!) { createTraining(input: $i) { reference fundingAward { awardNumber } } }";

fn training_input(reference: &str, award: &str) -> Value {
    json!({ "i": {
        "reference": reference, "course": "ETRACE", "provider": "ATF", "startDate": "2022-01-10",
        "endDate": "2022-01-12", "mexicanAgency": "FGE-SON", "mexicanState": "MX-SON",
        "participants": 12, "etraceAccountsGranted": 2, "fundingAwardNumber": award
    } })
}

fn first_message(response: &Value) -> String {
    response["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("an error: {response}"))
        .to_owned()
}

#[tokio::test]
async fn an_award_atf_cannot_read_is_unknown_exactly_like_a_missing_one() {
    let app = spawn_app().await;
    let f = fixtures::load(&app.db.db).await;
    for atf in [
        app.as_role(Role::Atf),
        app.as_role(Role::Atf).without_purpose(),
    ] {
        // A-2 is STATE's award implemented by nobody: ATF cannot read it.
        let unreadable = atf
            .query(CREATE_TRAINING, training_input("ATF-F3-1", "A-2"))
            .await;
        let missing = atf
            .query(CREATE_TRAINING, training_input("ATF-F3-1", "A-9"))
            .await;
        assert!(unreadable["data"].is_null(), "{unreadable}");
        assert!(
            first_message(&unreadable).contains("unknown funding award"),
            "{unreadable}"
        );
        assert_eq!(
            first_message(&unreadable).replace("A-2", "A-9"),
            first_message(&missing),
            "{unreadable} vs {missing}"
        );
        assert_eq!(error_codes(&unreadable), error_codes(&missing));
        assert_eq!(
            unreadable["errors"][0]["extensions"],
            missing["errors"][0]["extensions"]
        );
    }
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM training_event WHERE reference = 'ATF-F3-1'")
            .await,
        0
    );
    // An award ATF implements (and so reads, with a purpose) is referenced as before.
    let funded = app
        .as_role(Role::Atf)
        .query(CREATE_TRAINING, training_input("ATF-F3-2", "A-1"))
        .await;
    assert_eq!(
        funded["data"]["createTraining"]["fundingAward"]["awardNumber"], "A-1",
        "{funded}"
    );
    // A training keeps the award it already names when updated, read or not.
    let training = app
        .db
        .scalar("SELECT id FROM training_event WHERE reference = 'ATF-ET-1'")
        .await;
    let updated = app
        .as_role(Role::Atf)
        .without_purpose()
        .query_on(
            "mutation($id: ID!) { updateTraining(id: $id, input: { participants: 30 }, expectedVersion: 1) { participants } }",
            training,
        )
        .await;
    assert_eq!(
        updated["data"]["updateTraining"]["participants"], 30,
        "{updated}"
    );
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT funding_award_id FROM training_event WHERE id = {training}"
            ))
            .await,
        f.award_atf
    );
    // STATE can still delete the award ATF probed.
    let deleted = app
        .as_role(Role::State)
        .query(
            "mutation($id: ID!) { deleteFundingAward(id: $id) }",
            json!({ "id": f.award_none.to_string() }),
        )
        .await;
    assert!(deleted["errors"].is_null(), "{deleted}");
}

#[tokio::test]
async fn natural_keys_are_per_agency_so_creates_and_dry_runs_learn_nothing_of_other_agencies() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    let cbp = app.as_role(Role::Cbp);
    let gun = json!({ "manufacturer": "Glock", "type": "PISTOL", "serialNumber": "KEY-1" });
    // C-2 is ICE's case number; CBP's own case with that number is CBP's record.
    let dry_run = "mutation($rows: [SeizureInput!]!) { importSeizures(rows: $rows, dryRun: true) { accepted rejected errors { message } } }";
    for case in ["C-2", "CBP-NEW-1"] {
        let checked = cbp
            .query(
                dry_run,
                json!({ "rows": [seizure_input(case, "CBP", gun.clone())] }),
            )
            .await;
        assert_eq!(
            checked["data"]["importSeizures"],
            json!({ "accepted": 1, "rejected": 0, "errors": [] }),
            "{case}: {checked}"
        );
    }
    let taken = cbp
        .query(
            RECORD_SEIZURE,
            json!({ "i": seizure_input("C-2", "CBP", gun.clone()) }),
        )
        .await;
    let fresh = cbp
        .query(
            RECORD_SEIZURE,
            json!({ "i": seizure_input("CBP-NEW-1", "CBP", gun.clone()) }),
        )
        .await;
    assert_eq!(
        taken["data"]["recordSeizure"]["caseNumber"], "C-2",
        "{taken}"
    );
    assert_eq!(
        taken["data"]["recordSeizure"]["seizingAgency"], "CBP",
        "CBP's own record: {taken}"
    );
    assert_eq!(error_codes(&taken), error_codes(&fresh));
    // ICE's C-2 is unchanged.
    let ice_case = seizure::Entity::find()
        .filter(seizure::Column::CaseNumber.eq("C-2"))
        .filter(seizure::Column::OwnerAgency.eq(Agency::Ice))
        .one(&app.db.db)
        .await
        .expect("read")
        .expect("ICE's case");
    assert_eq!((ice_case.version, ice_case.us_state.as_str()), (1, "AZ"));
    // Within CBP the key is taken: a second create is a conflict, its own record unchanged.
    let again = cbp
        .query(
            RECORD_SEIZURE,
            json!({ "i": seizure_input("C-2", "CBP", gun) }),
        )
        .await;
    assert_eq!(error_codes(&again), ["CONFLICT"], "{again}");
    // STATE's training may carry ATF's reference.
    let mut training = training_input("ATF-ET-1", "A-2");
    training["i"]["provider"] = json!("STATE");
    let state = app
        .as_role(Role::State)
        .query(CREATE_TRAINING, training)
        .await;
    assert_eq!(
        state["data"]["createTraining"]["reference"], "ATF-ET-1",
        "{state}"
    );
}

#[tokio::test]
async fn deleting_the_last_holder_of_a_record_removes_it_and_its_links() {
    let app = spawn_app().await;
    let f = fixtures::load(&app.db.db).await;
    let deleted = app
        .as_role(Role::Cbp)
        .query(
            "mutation($id: ID!) { deleteSeizure(id: $id) }",
            json!({ "id": f.seizure_cbp.to_string() }),
        )
        .await;
    assert!(deleted["errors"].is_null(), "{deleted}");
    let count = |sql: String| {
        let app = &app;
        async move { app.db.scalar(&sql).await }
    };
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) FROM firearm WHERE id = {}",
            f.firearm_seized_by_cbp
        ))
        .await,
        0,
        "CBP's record of the gun goes with its only seizure"
    );
    assert_eq!(count("SELECT COUNT(*) FROM firearm_link".into()).await, 0);
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) FROM firearm WHERE id = {}",
            f.firearm_traced_and_seized
        ))
        .await,
        1,
        "ATF's record stays with its trace"
    );
}

/// A firearm row as older data held it, before records were kept per agency.
async fn old_firearm(db: &sea_orm::DatabaseConnection, serial: &str, owner: Agency) -> i64 {
    firearm::ActiveModel {
        id: NotSet,
        manufacturer: Set("Glock".into()),
        model: Set(Some("19".into())),
        firearm_type: Set(FirearmType::Pistol),
        caliber: Set(Some("9mm".into())),
        serial_number: Set(Some(serial.into())),
        serial_normalized: Set(firearm::normalize_serial(serial)),
        country_of_manufacture: Set(Some("AT".into())),
        importer: Set(None),
        owner_agency: Set(owner),
        source_system: Set("legacy".into()),
        ingested_at: Set(Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap()),
        version: Set(3),
    }
    .insert(db)
    .await
    .expect("firearm stored")
    .id
}

async fn old_trace(db: &sea_orm::DatabaseConnection, number: &str, firearm_id: i64) {
    let recovered = date(2019, 5, 1);
    fixtures::trace(
        db,
        number,
        firearm_id,
        "MX-SON",
        recovered,
        SourceClass::Undetermined,
        None,
    )
    .await;
}

async fn old_seizure(
    db: &sea_orm::DatabaseConnection,
    case: &str,
    agency: Agency,
    firearms: &[i64],
) {
    fixtures::seizure(db, case, agency, date(2020, 2, 1), firearms).await;
}

#[tokio::test]
async fn the_migration_gives_every_agency_its_own_copy_of_a_shared_firearm_and_links_them() {
    let t = TestDb::empty().await;
    // The schema as it was before firearm records were kept per agency.
    Migrator::up(&t.db, Some(11))
        .await
        .expect("older migrations");
    let db = &t.db;
    // One Glock held by ATF's trace, CBP's and ICE's seizures; a second owned by CBP but held
    // only by an ATF trace; a third owned by ICE and held by ICE alone.
    let shared = old_firearm(db, "GLK-1", Agency::Atf).await;
    let adopted = old_firearm(db, "GLK-2", Agency::Cbp).await;
    let alone = old_firearm(db, "GLK-3", Agency::Ice).await;
    old_trace(db, "T-OLD-1", shared).await;
    old_trace(db, "T-OLD-2", adopted).await;
    old_seizure(db, "C-OLD-1", Agency::Cbp, &[shared]).await;
    old_seizure(db, "C-OLD-2", Agency::Ice, &[shared, alone]).await;
    // A funded training: rebuilding tables on SQLite must not null its award.
    t.db.execute_unprepared(
        "INSERT INTO funding_award (award_number, fiscal_year, program, category, recipient, \
         obligated_cents, disbursed_cents, owner_agency, source_system, ingested_at, version) \
         VALUES ('A-OLD', 2019, 'P', 'OTHER', 'FGR', 100, 0, 'STATE', 'legacy', '2023-01-01T00:00:00Z', 1)",
    )
    .await
    .expect("award");
    t.db.execute_unprepared(
        "INSERT INTO training_event (reference, course, provider, start_date, end_date, fiscal_year, \
         mexican_agency, participants, etrace_accounts_granted, funding_award_id, owner_agency, \
         source_system, ingested_at, version) SELECT 'R-OLD', 'OTHER', 'STATE', '2022-01-10', \
         '2022-01-11', 2022, 'FGR', 5, 0, id, 'STATE', 'legacy', '2023-01-01T00:00:00Z', 1 \
         FROM funding_award WHERE award_number = 'A-OLD'",
    )
    .await
    .expect("training");

    firearms_hub::store::migrate(db).await.expect("migrates");

    // ATF keeps the shared row and its id; CBP and ICE hold copies of their own.
    assert_eq!(
        t.scalar("SELECT firearm_id FROM trace WHERE trace_number = 'T-OLD-1'")
            .await,
        shared
    );
    let cbp_copy = t
        .scalar(
            "SELECT l.firearm_id FROM seizure_firearm l JOIN seizure s ON s.id = l.seizure_id \
         WHERE s.case_number = 'C-OLD-1'",
        )
        .await;
    let ice_copy = t.scalar(
        "SELECT l.firearm_id FROM seizure_firearm l JOIN seizure s ON s.id = l.seizure_id \
         JOIN firearm f ON f.id = l.firearm_id WHERE s.case_number = 'C-OLD-2' AND f.serial_number = 'GLK-1'",
    )
    .await;
    let atf_copy = t
        .scalar("SELECT firearm_id FROM trace WHERE trace_number = 'T-OLD-2'")
        .await;
    for (copy, owner) in [(cbp_copy, Agency::Cbp), (ice_copy, Agency::Ice)] {
        let model = firearm::Entity::find_by_id(copy)
            .one(db)
            .await
            .expect("read")
            .expect("copy");
        assert_eq!(model.owner_agency, owner);
        assert_eq!(
            (
                model.model.as_deref(),
                model.caliber.as_deref(),
                model.source_system.as_str()
            ),
            (Some("19"), Some("9mm"), "legacy"),
            "the copy holds what the shared row said"
        );
    }
    let atf_model = firearm::Entity::find_by_id(atf_copy)
        .one(db)
        .await
        .expect("read")
        .expect("ATF's copy");
    assert_eq!(atf_model.owner_agency, Agency::Atf);
    assert_ne!(atf_copy, adopted);
    // Every seizure link survived the rebuild, the alone firearm stays as it was.
    assert_eq!(t.scalar("SELECT COUNT(*) FROM seizure_firearm").await, 3);
    assert_eq!(
        t.scalar(&format!(
            "SELECT COUNT(*) FROM seizure_firearm WHERE firearm_id = {alone}"
        ))
        .await,
        1
    );
    // No trace or seizure holds another agency's record any more.
    assert_eq!(
        t.scalar(
            "SELECT COUNT(*) FROM trace t JOIN firearm f ON f.id = t.firearm_id \
             WHERE f.owner_agency <> t.owner_agency"
        )
        .await,
        0
    );
    assert_eq!(
        t.scalar(
            "SELECT COUNT(*) FROM seizure_firearm l JOIN seizure s ON s.id = l.seizure_id \
             JOIN firearm f ON f.id = l.firearm_id WHERE f.owner_agency <> s.owner_agency"
        )
        .await,
        0
    );
    // The records of one gun are linked pairwise.
    let links: Vec<(i64, i64)> = firearm_link::Entity::find()
        .all(db)
        .await
        .expect("links")
        .into_iter()
        .map(|l| (l.firearm_id, l.linked_firearm_id))
        .collect();
    let mut want = vec![
        (shared, cbp_copy),
        (shared, ice_copy),
        (cbp_copy.min(ice_copy), cbp_copy.max(ice_copy)),
        (adopted.min(atf_copy), adopted.max(atf_copy)),
    ];
    want.sort_unstable();
    let mut got = links;
    got.sort_unstable();
    assert_eq!(got, want);
    // The training keeps its award.
    assert_eq!(
        t.scalar(
            "SELECT COUNT(*) FROM training_event t JOIN funding_award a ON a.id = t.funding_award_id \
             WHERE t.reference = 'R-OLD' AND a.award_number = 'A-OLD'"
        )
        .await,
        1
    );
    // Keys are unique per owning agency: CBP may now use ICE's case number, ICE not twice.
    let insert = |case: &str, agency: &str| {
        format!(
            "INSERT INTO seizure (case_number, seizing_agency, seized_on, fiscal_year, us_state, \
             direction, ammunition_rounds, firearm_count, owner_agency, source_system, ingested_at, version) \
             VALUES ('{case}', '{agency}', '2020-01-01', 2020, 'AZ', 'OUTBOUND', 0, 0, '{agency}', 'test', \
             '2024-01-01T00:00:00Z', 1)"
        )
    };
    db.execute_unprepared(&insert("C-OLD-2", "CBP"))
        .await
        .expect("another agency's key is free");
    assert!(
        db.execute_unprepared(&insert("C-OLD-2", "ICE"))
            .await
            .is_err(),
        "ICE's own key is taken"
    );
    assert!(
        firearms_hub::store::migrations_current(db)
            .await
            .expect("state")
    );
}
