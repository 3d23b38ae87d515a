//! The calibrated demo dataset: every published figure holds at scale 1, generation is
//! deterministic, scale multiplies volumes, and a database with records is refused.

use std::time::Instant;

use entity::{firearm, seizure, trace};
use firearms_hub::demo::{self, DemoOptions};
use sea_orm::{DbBackend, EntityTrait, QueryOrder};

use crate::helpers::TestDb;

fn options(seed: u64, scale: f64) -> DemoOptions {
    DemoOptions {
        seed,
        scale,
        progress: false,
    }
}

async fn count(t: &TestDb, sql: &str) -> i64 {
    t.scalar(sql).await
}

/// `count * 1000 / total`, for shares in per mille.
fn per_mille(count: i64, total: i64) -> i64 {
    count * 1000 / total.max(1)
}

#[tokio::test]
async fn the_default_seed_at_scale_one_reproduces_every_published_figure() {
    let t = TestDb::new().await;
    assert!(demo::is_empty(&t.db).await.expect("emptiness check"));
    let started = Instant::now();
    let summary = demo::generate(&t.db, &options(demo::DEFAULT_SEED, 1.0))
        .await
        .expect("demo data generates");
    eprintln!("scale 1 generated in {:?}: {summary}", started.elapsed());
    assert!(!demo::is_empty(&t.db).await.expect("emptiness check"));

    // Traces per year.
    let year = |y: i32| format!("SELECT COUNT(*) FROM trace WHERE recovery_year = {y}");
    for (y, published) in [
        (2016, 13_452),
        (2017, 16_133),
        (2022, 24_642),
        (2024, 25_884),
    ] {
        assert_eq!(count(&t, &year(y)).await, published, "traces in {y}");
    }
    for (y, about) in [
        (2018, 16_000),
        (2019, 19_000),
        (2020, 21_000),
        (2021, 23_000),
        (2023, 25_000),
    ] {
        let n = count(&t, &year(y)).await;
        assert!((n - about).abs() <= about / 50, "traces in {y}: {n}");
    }
    let all = count(&t, "SELECT COUNT(*) FROM trace").await;
    assert!((217_000..=220_000).contains(&all), "all traces: {all}");
    assert_eq!(all, i64::try_from(summary.traces).expect("fits"));
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM trace WHERE requesting_agency <> 'FGR'"
        )
        .await,
        0
    );

    // Calendar 2014–2018 (GAO-21-322).
    let gao = "recovery_year BETWEEN 2014 AND 2018";
    let gao_total = count(&t, &format!("SELECT COUNT(*) FROM trace WHERE {gao}")).await;
    assert!(
        (79_500..=80_500).contains(&gao_total),
        "2014–2018 traces: {gao_total}"
    );
    let class =
        |c: &str| format!("SELECT COUNT(*) FROM trace WHERE {gao} AND source_class = '{c}'");
    let made = count(&t, &class("US_MANUFACTURED")).await;
    let imported = count(&t, &class("US_IMPORTED")).await;
    let foreign = count(&t, &class("FOREIGN")).await;
    let undetermined = count(&t, &class("UNDETERMINED")).await;
    assert!(
        (40_500..41_000).contains(&made),
        "U.S.-manufactured: {made}"
    );
    assert!(
        (15_500..16_000).contains(&imported),
        "U.S.-imported: {imported}"
    );
    assert!(
        (55_500..=56_500).contains(&(made + imported)),
        "U.S.-sourced"
    );
    assert!(
        (690..=710).contains(&per_mille(made + imported, gao_total)),
        "70% ±1"
    );
    assert!((12_500..=13_500).contains(&foreign), "foreign: {foreign}");
    assert!(
        (9_500..=10_500).contains(&undetermined),
        "undetermined: {undetermined}"
    );

    let us_gao = "FROM trace t JOIN firearm f ON f.id = t.firearm_id WHERE t.recovery_year \
                  BETWEEN 2014 AND 2018 AND t.source_class IN ('US_MANUFACTURED', 'US_IMPORTED')";
    let handguns = count(
        &t,
        &format!("SELECT COUNT(*) {us_gao} AND f.firearm_type IN ('PISTOL', 'REVOLVER')"),
    )
    .await;
    assert!(
        (35_500..=36_500).contains(&handguns),
        "handguns: {handguns}"
    );
    let rifles = count(
        &t,
        &format!("SELECT COUNT(*) {us_gao} AND f.firearm_type = 'RIFLE'"),
    )
    .await;
    assert!(rifles > 19_000, "rifles: {rifles}");
    assert_eq!(
        count(
            &t,
            &format!("SELECT COUNT(*) {us_gao} AND f.caliber = '.50'")
        )
        .await,
        634
    );

    for condition in [
        "purchaser_name IS NOT NULL",
        "status = 'COMPLETED'",
        "purchase_state IS NOT NULL",
        "dealer_license IS NOT NULL",
    ] {
        assert_eq!(
            count(
                &t,
                &format!("SELECT COUNT(*) FROM trace WHERE {gao} AND {condition}")
            )
            .await,
            26_860,
            "traced to a purchaser: {condition}"
        );
    }
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM trace WHERE (purchaser_name IS NOT NULL) <> (status = 'COMPLETED') \
             OR (purchaser_name IS NULL) <> (purchase_date IS NULL) \
             OR (purchaser_name IS NOT NULL AND source_class NOT IN ('US_MANUFACTURED', 'US_IMPORTED'))"
        )
        .await,
        0,
        "purchases exactly on completed traces of U.S.-sourced guns"
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM trace WHERE purchaser_name NOT LIKE 'Synthetic Purchaser %' \
             OR dealer_license NOT LIKE '9-99-999-01-0A-%'"
        )
        .await,
        0,
        "people and dealers are obviously synthetic"
    );

    // 2024 U.S. origin.
    let y2024 = |c: &str| {
        format!("SELECT COUNT(*) FROM trace WHERE recovery_year = 2024 AND source_class = '{c}'")
    };
    assert_eq!(count(&t, &y2024("US_MANUFACTURED")).await, 13_004);
    assert_eq!(count(&t, &y2024("US_IMPORTED")).await, 5_245);

    // Types over all traces, in tenths of a percent (±0.2 point).
    let types =
        "SELECT COUNT(*) FROM trace t JOIN firearm f ON f.id = t.firearm_id WHERE f.firearm_type";
    for (types_in, share) in [
        ("= 'PISTOL'", 467),
        ("= 'RIFLE'", 315),
        ("= 'REVOLVER'", 139),
        ("= 'SHOTGUN'", 57),
        ("IN ('OTHER', 'MACHINE_GUN')", 22),
    ] {
        let n = count(&t, &format!("{types} {types_in}")).await;
        let tenths = n * 10_000 / all;
        assert!(
            (tenths - share * 10).abs() <= 20,
            "type {types_in}: {tenths}/10000"
        );
    }

    // Calibers among traced guns.
    let caliber = |c: &str| {
        format!(
            "SELECT COUNT(*) FROM trace t JOIN firearm f ON f.id = t.firearm_id WHERE f.caliber = '{c}'"
        )
    };
    let nine = per_mille(count(&t, &caliber("9mm")).await, all);
    let twenty_two = per_mille(count(&t, &caliber(".22")).await, all);
    assert!((425..=455).contains(&nine), "9mm: {nine}‰");
    assert!((150..=170).contains(&twenty_two), ".22: {twenty_two}‰");

    // Most recovered models: Glock 9mm pistol, Century Arms 7.62mm rifle, Taurus 9mm pistol.
    let by_model = "FROM trace t JOIN firearm f ON f.id = t.firearm_id WHERE";
    let model = |maker: &str, name: &str| {
        format!("SELECT COUNT(*) {by_model} f.manufacturer = '{maker}' AND f.model = '{name}'")
    };
    let glock = count(&t, &model("Glock", "19")).await;
    let century = count(&t, &model("Century Arms", "WASR-10")).await;
    let taurus = count(&t, &model("Taurus", "PT111 G2")).await;
    let next = count(
        &t,
        &format!(
            "SELECT MAX(n) FROM (SELECT COUNT(*) AS n {by_model} NOT (f.manufacturer = 'Glock' \
             AND f.model = '19') AND NOT (f.manufacturer = 'Century Arms' AND f.model = 'WASR-10') \
             AND NOT (f.manufacturer = 'Taurus' AND f.model = 'PT111 G2') \
             GROUP BY f.manufacturer, f.model) AS m"
        ),
    )
    .await;
    assert!(
        glock > century && century > taurus && taurus > next,
        "{glock} {century} {taurus} {next}"
    );
    for (maker, name, kind, cal) in [
        ("Glock", "19", "PISTOL", "9mm"),
        ("Century Arms", "WASR-10", "RIFLE", "7.62mm"),
        ("Taurus", "PT111 G2", "PISTOL", "9mm"),
    ] {
        let other = count(
            &t,
            &format!(
                "SELECT COUNT(*) FROM firearm WHERE manufacturer = '{maker}' AND model = '{name}' \
                 AND (firearm_type <> '{kind}' OR caliber <> '{cal}')"
            ),
        )
        .await;
        assert_eq!(other, 0, "{maker} {name} is a {cal} {kind}");
    }

    // Source states and corridors of 2022–2023 purchases.
    let bought = "FROM trace WHERE recovery_year IN (2022, 2023) AND purchaser_name IS NOT NULL";
    let purchased = count(&t, &format!("SELECT COUNT(*) {bought}")).await;
    for (state, published) in [("TX", 7_825), ("AZ", 3_969), ("CA", 1_575), ("NM", 492)] {
        assert_eq!(
            count(
                &t,
                &format!("SELECT COUNT(*) {bought} AND purchase_state = '{state}'")
            )
            .await,
            published,
            "source state {state}"
        );
    }
    let corridors = [
        ("AZ", "MX-SON", 91),
        ("TX", "MX-TAM", 67),
        ("TX", "MX-NLE", 65),
        ("TX", "MX-GUA", 47),
        ("TX", "MX-CHH", 47),
    ];
    let mut smallest = i64::MAX;
    let mut not_top = String::new();
    for (us, mx, share) in corridors {
        let n = count(
            &t,
            &format!(
                "SELECT COUNT(*) {bought} AND purchase_state = '{us}' AND recovery_state = '{mx}'"
            ),
        )
        .await;
        assert!(
            (n * 1000 - share * purchased).abs() <= 3 * purchased,
            "{us}→{mx}: {n} of {purchased}"
        );
        smallest = smallest.min(n);
        not_top.push_str(&format!(
            " AND NOT (purchase_state = '{us}' AND recovery_state = '{mx}')"
        ));
    }
    let largest_other = count(
        &t,
        &format!(
            "SELECT MAX(n) FROM (SELECT COUNT(*) AS n {bought}{not_top} \
             GROUP BY purchase_state, recovery_state) AS c"
        ),
    )
    .await;
    assert!(
        largest_other < smallest,
        "the five corridors are the top five"
    );

    // Time-to-crime 2017–2021: median about 1,970 days, consistent with the dates.
    let ttc =
        "FROM trace WHERE recovery_year BETWEEN 2017 AND 2021 AND time_to_crime_days IS NOT NULL";
    let with_ttc = count(&t, &format!("SELECT COUNT(*) {ttc}")).await;
    let below = count(
        &t,
        &format!("SELECT COUNT(*) {ttc} AND time_to_crime_days < 1900"),
    )
    .await;
    let up_to = count(
        &t,
        &format!("SELECT COUNT(*) {ttc} AND time_to_crime_days <= 2040"),
    )
    .await;
    assert!(
        below * 2 < with_ttc && up_to * 2 > with_ttc,
        "median time-to-crime near 1,970 days"
    );
    let days_between = match t.backend() {
        DbBackend::Postgres => "(recovery_date - purchase_date)",
        _ => "CAST(julianday(recovery_date) - julianday(purchase_date) AS INTEGER)",
    };
    assert_eq!(
        count(
            &t,
            &format!(
                "SELECT COUNT(*) FROM trace WHERE purchase_date IS NOT NULL \
                 AND time_to_crime_days <> {days_between}"
            )
        )
        .await,
        0
    );
    let year_of = match t.backend() {
        DbBackend::Postgres => "CAST(EXTRACT(YEAR FROM recovery_date) AS INTEGER)",
        _ => "CAST(strftime('%Y', recovery_date) AS INTEGER)",
    };
    assert_eq!(
        count(
            &t,
            &format!("SELECT COUNT(*) FROM trace WHERE recovery_year <> {year_of}")
        )
        .await,
        0
    );

    // DHS seizures.
    let cbp = "SELECT SUM(firearm_count) FROM seizure WHERE seizing_agency = 'CBP' \
               AND owner_agency = 'CBP' AND direction = 'OUTBOUND' AND port_of_entry IS NOT NULL";
    assert_eq!(
        count(&t, &format!("{cbp} AND fiscal_year BETWEEN 2014 AND 2019")).await,
        690
    );
    assert_eq!(
        count(
            &t,
            &format!("{cbp} AND seized_on BETWEEN '2019-10-01' AND '2020-07-31'")
        )
        .await,
        321
    );
    assert_eq!(
        count(
            &t,
            "SELECT SUM(firearm_count) FROM seizure WHERE seizing_agency = 'ICE' \
             AND operation LIKE '%Task Force%' AND fiscal_year BETWEEN 2015 AND 2017"
        )
        .await,
        1_104
    );
    assert_eq!(
        count(
            &t,
            "SELECT MIN(fiscal_year) FROM seizure WHERE operation LIKE 'Joint ICE-CBP%'"
        )
        .await,
        2020
    );
    assert!(count(&t, "SELECT COUNT(*) FROM seizure WHERE fiscal_year >= 2021").await > 0);
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM seizure WHERE seizing_agency NOT IN ('CBP', 'ICE') \
             OR owner_agency <> seizing_agency"
        )
        .await,
        0
    );
    assert_links_match_counts(&t).await;
    assert_cross_agency_matches(&t).await;
    // Seized firearms traced under a near-identical serial (the calibration table's figure), each
    // one edit from its traced firearm's serial and linked to it by no identical serial.
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM demo_near_serial").await,
        270
    );
    assert_eq!(summary.near_serials, 270);
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM demo_near_serial d JOIN firearm s ON s.id = d.seized_firearm_id \
             JOIN firearm g ON g.id = d.traced_firearm_id WHERE s.serial_normalized = \
             g.serial_normalized OR s.manufacturer <> g.manufacturer \
             OR s.firearm_type <> g.firearm_type"
        )
        .await,
        0
    );

    // State funding.
    assert_eq!(
        count(
            &t,
            "SELECT CAST(SUM(obligated_cents) AS BIGINT) FROM funding_award \
             WHERE fiscal_year BETWEEN 2015 AND 2019"
        )
        .await,
        5_400_000_000
    );
    for category in ["FORENSICS_TRAINING", "INSPECTION_EQUIPMENT", "CANINES"] {
        assert!(
            count(
                &t,
                &format!(
                    "SELECT COUNT(*) FROM funding_award WHERE fiscal_year BETWEEN 2015 AND 2019 \
                     AND category = '{category}'"
                )
            )
            .await
                > 0
        );
    }
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM funding_award WHERE (fiscal_year BETWEEN 2015 AND 2019 AND category \
             NOT IN ('FORENSICS_TRAINING', 'INSPECTION_EQUIPMENT', 'CANINES')) \
             OR disbursed_cents > obligated_cents OR owner_agency <> 'STATE'"
        )
        .await,
        0
    );
    assert!(
        count(
            &t,
            "SELECT COUNT(*) FROM funding_award WHERE fiscal_year BETWEEN 2020 AND 2024"
        )
        .await
            > 0
    );

    // Training.
    let atf_2022 = |course: &str| {
        format!(
            "SELECT COUNT(*) FROM training_event WHERE provider = 'ATF' AND fiscal_year = 2022 \
             AND course = '{course}'"
        )
    };
    assert_eq!(count(&t, &atf_2022("ETRACE")).await, 12);
    assert_eq!(count(&t, &atf_2022("FIREARMS_IDENTIFICATION")).await, 18);
    assert!(
        count(
            &t,
            "SELECT SUM(participants) FROM training_event WHERE start_date <= '2023-06-30'"
        )
        .await
            > 4_000
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM training_event WHERE (course = 'ETRACE') <> (etrace_accounts_granted > 0)"
        )
        .await,
        0
    );
    assert!(
        count(
            &t,
            "SELECT COUNT(*) FROM training_event WHERE funding_award_id IS NOT NULL"
        )
        .await
            > 0
    );
    assert!(
        count(
            &t,
            "SELECT COUNT(*) FROM training_event WHERE fiscal_year <> 2022"
        )
        .await
            > 0
    );

    // eTrace access of Mexican state prosecutors.
    let access = |by: &str| {
        format!(
            "SELECT COUNT(*) FROM agency WHERE kind = 'MX_STATE' AND etrace_access_since <= '{by}'"
        )
    };
    assert_eq!(count(&t, &access("2021-08-31")).await, 6);
    assert_eq!(count(&t, &access("2023-06-30")).await, 18);
    assert_eq!(count(&t, &access("2024-06-30")).await, 22);
    assert_eq!(count(&t, &access("2025-09-30")).await, 32);
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM agency WHERE code = 'FGR' AND etrace_access_since < \
             (SELECT MIN(etrace_access_since) FROM agency WHERE kind = 'MX_STATE')"
        )
        .await,
        1
    );

    // Performance measures for each agency.
    for agency in ["ATF", "ICE", "CBP", "STATE"] {
        assert!(
            count(
                &t,
                &format!(
                    "SELECT COUNT(*) FROM performance_measure WHERE owner_agency = '{agency}'"
                )
            )
            .await
                >= 2
        );
    }
    for table in [
        "trace",
        "firearm",
        "seizure",
        "funding_award",
        "training_event",
    ] {
        assert_eq!(
            count(
                &t,
                &format!(
                    "SELECT COUNT(*) FROM {table} WHERE source_system <> 'demo' OR version <> 1"
                )
            )
            .await,
            0,
            "{table} provenance"
        );
    }
}

async fn assert_links_match_counts(t: &TestDb) {
    assert_eq!(
        count(
            t,
            "SELECT COUNT(*) FROM seizure s WHERE s.firearm_count < 1 OR s.firearm_count <> \
             (SELECT COUNT(*) FROM seizure_firearm l WHERE l.seizure_id = s.id)"
        )
        .await,
        0,
        "seizure.firearm_count equals its links"
    );
}

/// Seized guns that were traced are found through links: the seizing agency's record of the gun is
/// linked to ATF's, recorded exactly alike or with the serial written differently. No seizure
/// holds ATF's record itself.
async fn assert_cross_agency_matches(t: &TestDb) {
    let shared = count(
        t,
        "SELECT COUNT(*) FROM seizure_firearm l WHERE EXISTS \
         (SELECT 1 FROM trace t WHERE t.firearm_id = l.firearm_id)",
    )
    .await;
    assert_eq!(shared, 0, "no seizure holds ATF's firearm record");
    let linked_to_trace = |same_serial: &str| {
        format!(
            "SELECT COUNT(*) FROM seizure_firearm l JOIN firearm f ON f.id = l.firearm_id \
             WHERE EXISTS (SELECT 1 FROM firearm_link k JOIN firearm g \
               ON g.id IN (k.firearm_id, k.linked_firearm_id) AND g.id <> f.id \
               JOIN trace t ON t.firearm_id = g.id \
               WHERE f.id IN (k.firearm_id, k.linked_firearm_id) \
               AND g.serial_number {same_serial} f.serial_number)"
        )
    };
    let same_row = count(t, &linked_to_trace("=")).await;
    let by_serial = count(t, &linked_to_trace("<>")).await;
    let links = count(t, "SELECT COUNT(*) FROM seizure_firearm").await;
    assert!(
        same_row > 0 && by_serial > 0,
        "{same_row} same rows, {by_serial} by serial"
    );
    assert!(
        (same_row + by_serial) * 100 < links * 30,
        "a share, not most"
    );
}

#[tokio::test]
async fn the_same_seed_gives_identical_data_and_another_seed_different_data() {
    let (a, b, c) = (
        TestDb::new().await,
        TestDb::new().await,
        TestDb::new().await,
    );
    demo::generate(&a.db, &options(7, 0.02))
        .await
        .expect("first run");
    demo::generate(&b.db, &options(7, 0.02))
        .await
        .expect("second run");
    demo::generate(&c.db, &options(8, 0.02))
        .await
        .expect("other seed");
    let traces = |t: &TestDb| {
        let db = t.db.clone();
        async move {
            trace::Entity::find()
                .order_by_asc(trace::Column::Id)
                .all(&db)
                .await
                .expect("traces")
        }
    };
    let firearms = |t: &TestDb| {
        let db = t.db.clone();
        async move {
            firearm::Entity::find()
                .order_by_asc(firearm::Column::Id)
                .all(&db)
                .await
                .expect("firearms")
        }
    };
    let seizures = |t: &TestDb| {
        let db = t.db.clone();
        async move {
            seizure::Entity::find()
                .order_by_asc(seizure::Column::Id)
                .all(&db)
                .await
                .expect("seizures")
        }
    };
    let (ta, tb, tc) = (traces(&a).await, traces(&b).await, traces(&c).await);
    assert!(!ta.is_empty());
    assert_eq!(ta, tb, "same seed, same traces");
    assert_eq!(
        firearms(&a).await,
        firearms(&b).await,
        "same seed, same firearms"
    );
    assert_eq!(
        seizures(&a).await,
        seizures(&b).await,
        "same seed, same seizures"
    );
    let fingerprint = "SELECT SUM(time_to_crime_days) + COUNT(DISTINCT recovery_state) \
                       + SUM(CASE WHEN source_class = 'FOREIGN' THEN recovery_year ELSE 0 END) \
                       FROM trace";
    assert_eq!(a.scalar(fingerprint).await, b.scalar(fingerprint).await);
    assert_ne!(ta, tc, "another seed, other traces");
    assert_eq!(ta.len(), tc.len(), "the same volumes whatever the seed");
}

#[tokio::test]
async fn a_database_that_already_holds_records_is_refused() {
    let t = TestDb::new().await;
    demo::generate(&t.db, &options(1, 0.01))
        .await
        .expect("first run");
    assert!(!demo::is_empty(&t.db).await.expect("emptiness check"));
    let before = t.scalar("SELECT COUNT(*) FROM trace").await;
    let error = demo::generate(&t.db, &options(1, 0.01))
        .await
        .expect_err("a second run is refused");
    assert!(error.to_string().contains("already holds"), "{error}");
    assert_eq!(t.scalar("SELECT COUNT(*) FROM trace").await, before);
}

#[tokio::test]
async fn a_scale_of_five_hundredths_produces_proportionally_fewer_traces() {
    let t = TestDb::new().await;
    let summary = demo::generate(&t.db, &options(demo::DEFAULT_SEED, 0.05))
        .await
        .expect("demo data generates");
    let all = t.scalar("SELECT COUNT(*) FROM trace").await;
    assert_eq!(all, i64::try_from(summary.traces).expect("fits"));
    // 218,526 × 0.05 ≈ 10,926, rounded per year.
    assert!((all - 10_926).abs() <= 6, "{all} traces");
    assert_eq!(
        t.scalar("SELECT COUNT(*) FROM trace WHERE recovery_year = 2016")
            .await,
        673
    );
    let us = t
        .scalar(
            "SELECT COUNT(*) FROM trace WHERE recovery_year BETWEEN 2014 AND 2018 \
             AND source_class IN ('US_MANUFACTURED', 'US_IMPORTED')",
        )
        .await;
    let gao = t
        .scalar("SELECT COUNT(*) FROM trace WHERE recovery_year BETWEEN 2014 AND 2018")
        .await;
    assert!((690..=710).contains(&per_mille(us, gao)));
    assert_eq!(
        t.scalar(
            "SELECT SUM(firearm_count) FROM seizure WHERE seizing_agency = 'CBP' \
             AND fiscal_year BETWEEN 2014 AND 2019"
        )
        .await,
        35
    );
    assert_links_match_counts(&t).await;
}

#[tokio::test]
async fn an_invalid_scale_is_refused() {
    let t = TestDb::new().await;
    for scale in [0.0, -1.0, f64::NAN, 1e9] {
        assert!(
            demo::generate(&t.db, &options(1, scale)).await.is_err(),
            "scale {scale}"
        );
    }
    assert!(demo::is_empty(&t.db).await.expect("emptiness check"));
}
