//! A small, hand-made dataset every access test knows by heart.
//!
//! - firearms: 1 Glock pistol (ATF's record, traced), 2 Colt rifle (traced), 3 Ruger pistol (ICE's
//!   record, seized by ICE only), 4 the same Glock as CBP recorded it when seizing it, linked to 1
//! - traces (ATF): T-1 (firearm 1, Sonora, with purchaser), T-2 (firearm 2, Tamaulipas)
//! - seizures: C-1 by CBP (firearm 1), C-2 by ICE (firearm 3)
//! - funding (STATE): A-1 implemented by ATF, A-2 implemented by nobody
//! - trainings: ATF eTrace course funded by A-1; STATE forensics course

use chrono::{NaiveDate, TimeZone, Utc};
use entity::*;
use sea_orm::{ActiveModelTrait, DatabaseConnection, NotSet, Set};
use serde_json::{Value, json};

pub(crate) struct Fixture {
    /// ATF's record of the Glock traced in T-1 and seized by CBP in C-1.
    pub firearm_traced_and_seized: i64,
    /// CBP's record of that Glock, linked to ATF's.
    pub firearm_seized_by_cbp: i64,
    pub firearm_traced_only: i64,
    pub trace_sonora: i64,
    pub seizure_cbp: i64,
    pub seizure_ice: i64,
    pub award_atf: i64,
    pub award_none: i64,
}

/// Bumps the `records` generation, as every write through the hub does in its transaction, so the
/// rows stored here directly show in the next stats answer of every server. A database migrated
/// only to a version before generations (the migration tests) has none to bump.
pub(crate) async fn records_changed(db: &DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let bumped = db
        .execute_unprepared(
            "UPDATE data_generation SET generation = generation + 1 WHERE scope = 'records'",
        )
        .await;
    if let Err(e) = bumped {
        assert!(
            e.to_string().contains("data_generation"),
            "generation bumped: {e}"
        );
    }
}

pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

pub(crate) async fn firearm(
    db: &DatabaseConnection,
    maker: &str,
    kind: FirearmType,
    serial: &str,
    owner: Agency,
) -> i64 {
    let id = firearm::ActiveModel {
        id: NotSet,
        manufacturer: Set(maker.into()),
        model: Set(Some("Model X".into())),
        firearm_type: Set(kind),
        caliber: Set(Some("9mm".into())),
        serial_number: Set(Some(serial.into())),
        serial_normalized: Set(firearm::normalize_serial(serial)),
        country_of_manufacture: Set(Some("US".into())),
        importer: Set(None),
        owner_agency: Set(owner),
        source_system: Set("fixture".into()),
        ingested_at: Set(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
        version: Set(1),
    }
    .insert(db)
    .await
    .expect("firearm stored")
    .id;
    records_changed(db).await;
    id
}

pub(crate) async fn trace(
    db: &DatabaseConnection,
    number: &str,
    firearm_id: i64,
    state: &str,
    recovered: NaiveDate,
    class: SourceClass,
    purchaser: Option<&str>,
) -> i64 {
    let id =
        trace::ActiveModel {
            id: NotSet,
            trace_number: Set(number.into()),
            firearm_id: Set(firearm_id),
            requesting_agency: Set("FGR".into()),
            recovery_date: Set(recovered),
            recovery_year: Set(chrono::Datelike::year(&recovered)),
            recovery_state: Set(state.into()),
            recovery_municipality: Set(Some("Nogales".into())),
            status: Set(if purchaser.is_some() {
                TraceStatus::Completed
            } else {
                TraceStatus::NoPurchaserIdentified
            }),
            source_class: Set(class),
            purchase_state: Set(purchaser.map(|_| "AZ".into())),
            purchase_date: Set(purchaser.map(|_| date(2015, 3, 1))),
            time_to_crime_days: Set(
                purchaser.map(|_| (recovered - date(2015, 3, 1)).num_days() as i32)
            ),
            dealer_license: Set(purchaser.map(|_| "9-99-999-01-0A-00001".into())),
            purchaser_name: Set(purchaser.map(Into::into)),
            owner_agency: Set(Agency::Atf),
            source_system: Set("fixture".into()),
            ingested_at: Set(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
            version: Set(1),
        }
        .insert(db)
        .await
        .expect("trace stored")
        .id;
    records_changed(db).await;
    id
}

pub(crate) async fn seizure(
    db: &DatabaseConnection,
    case: &str,
    agency: Agency,
    on: NaiveDate,
    firearms: &[i64],
) -> i64 {
    let id = seizure::ActiveModel {
        id: NotSet,
        case_number: Set(case.into()),
        seizing_agency: Set(agency),
        operation: Set(Some("Fixture Operation".into())),
        seized_on: Set(on),
        fiscal_year: Set(firearms_hub::domain::calendar::fiscal_year(on)),
        us_state: Set("AZ".into()),
        port_of_entry: Set(Some("Nogales".into())),
        direction: Set(Direction::Outbound),
        concealment_method: Set(Some("spare tire".into())),
        ammunition_rounds: Set(250),
        firearm_count: Set(firearms.len() as i32),
        disposition: Set(None),
        owner_agency: Set(agency),
        source_system: Set("fixture".into()),
        ingested_at: Set(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
        version: Set(1),
    }
    .insert(db)
    .await
    .expect("seizure stored")
    .id;
    for f in firearms {
        seizure_firearm::ActiveModel {
            seizure_id: Set(id),
            firearm_id: Set(*f),
        }
        .insert(db)
        .await
        .expect("link stored");
    }
    records_changed(db).await;
    id
}

async fn award(
    db: &DatabaseConnection,
    number: &str,
    implementing: Option<Agency>,
    cents: i64,
) -> i64 {
    let id = funding_award::ActiveModel {
        id: NotSet,
        award_number: Set(number.into()),
        fiscal_year: Set(2019),
        program: Set("Firearms Trafficking Capacity".into()),
        category: Set(FundingCategory::ForensicsTraining),
        implementing_agency: Set(implementing),
        recipient: Set("FGR".into()),
        obligated_cents: Set(cents),
        disbursed_cents: Set(cents / 2),
        description: Set(Some("fixture award".into())),
        owner_agency: Set(Agency::State),
        source_system: Set("fixture".into()),
        ingested_at: Set(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
        version: Set(1),
    }
    .insert(db)
    .await
    .expect("award stored")
    .id;
    records_changed(db).await;
    id
}

async fn training(
    db: &DatabaseConnection,
    reference: &str,
    provider: Agency,
    course: CourseKind,
    award: Option<i64>,
) -> i64 {
    let id = training_event::ActiveModel {
        id: NotSet,
        reference: Set(reference.into()),
        course: Set(course),
        provider: Set(provider),
        start_date: Set(date(2021, 11, 8)),
        end_date: Set(date(2021, 11, 10)),
        fiscal_year: Set(2022),
        mexican_agency: Set("FGE-SON".into()),
        mexican_state: Set(Some("MX-SON".into())),
        participants: Set(25),
        etrace_accounts_granted: Set(if course == CourseKind::Etrace { 10 } else { 0 }),
        funding_award_id: Set(award),
        owner_agency: Set(provider),
        source_system: Set("fixture".into()),
        ingested_at: Set(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
        version: Set(1),
    }
    .insert(db)
    .await
    .expect("training stored")
    .id;
    records_changed(db).await;
    id
}

/// Stores the fixture dataset.
pub(crate) async fn load(db: &DatabaseConnection) -> Fixture {
    let f1 = firearm(db, "Glock", FirearmType::Pistol, "GLK-00123", Agency::Atf).await;
    let f2 = firearm(db, "Colt", FirearmType::Rifle, "CLT-555", Agency::Atf).await;
    let f3 = firearm(db, "Ruger", FirearmType::Pistol, "RGR-777", Agency::Ice).await;
    let t1 = trace(
        db,
        "T-1",
        f1,
        "MX-SON",
        date(2019, 5, 1),
        SourceClass::UsManufactured,
        Some("Synthetic Purchaser 1"),
    )
    .await;
    trace(
        db,
        "T-2",
        f2,
        "MX-TAM",
        date(2018, 6, 1),
        SourceClass::UsImported,
        None,
    )
    .await;
    let f4 = firearm(db, "Glock", FirearmType::Pistol, "GLK-00123", Agency::Cbp).await;
    firearm_link::ActiveModel {
        id: NotSet,
        firearm_id: Set(f1),
        linked_firearm_id: Set(f4),
        basis: Set(LinkBasis::ExactSerialManufacturer),
        created_at: Set(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()),
    }
    .insert(db)
    .await
    .expect("link stored");
    let s1 = seizure(db, "C-1", Agency::Cbp, date(2020, 2, 1), &[f4]).await;
    let s2 = seizure(db, "C-2", Agency::Ice, date(2016, 4, 1), &[f3]).await;
    let a1 = award(db, "A-1", Some(Agency::Atf), 125_000_050).await;
    let a2 = award(db, "A-2", None, 2_000_000).await;
    training(db, "ATF-ET-1", Agency::Atf, CourseKind::Etrace, Some(a1)).await;
    training(db, "STATE-FO-1", Agency::State, CourseKind::Forensics, None).await;
    Fixture {
        firearm_traced_and_seized: f1,
        firearm_seized_by_cbp: f4,
        firearm_traced_only: f2,
        trace_sonora: t1,
        seizure_cbp: s1,
        seizure_ice: s2,
        award_atf: a1,
        award_none: a2,
    }
}

/// A complete `TraceInput` for `createTrace`: a completed trace of a new Glock pistol, with the
/// purchaser and dealer filled.
pub(crate) fn trace_input(number: &str, serial: &str) -> Value {
    json!({
        "traceNumber": number,
        "requestingAgency": "FGR",
        "recoveryDate": "2021-04-02",
        "recoveryState": "MX-CHH",
        "status": "COMPLETED",
        "sourceClass": "US_MANUFACTURED",
        "purchaseState": "TX",
        "purchaseDate": "2019-01-15",
        "dealerLicense": "9-99-999-01-0A-00777",
        "purchaserName": "Synthetic Purchaser 777",
        "firearm": { "manufacturer": "Glock", "type": "PISTOL", "caliber": "9mm", "serialNumber": serial, "countryOfManufacture": "US" }
    })
}

/// Removes `keys` from the JSON object `value`.
pub(crate) fn without(mut value: Value, keys: &[&str]) -> Value {
    if let Some(object) = value.as_object_mut() {
        for key in keys {
            object.remove(*key);
        }
    }
    value
}
