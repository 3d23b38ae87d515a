//! The store blanks what a caller may not read before a row leaves it, on every read path, whatever
//! the resolvers above do. These tests call the store directly (no GraphQL, no HTTP) over a fresh
//! SQLite database holding one row of every owned entity with every nullable field filled.
//!
//! The policy decides which fields a caller may read; which model attribute each API field is read
//! from is stated here, in a table per entity, so a mistake in the store's own mapping is caught.

use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use entity::{
    Agency, CourseKind, Direction, Disposition, FirearmType, FundingCategory, Role, SourceClass,
    TraceStatus, firearm, funding_award as award, seizure, seizure_firearm, trace,
    training_event as training,
};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, NotSet, Set};

use super::page::PageArgs;
use super::{door, firearms, redact_url, seizures, traces, trainings};
use crate::auth::Caller;
use crate::config::DatabaseSettings;
use crate::policy::{Access, DEFAULT_POLICY, EntityKind, Grant, Policy, Rows};

#[test]
fn passwords_never_reach_messages() {
    assert_eq!(
        redact_url("postgres://hub:s3cret@db:5432/hub"),
        "postgres://hub:***@db:5432/hub"
    );
    assert_eq!(
        redact_url("postgres://postgres@127.0.0.1/x"),
        "postgres://postgres@127.0.0.1/x"
    );
    assert_eq!(redact_url("sqlite://hub.db"), "sqlite://hub.db");
}

/// How a test reads one API field off a model: `Some(text)` when filled, `None` when blank.
type Read<M> = fn(&M) -> Option<String>;

/// Every field of an entity's API type, each with the model attribute it is read from, or `None`
/// for an edge the store answers through another entity's door.
type Fields<M> = Vec<(&'static str, Option<Read<M>>)>;

fn text<T: ToString>(value: &T) -> Option<String> {
    Some(value.to_string())
}

fn opt<T: ToString>(value: &Option<T>) -> Option<String> {
    value.as_ref().map(ToString::to_string)
}

fn trace_fields() -> Fields<trace::Model> {
    vec![
        ("id", Some(|m| text(&m.id))),
        ("traceNumber", Some(|m| text(&m.trace_number))),
        ("firearm", Some(|m| text(&m.firearm_id))),
        ("requestingAgency", Some(|m| text(&m.requesting_agency))),
        ("recoveryDate", Some(|m| text(&m.recovery_date))),
        ("recoveryState", Some(|m| text(&m.recovery_state))),
        (
            "recoveryMunicipality",
            Some(|m| opt(&m.recovery_municipality)),
        ),
        ("status", Some(|m| text(&m.status))),
        ("sourceClass", Some(|m| text(&m.source_class))),
        ("purchaseState", Some(|m| opt(&m.purchase_state))),
        ("purchaseDate", Some(|m| opt(&m.purchase_date))),
        ("timeToCrimeDays", Some(|m| opt(&m.time_to_crime_days))),
        ("dealerLicense", Some(|m| opt(&m.dealer_license))),
        ("purchaserName", Some(|m| opt(&m.purchaser_name))),
        ("provenance", Some(|m| text(&m.source_system))),
        ("version", Some(|m| text(&m.version))),
    ]
}

fn seizure_fields() -> Fields<seizure::Model> {
    vec![
        ("id", Some(|m| text(&m.id))),
        // Not null in the table: the store blanks it to the empty string.
        (
            "caseNumber",
            Some(|m| Some(m.case_number.clone()).filter(|c| !c.is_empty())),
        ),
        ("seizingAgency", Some(|m| text(&m.seizing_agency))),
        ("operation", Some(|m| opt(&m.operation))),
        ("seizedOn", Some(|m| text(&m.seized_on))),
        ("fiscalYear", Some(|m| text(&m.fiscal_year))),
        ("usState", Some(|m| text(&m.us_state))),
        ("portOfEntry", Some(|m| opt(&m.port_of_entry))),
        ("direction", Some(|m| text(&m.direction))),
        ("concealmentMethod", Some(|m| opt(&m.concealment_method))),
        ("ammunitionRounds", Some(|m| text(&m.ammunition_rounds))),
        ("firearmCount", Some(|m| text(&m.firearm_count))),
        (
            "disposition",
            Some(|m| m.disposition.as_ref().and_then(text)),
        ),
        ("firearms", None),
        ("provenance", Some(|m| text(&m.source_system))),
        ("version", Some(|m| text(&m.version))),
    ]
}

fn training_fields() -> Fields<training::Model> {
    vec![
        ("id", Some(|m| text(&m.id))),
        ("reference", Some(|m| text(&m.reference))),
        ("course", Some(|m| text(&m.course))),
        ("provider", Some(|m| text(&m.provider))),
        ("startDate", Some(|m| text(&m.start_date))),
        ("endDate", Some(|m| text(&m.end_date))),
        ("fiscalYear", Some(|m| text(&m.fiscal_year))),
        ("mexicanAgency", Some(|m| text(&m.mexican_agency))),
        ("mexicanState", Some(|m| opt(&m.mexican_state))),
        ("participants", Some(|m| text(&m.participants))),
        (
            "etraceAccountsGranted",
            Some(|m| text(&m.etrace_accounts_granted)),
        ),
        ("fundingAward", Some(|m| opt(&m.funding_award_id))),
        ("provenance", Some(|m| text(&m.source_system))),
        ("version", Some(|m| text(&m.version))),
    ]
}

fn award_fields() -> Fields<award::Model> {
    vec![
        ("id", Some(|m| text(&m.id))),
        ("awardNumber", Some(|m| text(&m.award_number))),
        ("fiscalYear", Some(|m| text(&m.fiscal_year))),
        ("program", Some(|m| text(&m.program))),
        ("category", Some(|m| text(&m.category))),
        ("implementingAgency", Some(|m| opt(&m.implementing_agency))),
        ("recipient", Some(|m| text(&m.recipient))),
        ("obligated", Some(|m| text(&m.obligated_cents))),
        ("disbursed", Some(|m| text(&m.disbursed_cents))),
        ("description", Some(|m| opt(&m.description))),
        ("trainings", None),
        ("provenance", Some(|m| text(&m.source_system))),
        ("version", Some(|m| text(&m.version))),
    ]
}

fn firearm_fields() -> Fields<firearm::Model> {
    vec![
        ("id", Some(|m| text(&m.id))),
        ("manufacturer", Some(|m| text(&m.manufacturer))),
        ("model", Some(|m| opt(&m.model))),
        ("type", Some(|m| text(&m.firearm_type))),
        ("caliber", Some(|m| opt(&m.caliber))),
        ("serialNumber", Some(|m| opt(&m.serial_number))),
        (
            "countryOfManufacture",
            Some(|m| opt(&m.country_of_manufacture)),
        ),
        ("importer", Some(|m| opt(&m.importer))),
        ("provenance", None),
        ("traces", None),
        ("seizures", None),
        ("links", None),
    ]
}

const TRACE_NUMBER: &str = "T-STORE-1";
const CASE_NUMBER: &str = "C-STORE-1";
const TRAINING_REFERENCE: &str = "ATF-STORE-1";
const AWARD_NUMBER: &str = "A-STORE-1";

/// The ids of the stored rows: one of each owned entity, all linked to one another.
struct Seeded {
    /// Traced, and seized too.
    firearm_traced: i64,
    /// Seized only.
    firearm_seized: i64,
    trace: i64,
    seizure: i64,
    award: i64,
    training: i64,
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

async fn database() -> (tempfile::TempDir, DatabaseConnection) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display());
    let db = super::connect(&DatabaseSettings {
        url,
        ..DatabaseSettings::default()
    })
    .await
    .expect("sqlite opens");
    super::migrate(&db).await.expect("migrations apply");
    (dir, db)
}

async fn store_firearm(db: &DatabaseConnection, serial: &str, owner: Agency) -> i64 {
    firearm::ActiveModel {
        id: NotSet,
        manufacturer: Set("Glock".into()),
        model: Set(Some("19".into())),
        firearm_type: Set(FirearmType::Pistol),
        caliber: Set(Some("9mm".into())),
        serial_number: Set(Some(serial.into())),
        serial_normalized: Set(firearm::normalize_serial(serial)),
        country_of_manufacture: Set(Some("AT".into())),
        importer: Set(Some("Glock Inc., Smyrna GA".into())),
        owner_agency: Set(owner),
        source_system: Set("store-test".into()),
        ingested_at: Set(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
        version: Set(1),
    }
    .insert(db)
    .await
    .expect("firearm stored")
    .id
}

/// Stores one row of every owned entity with every nullable field filled.
async fn seed(db: &DatabaseConnection) -> Seeded {
    let ingested = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let firearm_traced = store_firearm(db, "GLK-00123", Agency::Atf).await;
    let firearm_seized = store_firearm(db, "GLK-00456", Agency::Cbp).await;
    let trace = trace::ActiveModel {
        id: NotSet,
        trace_number: Set(TRACE_NUMBER.into()),
        firearm_id: Set(firearm_traced),
        requesting_agency: Set("FGR".into()),
        recovery_date: Set(date(2019, 5, 1)),
        recovery_year: Set(2019),
        recovery_state: Set("MX-SON".into()),
        recovery_municipality: Set(Some("Nogales".into())),
        status: Set(TraceStatus::Completed),
        source_class: Set(SourceClass::UsImported),
        purchase_state: Set(Some("AZ".into())),
        purchase_date: Set(Some(date(2015, 3, 1))),
        time_to_crime_days: Set(Some(1522)),
        dealer_license: Set(Some("9-99-999-01-0A-00001".into())),
        purchaser_name: Set(Some("Synthetic Purchaser 1".into())),
        owner_agency: Set(Agency::Atf),
        source_system: Set("store-test".into()),
        ingested_at: Set(ingested),
        version: Set(1),
    }
    .insert(db)
    .await
    .expect("trace stored")
    .id;
    let seizure = seizure::ActiveModel {
        id: NotSet,
        case_number: Set(CASE_NUMBER.into()),
        seizing_agency: Set(Agency::Cbp),
        operation: Set(Some("Southbound".into())),
        seized_on: Set(date(2020, 2, 1)),
        fiscal_year: Set(2020),
        us_state: Set("AZ".into()),
        port_of_entry: Set(Some("Nogales".into())),
        direction: Set(Direction::Outbound),
        concealment_method: Set(Some("spare tire".into())),
        ammunition_rounds: Set(250),
        firearm_count: Set(2),
        disposition: Set(Some(Disposition::RetainedAsEvidence)),
        owner_agency: Set(Agency::Cbp),
        source_system: Set("store-test".into()),
        ingested_at: Set(ingested),
        version: Set(1),
    }
    .insert(db)
    .await
    .expect("seizure stored")
    .id;
    for firearm_id in [firearm_traced, firearm_seized] {
        seizure_firearm::ActiveModel {
            seizure_id: Set(seizure),
            firearm_id: Set(firearm_id),
        }
        .insert(db)
        .await
        .expect("seizure link stored");
    }
    let award = award::ActiveModel {
        id: NotSet,
        award_number: Set(AWARD_NUMBER.into()),
        fiscal_year: Set(2019),
        program: Set("Firearms Trafficking Capacity".into()),
        category: Set(FundingCategory::ForensicsTraining),
        implementing_agency: Set(Some(Agency::Atf)),
        recipient: Set("FGR".into()),
        obligated_cents: Set(125_000_050),
        disbursed_cents: Set(62_500_025),
        description: Set(Some("forensics laboratories".into())),
        owner_agency: Set(Agency::State),
        source_system: Set("store-test".into()),
        ingested_at: Set(ingested),
        version: Set(1),
    }
    .insert(db)
    .await
    .expect("award stored")
    .id;
    let training = training::ActiveModel {
        id: NotSet,
        reference: Set(TRAINING_REFERENCE.into()),
        course: Set(CourseKind::Etrace),
        provider: Set(Agency::Atf),
        start_date: Set(date(2021, 11, 8)),
        end_date: Set(date(2021, 11, 10)),
        fiscal_year: Set(2022),
        mexican_agency: Set("FGE-SON".into()),
        mexican_state: Set(Some("MX-SON".into())),
        participants: Set(25),
        etrace_accounts_granted: Set(10),
        funding_award_id: Set(Some(award)),
        owner_agency: Set(Agency::Atf),
        source_system: Set("store-test".into()),
        ingested_at: Set(ingested),
        version: Set(1),
    }
    .insert(db)
    .await
    .expect("training stored")
    .id;
    Seeded {
        firearm_traced,
        firearm_seized,
        trace,
        seizure,
        award,
        training,
    }
}

const PURPOSE: &str = "CASE-2026-0001 store test";

/// The owned entities a grant can open.
const GRANTABLE: [EntityKind; 4] = [
    EntityKind::Trace,
    EntityKind::Seizure,
    EntityKind::Training,
    EntityKind::FundingAward,
];

/// A caller of `role` with `scopes`, stating a purpose, and granted every row of each owned entity
/// its role reads no rows of, so every row is readable and only fields can be withheld.
fn caller(policy: &Arc<Policy>, role: Role, scopes: &[&str]) -> Access {
    let access = Access::new(
        Caller {
            subject: format!("store-test-{}", role.as_str().to_ascii_lowercase()),
            role,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        },
        policy.clone(),
    );
    let grants = GRANTABLE
        .into_iter()
        .filter(|kind| policy.rule(role, *kind).rows == Rows::None)
        .zip(1..)
        .map(|(entity, id)| Grant {
            id,
            entity,
            rows: None,
        })
        .collect();
    access
        .with_grants(grants)
        .with_purpose(Some(PURPOSE.to_owned()))
}

/// Whether the policy withholds `field` of `kind` from `role` holding `scopes`: hidden, or gated by
/// a scope the caller lacks. Read from the policy's data, not from `Access`.
fn withheld(policy: &Policy, role: Role, scopes: &[&str], kind: EntityKind, field: &str) -> bool {
    let rule = policy.rule(role, kind);
    rule.hidden.iter().any(|f| f == field)
        || rule
            .scoped
            .get(field)
            .is_some_and(|scope| !scopes.contains(&scope.as_str()))
}

fn every_row() -> PageArgs {
    PageArgs {
        first: Some(100),
        ..PageArgs::default()
    }
}

/// What each read path returned of one seeded row: the path's name and the copies it returned.
type Reads<M> = Vec<(&'static str, Vec<M>)>;

/// Reads the page of every row and the row `id` through the entity's door: the read paths every
/// entity shares. `what` names the entity in a failure.
async fn door_reads<E>(
    db: &DatabaseConnection,
    access: &Access,
    what: &str,
    id: i64,
) -> Reads<E::Model>
where
    E: door::Owned,
    E::Model: Sync,
{
    let page = door::list::<E, _>(db, access, None, &[], &every_row()).await;
    let found = door::get::<E, _>(db, access, id).await;
    vec![
        (
            "door::list",
            page.unwrap_or_else(|e| panic!("{what} page: {e:?}"))
                .rows
                .into_iter()
                .map(|(_, m)| m)
                .collect(),
        ),
        (
            "door::get",
            found
                .unwrap_or_else(|e| panic!("{what} lookup: {e:?}"))
                .into_iter()
                .collect(),
        ),
    ]
}

/// Reads the row whose natural key is `key`, as the read path `path`.
async fn key_read<E: door::Owned>(
    db: &DatabaseConnection,
    access: &Access,
    path: &'static str,
    key: &str,
) -> (&'static str, Vec<E::Model>) {
    let keyed = door::by_key::<E, _>(db, access, key).await;
    let rows = keyed.unwrap_or_else(|e| panic!("{path}: {e:?}"));
    (path, rows.into_iter().collect())
}

/// The rows an edge returned, as the read path `path`.
fn edge_read<M>(
    path: &'static str,
    edge: crate::error::Result<std::collections::HashMap<i64, Vec<M>>>,
) -> (&'static str, Vec<M>) {
    let rows = edge.unwrap_or_else(|e| panic!("{path}: {e:?}"));
    (path, rows.into_values().flatten().collect())
}

// One helper per entity reads its seeded row through every read path of the store.

async fn read_trace(db: &DatabaseConnection, access: &Access, s: &Seeded) -> Reads<trace::Model> {
    let mut reads = door_reads::<trace::Entity>(db, access, "trace", s.trace).await;
    let edge = traces::by_firearms(db, access, &[s.firearm_traced]).await;
    reads.push(edge_read("traces::by_firearms", edge));
    reads.push(key_read::<trace::Entity>(db, access, "door::by_key (trace)", TRACE_NUMBER).await);
    reads
}

async fn read_seizure(
    db: &DatabaseConnection,
    access: &Access,
    s: &Seeded,
) -> Reads<seizure::Model> {
    let mut reads = door_reads::<seizure::Entity>(db, access, "seizure", s.seizure).await;
    let edge = seizures::by_firearms(db, access, &[s.firearm_seized]).await;
    reads.push(edge_read("seizures::by_firearms", edge));
    reads
        .push(key_read::<seizure::Entity>(db, access, "door::by_key (seizure)", CASE_NUMBER).await);
    reads
}

async fn read_training(
    db: &DatabaseConnection,
    access: &Access,
    s: &Seeded,
) -> Reads<training::Model> {
    let mut reads = door_reads::<training::Entity>(db, access, "training", s.training).await;
    let edge = trainings::by_funding_awards(db, access, &[s.award]).await;
    reads.push(edge_read("trainings::by_funding_awards", edge));
    let path = "door::by_key (training)";
    reads.push(key_read::<training::Entity>(db, access, path, TRAINING_REFERENCE).await);
    reads
}

async fn read_award(db: &DatabaseConnection, access: &Access, s: &Seeded) -> Reads<award::Model> {
    let mut reads = door_reads::<award::Entity>(db, access, "award", s.award).await;
    let edge = door::by_ids::<award::Entity, _>(db, access, &[s.award]).await;
    let edge = edge.expect("training → award");
    reads.push(("door::by_ids (award)", edge.into_values().collect()));
    reads.push(key_read::<award::Entity>(db, access, "door::by_key (award)", AWARD_NUMBER).await);
    reads
}

/// The firearm that is both traced and seized, through every path that reads firearms.
async fn read_firearm(
    db: &DatabaseConnection,
    access: &Access,
    s: &Seeded,
) -> Reads<firearm::Model> {
    let mut reads = door_reads::<firearm::Entity>(db, access, "firearm", s.firearm_traced).await;
    let edge = door::by_ids::<firearm::Entity, _>(db, access, &[s.firearm_traced]).await;
    let edge = edge.expect("trace → firearm");
    reads.push(("door::by_ids (firearm)", edge.into_values().collect()));
    let seized = firearms::by_seizures(db, access, &[s.seizure]).await;
    reads.push(edge_read("firearms::by_seizures", seized));
    reads
        .into_iter()
        .map(|(path, rows)| {
            let rows = rows.into_iter().filter(|m| m.id == s.firearm_traced);
            (path, rows.collect())
        })
        .collect()
}

/// A role holding some scopes, checking what the store returns it against the policy.
struct Check<'a> {
    policy: &'a Policy,
    role: Role,
    scopes: &'a [&'a str],
    seen: &'a mut Seen,
}

impl Check<'_> {
    /// Checks the copies of one row, read through every path, against the stored row: every
    /// field the policy withholds is blank, every other is as stored.
    fn row<M: std::fmt::Debug>(
        &mut self,
        kind: EntityKind,
        fields: &Fields<M>,
        stored: &M,
        reads: &Reads<M>,
    ) {
        let (role, scopes) = (self.role, self.scopes);
        let mut listed: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
        // The descriptors name exactly the API type's fields (`graphql::shape` checks that).
        let described = super::fields(kind);
        let mut decided: Vec<&str> = described.iter().map(|f| f.name).collect();
        listed.sort_unstable();
        decided.sort_unstable();
        assert_eq!(
            listed, decided,
            "the test's table of {kind} fields must list exactly the fields of {kind}"
        );
        for (path, rows) in reads {
            assert_eq!(
                rows.len(),
                1,
                "{role} {scopes:?} must read the seeded {kind} through {path}"
            );
        }
        for (field, attribute) in fields {
            let Some(attribute) = attribute else { continue };
            let value = attribute(stored);
            assert!(
                value.is_some(),
                "the seeded {kind} must fill {field}: {stored:?}"
            );
            let blank = withheld(self.policy, role, scopes, kind, field);
            for (path, model) in reads
                .iter()
                .flat_map(|(p, rows)| rows.iter().map(move |m| (p, m)))
            {
                let context = format!("{role} {scopes:?} {kind}.{field} via {path}");
                if blank {
                    assert_eq!(attribute(model), None, "{context} must come back blank");
                    self.seen.blanked.push(context);
                } else {
                    assert_eq!(
                        attribute(model),
                        value,
                        "{context} must come back as stored"
                    );
                    self.seen.filled += 1;
                }
            }
        }
    }
}

/// What the checks saw, for the assertions that they were not vacuous.
#[derive(Default)]
struct Seen {
    /// "ROLE scopes entity.field via path", for every field that came back blank as required.
    blanked: Vec<String>,
    /// How many fields came back as stored.
    filled: usize,
}

/// Reads every seeded row as every role, without and with each scope the policy gates a field on,
/// and checks each field through each read path.
async fn check_every_role(db: &DatabaseConnection, policy: Policy, s: &Seeded) -> Seen {
    let policy = Arc::new(policy);
    let stored_trace = trace::Entity::find_by_id(s.trace).one(db).await;
    let stored_trace = stored_trace.expect("read").expect("stored");
    let stored_seizure = seizure::Entity::find_by_id(s.seizure).one(db).await;
    let stored_seizure = stored_seizure.expect("read").expect("stored");
    let stored_training = training::Entity::find_by_id(s.training).one(db).await;
    let stored_training = stored_training.expect("read").expect("stored");
    let stored_award = award::Entity::find_by_id(s.award).one(db).await;
    let stored_award = stored_award.expect("read").expect("stored");
    let stored_firearm = firearm::Entity::find_by_id(s.firearm_traced).one(db).await;
    let stored_firearm = stored_firearm.expect("read").expect("stored");

    let mut scope_sets: Vec<Vec<&str>> = vec![Vec::new()];
    for role in Role::ALL {
        for kind in EntityKind::ALL {
            for scope in policy.rule(*role, kind).scoped.values() {
                if !scope_sets.iter().any(|s| s == &[scope.as_str()]) {
                    scope_sets.push(vec![scope.as_str()]);
                }
            }
        }
    }
    let mut seen = Seen::default();
    for role in Role::ALL.iter().copied() {
        for scopes in &scope_sets {
            let access = caller(&policy, role, scopes);
            let mut check = Check {
                policy: &policy,
                role,
                scopes,
                seen: &mut seen,
            };
            let reads = read_trace(db, &access, s).await;
            check.row(EntityKind::Trace, &trace_fields(), &stored_trace, &reads);
            let reads = read_seizure(db, &access, s).await;
            check.row(
                EntityKind::Seizure,
                &seizure_fields(),
                &stored_seizure,
                &reads,
            );
            let reads = read_training(db, &access, s).await;
            check.row(
                EntityKind::Training,
                &training_fields(),
                &stored_training,
                &reads,
            );
            let reads = read_award(db, &access, s).await;
            check.row(
                EntityKind::FundingAward,
                &award_fields(),
                &stored_award,
                &reads,
            );
            let reads = read_firearm(db, &access, s).await;
            check.row(
                EntityKind::Firearm,
                &firearm_fields(),
                &stored_firearm,
                &reads,
            );
        }
    }
    seen
}

/// The default policy with every hideable field hidden from every role.
fn policy_hiding_everything_hideable() -> Policy {
    let mut text = String::new();
    for line in DEFAULT_POLICY.lines() {
        if line.trim_start().starts_with("hidden") {
            continue;
        }
        text.push_str(line);
        text.push('\n');
        let section = line.trim().strip_prefix("[roles.");
        if let Some(kind) = section.and_then(|s| s.strip_suffix(']'))
            && let Some((_, entity)) = kind.split_once('.')
        {
            let kind = EntityKind::parse(entity).expect("the policy names entities");
            let names: Vec<String> = hideable(kind).iter().map(|f| format!("{f:?}")).collect();
            text.push_str(&format!("hidden = [{}]\n", names.join(", ")));
        }
    }
    let policy = Policy::parse(&text).expect("the policy hiding every hideable field parses");
    policy
        .check_fields(&super::catalogue())
        .expect("the policy hiding every hideable field fits the schema");
    for role in Role::ALL {
        for kind in EntityKind::ALL {
            let hidden = &policy.rule(*role, kind).hidden;
            assert_eq!(hidden.len(), hideable(kind).len(), "{role} {kind}");
        }
    }
    policy
}

#[tokio::test]
async fn the_store_blanks_what_the_default_policy_hides_from_each_role_on_every_read_path() {
    let (_dir, db) = database().await;
    let seeded = seed(&db).await;
    let seen = check_every_role(&db, Policy::default_policy(), &seeded).await;
    // The default policy's hidden cells, each through each of its entity's read paths.
    for cell in [
        "ATF [] seizure.caseNumber via door::list",
        "ATF [] seizure.caseNumber via seizures::by_firearms",
        "ATF [] trace.purchaserName via traces::by_firearms",
        "ICE [] trace.purchaserName via door::get",
        "ICE [\"pii\"] trace.dealerLicense via traces::by_firearms",
        "CBP [] trace.dealerLicense via door::list",
        "CBP [] trace.purchaserName via door::by_key (trace)",
        "ATF [] seizure.caseNumber via door::by_key (seizure)",
        "STATE [] seizure.caseNumber via door::get",
        "STATE [\"pii\"] trace.purchaserName via door::list",
    ] {
        assert!(
            seen.blanked.iter().any(|b| b == cell),
            "not checked: {cell}"
        );
    }
    assert!(
        !seen
            .blanked
            .iter()
            .any(|b| b.starts_with("ATF [\"pii\"] trace.purchaserName")),
        "ATF with the pii scope reads the purchaser"
    );
    assert!(seen.filled > seen.blanked.len(), "readable fields checked");
}

#[tokio::test]
async fn the_store_blanks_every_hideable_field_when_the_policy_hides_them_all() {
    let (_dir, db) = database().await;
    let seeded = seed(&db).await;
    let policy = policy_hiding_everything_hideable();
    let seen = check_every_role(&db, policy, &seeded).await;
    for kind in EntityKind::ALL {
        for field in hideable(kind) {
            for role in Role::ALL {
                let cell = format!("{role} [] {kind}.{field} via door::list");
                assert!(
                    seen.blanked.contains(&cell),
                    "not checked: {cell}; a hideable field must be read from a model attribute"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_store_returns_the_purchaser_name_only_to_a_caller_with_the_pii_scope() {
    let (_dir, db) = database().await;
    let s = seed(&db).await;
    let policy = Arc::new(Policy::default_policy());
    let atf = policy.rule(Role::Atf, EntityKind::Trace);
    assert_eq!(
        atf.scoped.get("purchaserName").map(String::as_str),
        Some("pii"),
        "the default policy gates ATF's purchaserName on the pii scope"
    );
    assert!(!atf.hidden.contains(&"purchaserName".to_owned()));
    // The purchaser each read path returned, and what every path returns when it is `name`.
    let names = |reads: Reads<trace::Model>| -> Vec<(&'static str, Vec<Option<String>>)> {
        reads
            .into_iter()
            .map(|(path, rows)| (path, rows.into_iter().map(|m| m.purchaser_name).collect()))
            .collect()
    };
    let paths = [
        "door::list",
        "door::get",
        "traces::by_firearms",
        "door::by_key (trace)",
    ];
    let filled = |name: Option<&str>| -> Vec<(&'static str, Vec<Option<String>>)> {
        paths
            .iter()
            .map(|p| (*p, vec![name.map(str::to_owned)]))
            .collect()
    };

    let with = names(read_trace(&db, &caller(&policy, Role::Atf, &["pii"]), &s).await);
    assert_eq!(with, filled(Some("Synthetic Purchaser 1")));
    let without = names(read_trace(&db, &caller(&policy, Role::Atf, &[]), &s).await);
    assert_eq!(without, filled(None));
    let other = names(read_trace(&db, &caller(&policy, Role::Atf, &["PII"]), &s).await);
    assert_eq!(
        other,
        filled(None),
        "only the pii scope, so spelled, opens the purchaser"
    );
    // A hidden field stays hidden whatever the scopes.
    let ice = names(read_trace(&db, &caller(&policy, Role::Ice, &["pii"]), &s).await);
    assert_eq!(ice, filled(None));
}

/// The fields of an entity a policy may hide, as the store's descriptors state them.
fn hideable(kind: EntityKind) -> Vec<&'static str> {
    super::fields(kind)
        .into_iter()
        .filter(|f| f.hideable)
        .map(|f| f.name)
        .collect()
}

/// Links: kept by `sync` and `prune`, followed only as the `firearmLink` rule allows, and to
/// another agency's record only with a stated purpose.
#[tokio::test]
async fn links_are_kept_current_and_followed_only_as_the_policy_allows() {
    let (_dir, db) = database().await;
    let policy = Arc::new(Policy::default_policy());
    let atf = store_firearm(&db, "GLK-00777", Agency::Atf).await;
    let cbp = store_firearm(&db, "glk 00777", Agency::Cbp).await;
    let other = store_firearm(&db, "GLK-00778", Agency::Ice).await;
    super::links::sync(&db, &[cbp]).await.expect("linked");
    let pairs: Vec<(i64, i64)> = entity::firearm_link::Entity::find()
        .all(&db)
        .await
        .expect("links")
        .into_iter()
        .map(|l| (l.firearm_id, l.linked_firearm_id))
        .collect();
    assert_eq!(
        pairs,
        [(atf, cbp)],
        "same serial and maker, another serial not"
    );

    let followed = |role: Role, purpose: Option<&str>| {
        let access = Access::new(
            Caller {
                subject: "links-test".into(),
                role,
                scopes: Vec::new(),
            },
            policy.clone(),
        )
        .with_purpose(purpose.map(str::to_owned));
        let db = db.clone();
        async move {
            let found = super::links::followed(&db, &access, &[atf, other])
                .await
                .expect("followed");
            let ids: Vec<i64> = found
                .get(&atf)
                .into_iter()
                .flatten()
                .map(|(_, f)| f.id)
                .collect();
            (ids, access.trail.snapshot().withheld)
        }
    };
    assert_eq!(
        followed(Role::Ice, Some("case 1")).await,
        (vec![cbp], false)
    );
    assert_eq!(
        followed(Role::Ice, None).await,
        (vec![], true),
        "CBP's record needs a purpose"
    );
    assert_eq!(
        followed(Role::Cbp, Some("case 1")).await,
        (vec![], false),
        "CBP's policy follows no links"
    );

    // A record nothing holds goes, with its links; a held one stays.
    super::links::prune(&db, &[cbp, other])
        .await
        .expect("pruned");
    assert!(
        firearm::Entity::find_by_id(cbp)
            .one(&db)
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        entity::firearm_link::Entity::find()
            .all(&db)
            .await
            .expect("links")
            .is_empty()
    );
}

#[tokio::test]
async fn a_whole_level_of_firearms_with_their_linked_records_is_read_within_the_bind_limits() {
    let (_dir, db) = database().await;
    let s = seed(&db).await;
    let access = Access::new(
        Caller {
            subject: "atf".into(),
            role: Role::Atf,
            scopes: Vec::new(),
        },
        Arc::new(Policy::default_policy()),
    )
    .with_purpose(Some("case 2021-17".to_owned()));
    // A DataLoader level of 10,000 firearms, each with three linked records: 40,000 ids, more
    // than one statement may bind on either backend. The seeded trace's firearm is among them.
    let mut groups = std::collections::HashMap::new();
    for id in 1..=10_000i64 {
        groups.insert(id, vec![id, 100_000 + id, 200_000 + id, 300_000 + id]);
    }
    let traces = traces::by_groups(&db, &access, groups.clone())
        .await
        .expect("the traces of a large level");
    let seizures = seizures::by_groups(&db, &access, groups)
        .await
        .expect("the seizures of a large level");
    assert_eq!(
        traces
            .get(&s.firearm_traced)
            .map(|t| t.iter().map(|t| t.id).collect::<Vec<_>>()),
        Some(vec![s.trace])
    );
    // The seizures' read went through (40,000 ids in chunks); ATF's view of the seized firearm's
    // seizures is what the door gives for that one firearm alone.
    let alone = seizures::by_groups(
        &db,
        &access,
        std::collections::HashMap::from([(s.firearm_seized, vec![s.firearm_seized])]),
    )
    .await
    .expect("the seizures of one firearm");
    assert_eq!(
        seizures.get(&s.firearm_seized).map(Vec::len),
        alone.get(&s.firearm_seized).map(Vec::len)
    );
}
