//! Every cell of the policy, checked over HTTP: for each role and entity, the rows it lists, every
//! field of `[fields]` (the stored value, or `null` with FORBIDDEN at exactly its path), the
//! aggregates (exact, suppressed or refused), `me.permissions`, and writes.
//!
//! The expectations are derived from `Policy::default_policy()`, so the table follows
//! `src/policy/default.toml`; which stored value each API field shows, and which rows a row rule
//! selects, are stated here, apart from the hub. One server per role.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, TimeZone, Utc};
use entity::{
    Agency, CourseKind, Direction, Disposition, FirearmType, FundingCategory, LinkBasis, Role,
    SourceClass, TraceStatus, audit_event, firearm, firearm_link, funding_award as award, seizure,
    seizure_firearm, trace, training_event as training,
};
use firearms_hub::audit::{NewEvent, Outcome};
use firearms_hub::policy::{Aggregates, EntityKind, Policy, Rows};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, NotSet, Set};
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{As, TestApp, error_codes, error_paths, spawn_app_with};

#[tokio::test]
async fn atf_is_served_exactly_its_cells_of_the_policy() {
    check_role(Role::Atf).await;
}

#[tokio::test]
async fn ice_is_served_exactly_its_cells_of_the_policy() {
    check_role(Role::Ice).await;
}

#[tokio::test]
async fn cbp_is_served_exactly_its_cells_of_the_policy() {
    check_role(Role::Cbp).await;
}

#[tokio::test]
async fn state_is_served_exactly_its_cells_of_the_policy() {
    check_role(Role::State).await;
}

#[tokio::test]
async fn oversight_is_served_exactly_its_cells_of_the_policy() {
    check_role(Role::Oversight).await;
}

#[test]
fn every_role_of_the_policy_has_a_test_here() {
    let policy = Policy::default_policy();
    let roles: BTreeSet<Role> = policy.roles.keys().copied().collect();
    let tested = BTreeSet::from([
        Role::Atf,
        Role::Ice,
        Role::Cbp,
        Role::State,
        Role::Oversight,
    ]);
    assert_eq!(roles, tested, "add a test above for every role");
}

/// Runs every check of one role against a server of its own.
async fn check_role(role: Role) {
    let policy = Policy::default_policy();
    let app = spawn_app_with(|s| s.limits.rate_per_second = 0.0).await;
    let threshold = policy.suppression_threshold;
    seed(&app.db.db, threshold).await;
    let data = Data::load(&app.db.db).await;

    for scopes in scope_sets(&policy) {
        let view = View {
            policy: &policy,
            role,
            scopes: &scopes,
            data: &data,
        };
        let caller = app.as_role_with(role, &scopes);
        check_permissions(&view, &caller).await;
        // Audit rows first, while the trail is short; it is read again just before the query.
        let trail = Data::load(&app.db.db).await;
        let audited = View {
            data: &trail,
            ..view
        };
        check_rows_and_fields(&audited, &caller, EntityKind::AuditEvent).await;
        for kind in EntityKind::ALL {
            // Links have no query root: `Firearm.links` is checked with the firearms. Candidates
            // (near-identical serials) need seized and traced records the fixtures do not hold;
            // `linkage.rs` checks them per role over demo data.
            if !matches!(
                kind,
                EntityKind::AuditEvent | EntityKind::FirearmLink | EntityKind::LinkCandidate
            ) {
                check_rows_and_fields(&view, &caller, kind).await;
            }
            check_aggregates(&view, &caller, kind, threshold).await;
        }
    }
    // Writes last: they change the rows the reads above expect.
    let view = View {
        policy: &policy,
        role,
        scopes: &[],
        data: &data,
    };
    check_writes(&view, &app).await;
}

/// No scope, then each scope the policy gates a field on.
fn scope_sets(policy: &Policy) -> Vec<Vec<&str>> {
    let mut sets: Vec<Vec<&str>> = vec![Vec::new()];
    for rules in policy.roles.values() {
        for rule in rules.values() {
            for scope in rule.scoped.values() {
                if !sets.iter().any(|s| s == &[scope.as_str()]) {
                    sets.push(vec![scope.as_str()]);
                }
            }
        }
    }
    sets
}

// ---------------------------------------------------------------------------------------------
// The seeded rows

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// The group each seeded row falls in: the first `threshold` rows in one group, then two small
/// groups that together reach the threshold (never shown below the threshold to aggregate-only
/// roles).
fn group(i: i64, threshold: i64) -> usize {
    let big = threshold;
    let small = (threshold + 1) / 2;
    if i < big {
        0
    } else if i < big + small {
        1
    } else {
        2
    }
}

/// Stores `2 × threshold` rows of each owned entity with every nullable field filled, five audit
/// events (one by each role, touching every agency's data), and the firearms they link.
async fn seed(db: &DatabaseConnection, threshold: i64) {
    assert!(
        threshold >= 2,
        "the seeded groups need a threshold of 2 or more"
    );
    let ingested = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let mx_states = ["MX-SON", "MX-TAM", "MX-CHH"];
    let us_states = ["AZ", "TX", "CA"];
    let programs = ["Border Forensics", "Canine Units", "eTrace Outreach"];
    let mut awards = Vec::new();
    for i in 0..2 * threshold {
        let g = group(i, threshold);
        let traced = store_firearm(db, &format!("PT-TR-{i:03}"), Agency::Atf, ingested).await;
        trace::ActiveModel {
            id: NotSet,
            trace_number: Set(format!("PT-T-{i:03}")),
            firearm_id: Set(traced),
            requesting_agency: Set("FGR".into()),
            recovery_date: Set(date(2019, 5, 1 + i as u32)),
            recovery_year: Set(2019),
            recovery_state: Set(mx_states[g].into()),
            recovery_municipality: Set(Some(format!("Municipio {i}"))),
            status: Set(TraceStatus::Completed),
            source_class: Set(SourceClass::UsManufactured),
            purchase_state: Set(Some("AZ".into())),
            purchase_date: Set(Some(date(2015, 3, 1))),
            time_to_crime_days: Set(Some(1522 + i as i32)),
            dealer_license: Set(Some(format!("9-99-999-01-0A-{i:05}"))),
            purchaser_name: Set(Some(format!("Synthetic Purchaser {i}"))),
            owner_agency: Set(Agency::Atf),
            source_system: Set("policy-table".into()),
            ingested_at: Set(ingested),
            version: Set(1),
        }
        .insert(db)
        .await
        .expect("trace stored");

        let seizer = if i % 2 == 0 { Agency::Cbp } else { Agency::Ice };
        let own = store_firearm(db, &format!("PT-SZ-{i:03}"), seizer, ingested).await;
        // Every third seizure also took a traced gun, recorded by the seizing agency as its own
        // record and linked to ATF's: the cross-agency link.
        let taken: Vec<i64> = if i % 3 == 0 {
            let again = store_firearm(db, &format!("PT-TR-{i:03}"), seizer, ingested).await;
            firearm_link::ActiveModel {
                id: NotSet,
                firearm_id: Set(traced),
                linked_firearm_id: Set(again),
                basis: Set(LinkBasis::ExactSerialManufacturer),
                created_at: Set(ingested),
            }
            .insert(db)
            .await
            .expect("firearm link stored");
            vec![own, again]
        } else {
            vec![own]
        };
        let seized = seizure::ActiveModel {
            id: NotSet,
            case_number: Set(format!("PT-C-{i:03}")),
            seizing_agency: Set(seizer),
            operation: Set(Some("Southbound".into())),
            seized_on: Set(date(2020, 2, 1 + i as u32)),
            fiscal_year: Set(2020),
            us_state: Set(us_states[g].into()),
            port_of_entry: Set(Some("Nogales".into())),
            direction: Set(Direction::Outbound),
            concealment_method: Set(Some(format!("hidden compartment {i}"))),
            ammunition_rounds: Set(100 * i),
            firearm_count: Set(taken.len() as i32),
            disposition: Set(Some(Disposition::TransferredToAtf)),
            owner_agency: Set(seizer),
            source_system: Set("policy-table".into()),
            ingested_at: Set(ingested),
            version: Set(1),
        }
        .insert(db)
        .await
        .expect("seizure stored")
        .id;
        for firearm_id in taken {
            seizure_firearm::ActiveModel {
                seizure_id: Set(seized),
                firearm_id: Set(firearm_id),
            }
            .insert(db)
            .await
            .expect("seizure link stored");
        }

        let implementing = [Agency::Atf, Agency::Ice, Agency::State][i as usize % 3];
        let funded = award::ActiveModel {
            id: NotSet,
            award_number: Set(format!("PT-A-{i:03}")),
            fiscal_year: Set(2019),
            program: Set(programs[g].into()),
            category: Set(FundingCategory::ForensicsTraining),
            implementing_agency: Set(Some(implementing)),
            recipient: Set("FGR".into()),
            obligated_cents: Set(100_000_050 + i),
            disbursed_cents: Set(50_000_000 + i),
            description: Set(Some(format!("award {i}"))),
            owner_agency: Set(Agency::State),
            source_system: Set("policy-table".into()),
            ingested_at: Set(ingested),
            version: Set(1),
        }
        .insert(db)
        .await
        .expect("award stored")
        .id;
        awards.push(funded);

        let provider = if i % 2 == 0 {
            Agency::Atf
        } else {
            Agency::State
        };
        training::ActiveModel {
            id: NotSet,
            reference: Set(format!("PT-R-{i:03}")),
            course: Set(CourseKind::Etrace),
            provider: Set(provider),
            start_date: Set(date(2021, 11, 1 + i as u32)),
            end_date: Set(date(2021, 11, 2 + i as u32)),
            fiscal_year: Set(2022),
            mexican_agency: Set(format!("FGE-{}", &mx_states[g][3..])),
            mexican_state: Set(Some(mx_states[g].into())),
            participants: Set(20 + i as i32),
            etrace_accounts_granted: Set(5),
            funding_award_id: Set(Some(awards[i as usize / 2])),
            owner_agency: Set(provider),
            source_system: Set("policy-table".into()),
            ingested_at: Set(ingested),
            version: Set(1),
        }
        .insert(db)
        .await
        .expect("training stored");
    }
    let everyone = vec![Agency::Atf, Agency::Ice, Agency::Cbp, Agency::State];
    for role in Role::ALL {
        firearms_hub::audit::append(
            db,
            NewEvent {
                subject: format!("seeded-{}", role.as_str().to_ascii_lowercase()),
                role: *role,
                purpose: Some("CASE-2026-0002 seeded".into()),
                operation: "SeededRead".into(),
                entities: vec!["trace".into(), "seizure".into()],
                data_owners: everyone.clone(),
                rows_returned: 3,
                outcome: Outcome::Ok,
                correlation_id: format!("seeded-{role}"),
                document_hash: None,
            },
        )
        .await
        .expect("audit event appended");
    }
}

async fn store_firearm(
    db: &DatabaseConnection,
    serial: &str,
    owner: Agency,
    ingested: chrono::DateTime<Utc>,
) -> i64 {
    firearm::ActiveModel {
        id: NotSet,
        manufacturer: Set("Colt".into()),
        model: Set(Some("M4".into())),
        firearm_type: Set(FirearmType::Rifle),
        caliber: Set(Some("5.56".into())),
        serial_number: Set(Some(serial.into())),
        serial_normalized: Set(firearm::normalize_serial(serial)),
        country_of_manufacture: Set(Some("US".into())),
        importer: Set(Some("Importer LLC".into())),
        owner_agency: Set(owner),
        source_system: Set("policy-table".into()),
        ingested_at: Set(ingested),
        version: Set(1),
    }
    .insert(db)
    .await
    .expect("firearm stored")
    .id
}

/// Everything stored, read straight from the tables.
struct Data {
    traces: Vec<trace::Model>,
    seizures: Vec<seizure::Model>,
    links: Vec<seizure_firearm::Model>,
    trainings: Vec<training::Model>,
    awards: Vec<award::Model>,
    firearms: Vec<firearm::Model>,
    firearm_links: Vec<firearm_link::Model>,
    events: Vec<audit_event::Model>,
}

impl Data {
    async fn load(db: &DatabaseConnection) -> Data {
        Data {
            traces: trace::Entity::find().all(db).await.expect("traces"),
            seizures: seizure::Entity::find().all(db).await.expect("seizures"),
            links: seizure_firearm::Entity::find()
                .all(db)
                .await
                .expect("links"),
            trainings: training::Entity::find().all(db).await.expect("trainings"),
            awards: award::Entity::find().all(db).await.expect("awards"),
            firearms: firearm::Entity::find().all(db).await.expect("firearms"),
            firearm_links: firearm_link::Entity::find()
                .all(db)
                .await
                .expect("firearm links"),
            events: audit_event::Entity::find().all(db).await.expect("events"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the policy says a role gets

/// A role, holding some scopes, under the policy, over the stored data.
#[derive(Clone, Copy)]
struct View<'a> {
    policy: &'a Policy,
    role: Role,
    scopes: &'a [&'a str],
    data: &'a Data,
}

impl View<'_> {
    fn rows(&self, kind: EntityKind) -> Rows {
        self.policy.rule(self.role, kind).rows
    }

    /// Whether the row rule of an owned entity selects a row with this owner (and implementer).
    fn reads_owned(&self, kind: EntityKind, owner: Agency, implementing: Option<Agency>) -> bool {
        let agency = self.role.agency();
        match self.rows(kind) {
            Rows::All => true,
            Rows::Own => agency == Some(owner),
            Rows::Implementing => agency.is_some() && implementing == agency,
            Rows::Linked | Rows::None => false,
        }
    }

    fn reads_trace(&self, t: &trace::Model) -> bool {
        self.reads_owned(EntityKind::Trace, t.owner_agency, None)
    }

    fn reads_seizure_id(&self, id: i64) -> bool {
        self.data
            .seizures
            .iter()
            .any(|s| s.id == id && self.reads_owned(EntityKind::Seizure, s.owner_agency, None))
    }

    fn reads_training(&self, t: &training::Model) -> bool {
        self.reads_owned(EntityKind::Training, t.owner_agency, None)
    }

    fn reads_award_id(&self, id: i64) -> bool {
        self.data.awards.iter().any(|a| {
            a.id == id
                && self.reads_owned(
                    EntityKind::FundingAward,
                    a.owner_agency,
                    a.implementing_agency,
                )
        })
    }

    /// Linked: the firearm of a trace or seizure the role reads.
    fn reads_firearm_id(&self, id: i64) -> bool {
        match self.rows(EntityKind::Firearm) {
            Rows::All => true,
            Rows::Linked => {
                self.data
                    .traces
                    .iter()
                    .any(|t| t.firearm_id == id && self.reads_trace(t))
                    || self
                        .data
                        .links
                        .iter()
                        .any(|l| l.firearm_id == id && self.reads_seizure_id(l.seizure_id))
            }
            _ => false,
        }
    }

    /// The records the role reaches across the links of a firearm record it reads (the callers
    /// here state a purpose): all of them when its `firearmLink` rule is "all", else none.
    fn linked_records(&self, id: i64) -> Vec<i64> {
        if self.rows(EntityKind::FirearmLink) != Rows::All {
            return Vec::new();
        }
        self.data
            .firearm_links
            .iter()
            .filter_map(|l| {
                if l.firearm_id == id {
                    Some(l.linked_firearm_id)
                } else if l.linked_firearm_id == id {
                    Some(l.firearm_id)
                } else {
                    None
                }
            })
            .collect()
    }

    /// A firearm record and those it reaches across links: the gun `traces` and `seizures` speak of.
    fn same_gun(&self, id: i64) -> Vec<i64> {
        let mut ids = self.linked_records(id);
        ids.push(id);
        ids
    }

    /// Own: the events that touched the role's agency's data, made by other roles.
    fn reads_event(&self, e: &audit_event::Model) -> bool {
        match (self.rows(EntityKind::AuditEvent), self.role.agency()) {
            (Rows::All, _) => true,
            (Rows::Own, Some(agency)) => {
                e.data_owners.contains(&format!(",{agency},")) && e.role != self.role
            }
            _ => false,
        }
    }

    /// Hidden from the role, or gated by a scope it does not hold.
    fn withheld(&self, kind: EntityKind, field: &str) -> bool {
        let rule = self.policy.rule(self.role, kind);
        rule.hidden.iter().any(|f| f == field)
            || rule
                .scoped
                .get(field)
                .is_some_and(|scope| !self.scopes.contains(&scope.as_str()))
    }
}

// ---------------------------------------------------------------------------------------------
// Fields: how each is selected and which stored value it shows

/// The selection of a field in a query: its name, with sub-fields for an object.
fn selection(kind: EntityKind, field: &str) -> String {
    let sub = match (kind, field) {
        (_, "provenance") => "{ ownerAgency sourceSystem ingestedAt }",
        (EntityKind::Trace, "firearm")
        | (EntityKind::Seizure, "firearms")
        | (EntityKind::Training, "fundingAward")
        | (EntityKind::FundingAward, "trainings") => "{ id }",
        (EntityKind::Firearm, "traces" | "seizures") => "(first: 100) { nodes { id } }",
        (EntityKind::Firearm, "links") => "{ basis firearm { id provenance { ownerAgency } } }",
        _ => "",
    };
    format!("{field} {sub}")
}

fn id(value: i64) -> Value {
    json!(value.to_string())
}

fn ids(values: impl IntoIterator<Item = i64>) -> Value {
    let mut sorted: Vec<i64> = values.into_iter().collect();
    sorted.sort_unstable();
    Value::Array(sorted.into_iter().map(|i| json!({ "id": id(i) })).collect())
}

fn dollars(cents: i64) -> Value {
    json!(format!("{}.{:02}", cents / 100, cents % 100))
}

fn provenance(owner: Agency, source: &str, at: chrono::DateTime<Utc>) -> Value {
    json!({ "ownerAgency": owner.as_str(), "sourceSystem": source, "ingestedAt": at.to_rfc3339() })
}

fn unknown(kind: EntityKind, field: &str) -> ! {
    panic!("{kind}.{field} is in the policy but not in this table: add what it shows")
}

/// A stored row as the policy lets the role see it: its id and, per field, the value it shows.
struct Expected {
    id: i64,
    fields: Vec<(String, Value)>,
}

fn expected_rows(v: &View, kind: EntityKind) -> Vec<Expected> {
    let d = v.data;
    let fields = api_fields(kind);
    let row = |id: i64, value: &dyn Fn(&str) -> Value| Expected {
        id,
        fields: fields.iter().map(|f| (f.clone(), value(f))).collect(),
    };
    match kind {
        EntityKind::Trace => d
            .traces
            .iter()
            .filter(|t| v.reads_trace(t))
            .map(|t| row(t.id, &|f| trace_value(t, f)))
            .collect(),
        EntityKind::Seizure => d
            .seizures
            .iter()
            .filter(|s| v.reads_seizure_id(s.id))
            .map(|s| row(s.id, &|f| seizure_value(v, s, f)))
            .collect(),
        EntityKind::Training => d
            .trainings
            .iter()
            .filter(|t| v.reads_training(t))
            .map(|t| row(t.id, &|f| training_value(v, t, f)))
            .collect(),
        EntityKind::FundingAward => d
            .awards
            .iter()
            .filter(|a| v.reads_award_id(a.id))
            .map(|a| row(a.id, &|f| award_value(v, a, f)))
            .collect(),
        EntityKind::Firearm => d
            .firearms
            .iter()
            .filter(|f| v.reads_firearm_id(f.id))
            .map(|m| row(m.id, &|f| firearm_value(v, m, f)))
            .collect(),
        EntityKind::AuditEvent => d
            .events
            .iter()
            .filter(|e| v.reads_event(e))
            .map(|e| row(e.id, &|f| event_value(e, f)))
            .collect(),
        EntityKind::FirearmLink => unreachable!("links are read through Firearm.links"),
        EntityKind::LinkCandidate => unreachable!("candidates are checked in linkage.rs"),
    }
}

fn trace_value(t: &trace::Model, field: &str) -> Value {
    match field {
        "id" => id(t.id),
        "traceNumber" => json!(t.trace_number),
        "firearm" => json!({ "id": id(t.firearm_id) }),
        "requestingAgency" => json!(t.requesting_agency),
        "recoveryDate" => json!(t.recovery_date.to_string()),
        "recoveryState" => json!(t.recovery_state),
        "recoveryMunicipality" => json!(t.recovery_municipality),
        "status" => json!(t.status.as_str()),
        "sourceClass" => json!(t.source_class.as_str()),
        "purchaseState" => json!(t.purchase_state),
        "purchaseDate" => json!(t.purchase_date.map(|d| d.to_string())),
        "timeToCrimeDays" => json!(t.time_to_crime_days),
        "dealerLicense" => json!(t.dealer_license),
        "purchaserName" => json!(t.purchaser_name),
        "provenance" => provenance(t.owner_agency, &t.source_system, t.ingested_at),
        "version" => json!(t.version),
        other => unknown(EntityKind::Trace, other),
    }
}

fn seizure_value(v: &View, s: &seizure::Model, field: &str) -> Value {
    match field {
        "id" => id(s.id),
        "caseNumber" => json!(s.case_number),
        "seizingAgency" => json!(s.seizing_agency.as_str()),
        "operation" => json!(s.operation),
        "seizedOn" => json!(s.seized_on.to_string()),
        "fiscalYear" => json!(s.fiscal_year),
        "usState" => json!(s.us_state),
        "portOfEntry" => json!(s.port_of_entry),
        "direction" => json!(s.direction.as_str()),
        "concealmentMethod" => json!(s.concealment_method),
        "ammunitionRounds" => json!(s.ammunition_rounds),
        "firearmCount" => json!(s.firearm_count),
        "disposition" => json!(s.disposition.map(|d| d.as_str())),
        "firearms" => ids(v
            .data
            .links
            .iter()
            .filter(|l| l.seizure_id == s.id && v.reads_firearm_id(l.firearm_id))
            .map(|l| l.firearm_id)),
        "provenance" => provenance(s.owner_agency, &s.source_system, s.ingested_at),
        "version" => json!(s.version),
        other => unknown(EntityKind::Seizure, other),
    }
}

fn training_value(v: &View, t: &training::Model, field: &str) -> Value {
    match field {
        "id" => id(t.id),
        "reference" => json!(t.reference),
        "course" => json!(t.course.as_str()),
        "provider" => json!(t.provider.as_str()),
        "startDate" => json!(t.start_date.to_string()),
        "endDate" => json!(t.end_date.to_string()),
        "fiscalYear" => json!(t.fiscal_year),
        "mexicanAgency" => json!(t.mexican_agency),
        "mexicanState" => json!(t.mexican_state),
        "participants" => json!(t.participants),
        "etraceAccountsGranted" => json!(t.etrace_accounts_granted),
        // The funding award, when the role reads it; otherwise simply absent.
        "fundingAward" => match t.funding_award_id {
            Some(award) if v.reads_award_id(award) => json!({ "id": id(award) }),
            _ => Value::Null,
        },
        "provenance" => provenance(t.owner_agency, &t.source_system, t.ingested_at),
        "version" => json!(t.version),
        other => unknown(EntityKind::Training, other),
    }
}

fn award_value(v: &View, a: &award::Model, field: &str) -> Value {
    match field {
        "id" => id(a.id),
        "awardNumber" => json!(a.award_number),
        "fiscalYear" => json!(a.fiscal_year),
        "program" => json!(a.program),
        "category" => json!(a.category.as_str()),
        "implementingAgency" => json!(a.implementing_agency.map(Agency::as_str)),
        "recipient" => json!(a.recipient),
        "obligated" => dollars(a.obligated_cents),
        "disbursed" => dollars(a.disbursed_cents),
        "description" => json!(a.description),
        "trainings" => ids(v
            .data
            .trainings
            .iter()
            .filter(|t| t.funding_award_id == Some(a.id) && v.reads_training(t))
            .map(|t| t.id)),
        "provenance" => provenance(a.owner_agency, &a.source_system, a.ingested_at),
        "version" => json!(a.version),
        other => unknown(EntityKind::FundingAward, other),
    }
}

fn firearm_value(v: &View, f: &firearm::Model, field: &str) -> Value {
    let nodes = |ids_: Value| json!({ "nodes": ids_ });
    match field {
        "id" => id(f.id),
        "manufacturer" => json!(f.manufacturer),
        "model" => json!(f.model),
        "type" => json!(f.firearm_type.as_str()),
        "caliber" => json!(f.caliber),
        "serialNumber" => json!(f.serial_number),
        "countryOfManufacture" => json!(f.country_of_manufacture),
        "importer" => json!(f.importer),
        "provenance" => provenance(f.owner_agency, &f.source_system, f.ingested_at),
        "traces" => nodes(ids(v
            .data
            .traces
            .iter()
            .filter(|t| v.same_gun(f.id).contains(&t.firearm_id) && v.reads_trace(t))
            .map(|t| t.id))),
        "seizures" => nodes(ids(v
            .data
            .links
            .iter()
            .filter(|l| {
                v.same_gun(f.id).contains(&l.firearm_id) && v.reads_seizure_id(l.seizure_id)
            })
            .map(|l| l.seizure_id)
            .collect::<BTreeSet<_>>())),
        "links" => {
            let mut far = v.linked_records(f.id);
            far.sort_unstable();
            Value::Array(
                far.into_iter()
                    .map(|other| {
                        let owner = v
                            .data
                            .firearms
                            .iter()
                            .find(|g| g.id == other)
                            .map(|g| g.owner_agency.as_str())
                            .expect("a linked record");
                        json!({
                            "basis": "EXACT_SERIAL_MANUFACTURER",
                            "firearm": { "id": id(other), "provenance": { "ownerAgency": owner } }
                        })
                    })
                    .collect(),
            )
        }
        other => unknown(EntityKind::Firearm, other),
    }
}

fn event_value(e: &audit_event::Model, field: &str) -> Value {
    match field {
        "id" => id(e.id),
        "at" => json!(e.at.to_rfc3339()),
        "subject" => json!(e.subject),
        "role" => json!(e.role.as_str()),
        "purpose" => json!(e.purpose),
        "operation" => json!(e.operation),
        "documentHash" => json!(e.document_hash),
        "entities" => json!(
            e.entities
                .split(',')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        ),
        "rowsReturned" => json!(e.rows_returned),
        "outcome" => json!(e.outcome),
        other => unknown(EntityKind::AuditEvent, other),
    }
}

/// Lists of `{ id }` objects in id order, so edges compare whatever order they come in.
fn by_id(value: &Value) -> Value {
    match value {
        Value::Array(items) if items.iter().all(|i| i.get("id").is_some()) => {
            let mut items: Vec<Value> = items.iter().map(by_id).collect();
            items.sort_by_key(|i| i["id"].as_str().and_then(|s| s.parse::<i64>().ok()));
            Value::Array(items)
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), by_id(v))).collect())
        }
        other => other.clone(),
    }
}

fn root(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Trace => "traces",
        EntityKind::Seizure => "seizures",
        EntityKind::Training => "trainings",
        EntityKind::FundingAward => "fundingAwards",
        EntityKind::Firearm => "firearms",
        EntityKind::AuditEvent => "auditEvents",
        EntityKind::FirearmLink => unreachable!("links are read through Firearm.links"),
        EntityKind::LinkCandidate => unreachable!("candidates are checked in linkage.rs"),
    }
}

// ---------------------------------------------------------------------------------------------
// The checks

/// Rows: the list answers exactly the rows the rule selects, or FORBIDDEN. Fields: each is the
/// stored value, or null with FORBIDDEN at exactly its path.
async fn check_rows_and_fields(v: &View<'_>, caller: &As<'_>, kind: EntityKind) {
    let (role, scopes) = (v.role, v.scopes);
    let list = root(kind);
    let fields = api_fields(kind);
    let selected: Vec<String> = fields.iter().map(|f| selection(kind, f)).collect();
    let query = format!(
        "{{ {list}(first: 100) {{ totalCount nodes {{ {} }} }} }}",
        selected.join(" ")
    );
    let response = caller.run(&query).await;
    let cell = format!("{role} {scopes:?} {kind}");

    if v.rows(kind) == Rows::None {
        assert!(response["data"].is_null(), "{cell}: {response}");
        assert_eq!(error_codes(&response), ["FORBIDDEN"], "{cell}: {response}");
        assert_eq!(error_paths(&response), [list], "{cell}: {response}");
        return;
    }

    let expected = expected_rows(v, kind);
    assert!(
        !expected.is_empty(),
        "{cell}: the seed gives every readable entity rows"
    );
    let nodes = response["data"][list]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{cell}: no rows in {response}"));
    assert_eq!(
        response["data"][list]["totalCount"],
        expected.len(),
        "{cell}: {response}"
    );
    let got: BTreeSet<String> = nodes
        .iter()
        .map(|n| n["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let want: BTreeSet<String> = expected.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(got, want, "{cell}: the rows the policy selects");

    let mut forbidden = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let row = expected
            .iter()
            .find(|e| node["id"] == id(e.id))
            .expect("a listed row");
        for (field, value) in &row.fields {
            let at = format!("{list}.nodes.{i}.{field}");
            if v.withheld(kind, field) {
                assert!(node[field].is_null(), "{cell}: {at} must be null: {node}");
                forbidden.push(at);
            } else {
                assert_eq!(by_id(&node[field]), by_id(value), "{cell}: {at}");
            }
        }
    }
    let mut paths = error_paths(&response);
    paths.sort();
    forbidden.sort();
    assert_eq!(
        paths, forbidden,
        "{cell}: errors at exactly the withheld fields"
    );
    assert!(
        error_codes(&response).iter().all(|c| c == "FORBIDDEN"),
        "{cell}: {response}"
    );
}

/// The stats query of an entity: its root, the dimension grouped by, the key field it answers,
/// and each stored row's value of that dimension.
fn stats_of(
    kind: EntityKind,
    d: &Data,
) -> Option<(&'static str, &'static str, &'static str, Vec<String>)> {
    Some(match kind {
        EntityKind::Trace => (
            "traceStats",
            "RECOVERY_STATE",
            "recoveryState",
            d.traces.iter().map(|t| t.recovery_state.clone()).collect(),
        ),
        EntityKind::Seizure => (
            "seizureStats",
            "US_STATE",
            "usState",
            d.seizures.iter().map(|s| s.us_state.clone()).collect(),
        ),
        EntityKind::Training => (
            "trainingStats",
            "MEXICAN_STATE",
            "mexicanState",
            d.trainings
                .iter()
                .map(|t| t.mexican_state.clone().unwrap_or_default())
                .collect(),
        ),
        EntityKind::FundingAward => (
            "fundingStats",
            "PROGRAM",
            "program",
            d.awards.iter().map(|a| a.program.clone()).collect(),
        ),
        EntityKind::Firearm
        | EntityKind::FirearmLink
        | EntityKind::LinkCandidate
        | EntityKind::AuditEvent => return None,
    })
}

/// Aggregates: exact counts of every stored row, suppressed small groups, or FORBIDDEN.
async fn check_aggregates(v: &View<'_>, caller: &As<'_>, kind: EntityKind, threshold: i64) {
    let mode = v.policy.rule(v.role, kind).aggregates;
    let cell = format!("{} {:?} {kind} aggregates", v.role, v.scopes);
    let Some((stats, dimension, key, values)) = stats_of(kind, v.data) else {
        assert_eq!(mode, Aggregates::None, "{cell}: {kind} has no stats query");
        return;
    };
    let funding_total = if kind == EntityKind::FundingAward {
        "obligated"
    } else {
        ""
    };
    let query = format!(
        "{{ {stats}(groupBy: [{dimension}]) {{ total {funding_total} suppressed buckets {{ key {{ {key} }} count suppressed }} }} }}"
    );
    let response = caller.run(&query).await;
    if mode == Aggregates::None {
        assert!(response["data"].is_null(), "{cell}: {response}");
        assert_eq!(error_codes(&response), ["FORBIDDEN"], "{cell}: {response}");
        assert_eq!(error_paths(&response), [stats], "{cell}: {response}");
        return;
    }
    assert!(response["errors"].is_null(), "{cell}: {response}");
    let answer = &response["data"][stats];
    let mut groups: BTreeMap<String, i64> = BTreeMap::new();
    for value in &values {
        *groups.entry(value.clone()).or_default() += 1;
    }
    let buckets: BTreeMap<String, (Value, Value)> = answer["buckets"]
        .as_array()
        .unwrap_or_else(|| panic!("{cell}: no buckets in {response}"))
        .iter()
        .map(|b| {
            let k = b["key"][key].as_str().unwrap_or_default().to_owned();
            (k, (b["count"].clone(), b["suppressed"].clone()))
        })
        .collect();
    assert!(
        buckets.keys().all(|k| groups.contains_key(k)),
        "{cell}: every bucket is a stored group: {response}"
    );
    match mode {
        Aggregates::Exact => {
            assert_eq!(
                buckets.keys().collect::<Vec<_>>(),
                groups.keys().collect::<Vec<_>>(),
                "{cell}: one bucket per stored group: {response}"
            );
            assert_eq!(answer["total"], values.len(), "{cell}: {response}");
            assert_eq!(answer["suppressed"], false, "{cell}");
            for (group, count) in &groups {
                assert_eq!(
                    buckets[group],
                    (json!(count), json!(false)),
                    "{cell}: {group}"
                );
            }
            if kind == EntityKind::FundingAward {
                let cents: i64 = v.data.awards.iter().map(|a| a.obligated_cents).sum();
                assert_eq!(answer["obligated"], dollars(cents), "{cell}");
            }
        }
        Aggregates::Suppressed => {
            // Protected by the cell key method: within the largest change of the truth, never a
            // count under the threshold, a group perturbed to zero left out.
            let most = v.policy.perturbation.max_change;
            let total = answer["total"]
                .as_i64()
                .expect("the total is a cell of its own");
            assert!(
                (total - values.len() as i64).abs() <= most,
                "{cell}: {response}"
            );
            assert_eq!(answer["suppressed"], true, "{cell}");
            assert!(
                groups.values().any(|c| *c < threshold),
                "{cell}: the seed has small groups"
            );
            for (group, (count, suppressed)) in &buckets {
                let count = count.as_i64().expect("a listed group has a count");
                assert!(count >= threshold, "{cell}: {group} shows {count}");
                assert!((count - groups[group]).abs() <= most, "{cell}: {group}");
                assert_eq!(suppressed, &json!(true), "{cell}: {group}");
            }
            if kind == EntityKind::FundingAward && total > 0 {
                assert!(answer["obligated"].is_string(), "{cell}: {response}");
            }
        }
        Aggregates::None => unreachable!("answered above"),
    }
}

/// `me.permissions`: for every entity, the role's rows, hidden fields and writes.
async fn check_permissions(v: &View<'_>, caller: &As<'_>) {
    let response = caller
        .run("{ me { role permissions { entity rows hiddenFields canWrite } } }")
        .await;
    let cell = format!("{} {:?} me", v.role, v.scopes);
    assert!(response["errors"].is_null(), "{cell}: {response}");
    assert_eq!(response["data"]["me"]["role"], v.role.as_str(), "{cell}");
    let got: BTreeMap<String, Value> = response["data"]["me"]["permissions"]
        .as_array()
        .unwrap_or_else(|| panic!("{cell}: {response}"))
        .iter()
        .map(|p| {
            let mut hidden: Vec<String> = p["hiddenFields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| f.as_str().unwrap_or_default().to_owned())
                .collect();
            hidden.sort();
            let entity = p["entity"].as_str().unwrap_or_default().to_owned();
            (
                entity,
                json!({ "rows": p["rows"], "hidden": hidden, "write": p["canWrite"] }),
            )
        })
        .collect();
    let want: BTreeMap<String, Value> = EntityKind::ALL
        .into_iter()
        .map(|kind| {
            let rule = v.policy.rule(v.role, kind);
            let rows = match (rule.rows, rule.aggregates) {
                (Rows::All, _) => "ALL",
                (Rows::Own, _) => "OWN",
                (Rows::Implementing, _) => "IMPLEMENTING",
                (Rows::Linked, _) => "LINKED",
                (Rows::None, Aggregates::Exact | Aggregates::Suppressed) => "AGGREGATE_ONLY",
                (Rows::None, Aggregates::None) => "NONE",
            };
            let mut hidden: Vec<String> = api_fields(kind)
                .iter()
                .filter(|f| v.withheld(kind, f))
                .cloned()
                .collect();
            hidden.sort();
            let write = rule.write && v.role.agency().is_some();
            (
                kind.as_str().to_owned(),
                json!({ "rows": rows, "hidden": hidden, "write": write }),
            )
        })
        .chain([(
            // Every role reads the performance measures and writes its agency's (oversight all).
            "performanceMeasure".to_owned(),
            json!({ "rows": "ALL", "hidden": Vec::<String>::new(), "write": true }),
        )])
        .collect();
    assert_eq!(got, want, "{cell}: {response}");
}

// ---------------------------------------------------------------------------------------------
// Writes

/// A create and an update of one entity, as a writer of `agency` would send them.
struct Write {
    kind: EntityKind,
    create: &'static str,
    create_input: Value,
    key: (&'static str, String),
    update: &'static str,
}

fn writes_for(role: Role) -> Vec<Write> {
    let tag = role.as_str();
    let agency = role.agency();
    let seizer = match agency {
        Some(a @ (Agency::Cbp | Agency::Ice)) => a,
        _ => Agency::Cbp,
    };
    let provider = match agency {
        Some(a @ (Agency::Atf | Agency::State)) => a,
        _ => Agency::Atf,
    };
    vec![
        Write {
            kind: EntityKind::Trace,
            create: "mutation($input: TraceInput!) { createTrace(input: $input) { id traceNumber version provenance { ownerAgency } } }",
            create_input: fixtures::trace_input(&format!("PT-{tag}-T"), &format!("PT-{tag}-TF")),
            key: ("traceNumber", format!("PT-{tag}-T")),
            update: "mutation($id: ID!) { updateTrace(id: $id, input: { requestingAgency: \"GN\" }, expectedVersion: 1) { id version requestingAgency } }",
        },
        Write {
            kind: EntityKind::Seizure,
            create: "mutation($input: SeizureInput!) { recordSeizure(input: $input) { id caseNumber version provenance { ownerAgency } } }",
            create_input: json!({
                "caseNumber": format!("PT-{tag}-S"),
                "seizingAgency": seizer.as_str(),
                "operation": "Southbound",
                "seizedOn": "2022-03-04",
                "usState": "AZ",
                "portOfEntry": "Nogales",
                "direction": "OUTBOUND",
                "concealmentMethod": "spare tire",
                "ammunitionRounds": 100,
                "disposition": "RETAINED_AS_EVIDENCE",
                "firearms": [{ "manufacturer": "Ruger", "type": "PISTOL", "serialNumber": format!("PT-{tag}-SF") }]
            }),
            key: ("caseNumber", format!("PT-{tag}-S")),
            update: "mutation($id: ID!) { updateSeizure(id: $id, input: { usState: \"TX\" }, expectedVersion: 1) { id version usState } }",
        },
        Write {
            kind: EntityKind::Training,
            create: "mutation($input: TrainingInput!) { createTraining(input: $input) { id reference version provenance { ownerAgency } } }",
            create_input: json!({
                "reference": format!("PT-{tag}-R"),
                "course": "FORENSICS",
                "provider": provider.as_str(),
                "startDate": "2022-01-10",
                "endDate": "2022-01-12",
                "mexicanAgency": "FGE-SON",
                "mexicanState": "MX-SON",
                "participants": 12,
                "etraceAccountsGranted": 0
            }),
            key: ("reference", format!("PT-{tag}-R")),
            update: "mutation($id: ID!) { updateTraining(id: $id, input: { participants: 30 }, expectedVersion: 1) { id version participants } }",
        },
        Write {
            kind: EntityKind::FundingAward,
            create: "mutation($input: FundingAwardInput!) { createFundingAward(input: $input) { id awardNumber version provenance { ownerAgency } } }",
            create_input: json!({
                "awardNumber": format!("PT-{tag}-A"),
                "fiscalYear": 2022,
                "program": "Canine Units",
                "category": "CANINES",
                "implementingAgency": "CBP",
                "recipient": "ANAM",
                "obligated": "1000.00",
                "disbursed": "250.00",
                "description": "canine teams"
            }),
            key: ("awardNumber", format!("PT-{tag}-A")),
            update: "mutation($id: ID!) { updateFundingAward(id: $id, input: { recipient: \"GN\" }, expectedVersion: 1) { id version recipient } }",
        },
    ]
}

/// The owner each created record must carry.
fn owner_of(kind: EntityKind, role: Role) -> Option<Agency> {
    match kind {
        EntityKind::Trace => Some(Agency::Atf),
        EntityKind::FundingAward => Some(Agency::State),
        _ => role.agency(),
    }
}

/// How many rows of an entity are stored.
async fn stored(db: &DatabaseConnection, kind: EntityKind) -> usize {
    let data = Data::load(db).await;
    match kind {
        EntityKind::Trace => data.traces.len(),
        EntityKind::Seizure => data.seizures.len(),
        EntityKind::Training => data.trainings.len(),
        EntityKind::FundingAward => data.awards.len(),
        EntityKind::Firearm => data.firearms.len(),
        EntityKind::FirearmLink => data.firearm_links.len(),
        EntityKind::LinkCandidate => 0,
        EntityKind::AuditEvent => data.events.len(),
    }
}

/// A stored row of `kind` (the first seeded one), for refused updates.
fn some_row(d: &Data, kind: EntityKind) -> i64 {
    match kind {
        EntityKind::Trace => d.traces[0].id,
        EntityKind::Seizure => d.seizures[0].id,
        EntityKind::Training => d.trainings[0].id,
        EntityKind::FundingAward => d.awards[0].id,
        EntityKind::Firearm
        | EntityKind::FirearmLink
        | EntityKind::LinkCandidate
        | EntityKind::AuditEvent => {
            unreachable!("not written")
        }
    }
}

/// The stored version of a row.
async fn version(db: &DatabaseConnection, kind: EntityKind, id: i64) -> i32 {
    let found = match kind {
        EntityKind::Trace => trace::Entity::find_by_id(id)
            .one(db)
            .await
            .map(|m| m.map(|m| m.version)),
        EntityKind::Seizure => seizure::Entity::find_by_id(id)
            .one(db)
            .await
            .map(|m| m.map(|m| m.version)),
        EntityKind::Training => training::Entity::find_by_id(id)
            .one(db)
            .await
            .map(|m| m.map(|m| m.version)),
        EntityKind::FundingAward => award::Entity::find_by_id(id)
            .one(db)
            .await
            .map(|m| m.map(|m| m.version)),
        EntityKind::Firearm
        | EntityKind::FirearmLink
        | EntityKind::LinkCandidate
        | EntityKind::AuditEvent => {
            unreachable!("not written")
        }
    };
    found.expect("read").expect("stored")
}

/// Writes: a writing role creates and updates each entity it may write; any other role is refused
/// both with FORBIDDEN and nothing changes.
async fn check_writes(v: &View<'_>, app: &TestApp) {
    let caller = app.as_role(v.role);
    let db = &app.db.db;
    let writes = writes_for(v.role);
    for kind in EntityKind::ALL {
        let rule = v.policy.rule(v.role, kind);
        if !writes.iter().any(|w| w.kind == kind) && kind != EntityKind::LinkCandidate {
            assert!(!rule.write, "{} {kind}: no write mutation to check", v.role);
        }
    }
    for w in writes {
        let cell = format!("{} {} write", v.role, w.kind);
        let may = v.policy.rule(v.role, w.kind).write && v.role.agency().is_some();
        let before = stored(db, w.kind).await;
        let created = caller
            .query(w.create, json!({ "input": w.create_input }))
            .await;
        let field = created["data"]
            .as_object()
            .and_then(|d| d.keys().next().cloned())
            .unwrap_or_default();
        if !may {
            assert_eq!(error_codes(&created), ["FORBIDDEN"], "{cell}: {created}");
            let update = caller
                .query(
                    w.update,
                    json!({ "id": some_row(v.data, w.kind).to_string() }),
                )
                .await;
            assert_eq!(error_codes(&update), ["FORBIDDEN"], "{cell}: {update}");
            assert_eq!(stored(db, w.kind).await, before, "{cell}: nothing stored");
            let row = some_row(v.data, w.kind);
            assert_eq!(version(db, w.kind, row).await, 1, "{cell}: nothing changed");
            continue;
        }
        assert!(created["errors"].is_null(), "{cell}: {created}");
        let record = &created["data"][&field];
        let (key, value) = &w.key;
        assert_eq!(record[*key], json!(value), "{cell}: {created}");
        assert_eq!(record["version"], 1, "{cell}");
        let owner = owner_of(w.kind, v.role).expect("a writer acts for an agency");
        assert_eq!(
            record["provenance"]["ownerAgency"],
            owner.as_str(),
            "{cell}"
        );
        assert_eq!(
            stored(db, w.kind).await,
            before + 1,
            "{cell}: one row stored"
        );

        let id = record["id"].as_str().expect("an id").to_owned();
        let updated = caller.query(w.update, json!({ "id": id })).await;
        assert!(updated["errors"].is_null(), "{cell}: {updated}");
        let changed = updated["data"]
            .as_object()
            .and_then(|d| d.values().next())
            .expect("the updated record");
        assert_eq!(changed["id"], json!(id), "{cell}");
        assert_eq!(changed["version"], 2, "{cell}: {updated}");
        let after = Data::load(db).await;
        let id: i64 = id.parse().expect("a numeric id");
        let applied = match w.kind {
            EntityKind::Trace => after
                .traces
                .iter()
                .any(|t| t.id == id && t.requesting_agency == "GN" && t.version == 2),
            EntityKind::Seizure => after
                .seizures
                .iter()
                .any(|s| s.id == id && s.us_state == "TX" && s.version == 2),
            EntityKind::Training => after
                .trainings
                .iter()
                .any(|t| t.id == id && t.participants == 30 && t.version == 2),
            EntityKind::FundingAward => after
                .awards
                .iter()
                .any(|a| a.id == id && a.recipient == "GN" && a.version == 2),
            EntityKind::Firearm
            | EntityKind::FirearmLink
            | EntityKind::LinkCandidate
            | EntityKind::AuditEvent => false,
        };
        assert!(applied, "{cell}: the update is stored");
    }
}

/// The fields of an entity's API type, as the served schema declares them.
fn api_fields(kind: EntityKind) -> Vec<String> {
    firearms_hub::graphql::shape::schema_fields()[kind.type_name()]
        .iter()
        .map(|(f, _)| f.clone())
        .collect()
}
