//! Programmes rather than volumes: State funding awards, ATF and State training events, the eTrace
//! access dates of Mexican agencies, and the agencies' performance measures. None of these scale.

use chrono::{Duration, NaiveDate};
use entity::{
    Agency, CourseKind, FundingCategory, funding_award, performance_measure, training_event,
};
use rand::Rng;
use rand::seq::SliceRandom;
use sea_orm::DatabaseConnection;

use super::calibration as cal;
use super::{Gen, SOURCE_SYSTEM, allocate};
use crate::domain::calendar::{fiscal_year, fiscal_year_bounds};
use crate::domain::codes::MX_STATES;
use crate::store::{self, demo::MaxIds};

pub(super) const FUNDING_PROGRAM: &str = "Merida Initiative: firearms interdiction";

pub(super) struct Programs {
    pub funding_awards: u64,
    pub training_events: u64,
    pub performance_measures: u64,
    pub etrace_agencies: u64,
}

pub(super) async fn generate(
    db: &DatabaseConnection,
    g: &mut Gen,
    ids: MaxIds,
) -> anyhow::Result<Programs> {
    let awards = funding_awards(g, ids.funding_award)?;
    let events = training_events(g, ids.training_event, &awards)?;
    let measures = performance_measures(g, ids.performance_measure)?;
    let access = etrace_access(g)?;
    store::demo::insert_programs(db, &awards, &events, &measures, &access).await?;
    Ok(Programs {
        funding_awards: awards.len() as u64,
        training_events: events.len() as u64,
        performance_measures: measures.len() as u64,
        etrace_agencies: access.len() as u64,
    })
}

fn date(y: i32, m: u32, d: u32) -> anyhow::Result<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| anyhow::anyhow!("invalid date {y}-{m}-{d}"))
}

fn random_between(g: &mut Gen, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    from + Duration::days(g.rng.random_range(0..=(to - from).num_days().max(0)))
}

/// One planned award, in whole dollars.
struct Award {
    fy: i32,
    category: FundingCategory,
    implementer: Option<Agency>,
    recipient: &'static str,
    description: &'static str,
    dollars: u64,
}

/// Exactly $54,000,000 in FY2015–2019 over forensics training, inspection equipment and canines,
/// then awards of other kinds in FY2020–2024. Whole dollars, stored as cents.
fn funding_awards(g: &mut Gen, id_base: i64) -> anyhow::Result<Vec<funding_award::Model>> {
    let mut plan = published_awards();
    plan.extend(later_awards(g));
    let mut awards = Vec::with_capacity(plan.len());
    let mut sequence = std::collections::HashMap::new();
    for (index, award) in plan.into_iter().enumerate() {
        let n = sequence.entry(award.fy).or_insert(0u32);
        *n += 1;
        let obligated = i64::try_from(award.dollars)? * 100;
        // Older awards are mostly spent; recent ones less so.
        let spent_per_mille = if award.fy <= 2021 {
            g.rng.random_range(820..=1000)
        } else {
            g.rng.random_range(150..=700)
        };
        let disbursed = obligated / 100 * spent_per_mille / 1000 * 100;
        awards.push(funding_award::Model {
            id: id_base + 1 + i64::try_from(index)?,
            award_number: format!("INL-MX-FY{}-{:03}", award.fy, n),
            fiscal_year: award.fy,
            program: FUNDING_PROGRAM.to_owned(),
            category: award.category,
            implementing_agency: award.implementer,
            recipient: award.recipient.to_owned(),
            obligated_cents: obligated,
            disbursed_cents: disbursed.min(obligated),
            description: Some(award.description.to_owned()),
            owner_agency: Agency::State,
            source_system: SOURCE_SYSTEM.to_owned(),
            ingested_at: g.ingested_at,
            version: 1,
        });
    }
    Ok(awards)
}

/// The published FY2015–2019 total over forensics training, inspection equipment and canines.
fn published_awards() -> Vec<Award> {
    let forensics = (
        FundingCategory::ForensicsTraining,
        Some(Agency::Atf),
        "Fiscalía General de la República: forensic laboratories",
        "Forensic firearms examination training and laboratory support",
    );
    let inspection = (
        FundingCategory::InspectionEquipment,
        Some(Agency::Cbp),
        "Administración General de Aduanas: southbound inspection",
        "Non-intrusive inspection equipment for southbound traffic",
    );
    let canines = (
        FundingCategory::Canines,
        Some(Agency::Cbp),
        "Administración General de Aduanas: canine units",
        "Firearms and ammunition detection canines and handler training",
    );
    let mut plan = Vec::new();
    let years = [2015, 2016, 2017, 2018, 2019];
    let per_year = allocate(cal::STATE_FUNDING_FY2015_2019_DOLLARS, &[8, 10, 12, 12, 12]);
    for (fy, total) in years.into_iter().zip(per_year) {
        let per_category = allocate(total, &[46, 34, 20]);
        for (kind, amount) in [forensics, inspection, canines]
            .into_iter()
            .zip(per_category)
        {
            let parts = if kind.0 == FundingCategory::Canines {
                vec![amount]
            } else {
                allocate(amount, &[60, 40])
            };
            for dollars in parts {
                plan.push(Award {
                    fy,
                    category: kind.0,
                    implementer: kind.1,
                    recipient: kind.2,
                    description: kind.3,
                    dollars,
                });
            }
        }
    }
    plan
}

/// FY2020–2024: one award of each later kind a year, its amount drawn from the kind's range (in
/// thousands of dollars).
fn later_awards(g: &mut Gen) -> Vec<Award> {
    let later = [
        (
            FundingCategory::EtraceOutreach,
            Some(Agency::Atf),
            "Fiscalías Generales de los Estados: eTrace users",
            "eTrace accounts, training and outreach to state prosecutors",
            (1_200, 2_500),
        ),
        (
            FundingCategory::FirearmsIdentification,
            Some(Agency::Atf),
            "Fiscalía General de la República and state prosecutors",
            "Firearms identification courses for investigators",
            (2_000, 4_000),
        ),
        forensics_later(),
        (
            FundingCategory::InspectionEquipment,
            Some(Agency::Cbp),
            "Agencia Nacional de Aduanas de México",
            "Southbound inspection equipment at ports of entry",
            (2_000, 5_000),
        ),
        (
            FundingCategory::Other,
            None,
            "Secretaría de Seguridad y Protección Ciudadana",
            "Program evaluation and data sharing",
            (500, 1_500),
        ),
    ];
    let mut plan = Vec::new();
    for fy in 2020..=2024 {
        for (category, implementer, recipient, description, (low, high)) in later {
            let thousands: u64 = g.rng.random_range(low..=high);
            plan.push(Award {
                fy,
                category,
                implementer,
                recipient,
                description,
                dollars: thousands * 1_000,
            });
        }
    }
    plan
}

type LaterAward = (
    FundingCategory,
    Option<Agency>,
    &'static str,
    &'static str,
    (u64, u64),
);

fn forensics_later() -> LaterAward {
    (
        FundingCategory::ForensicsTraining,
        Some(Agency::Atf),
        "Fiscalía General de la República: forensic laboratories",
        "Ballistics and firearms forensics training",
        (3_000, 6_000),
    )
}

/// Courses per fiscal year: (provider, course, count). FY2022 holds the published ATF counts.
fn course_plan() -> Vec<(i32, Agency, CourseKind, u32)> {
    use Agency::{Atf, State};
    use CourseKind::{Canine, Etrace, FirearmsIdentification as Fid, Forensics, Inspection, Other};
    let mut plan = vec![
        (2016, Atf, Etrace, 3),
        (2016, Atf, Fid, 4),
        (2016, State, Forensics, 2),
        (2016, State, Canine, 1),
        (2017, Atf, Etrace, 4),
        (2017, Atf, Fid, 6),
        (2017, State, Forensics, 3),
        (2017, State, Canine, 1),
        (2017, State, Inspection, 1),
        (2018, Atf, Etrace, 4),
        (2018, Atf, Fid, 7),
        (2018, State, Forensics, 3),
        (2018, State, Canine, 1),
        (2018, State, Inspection, 1),
        (2019, Atf, Etrace, 5),
        (2019, Atf, Fid, 7),
        (2019, State, Forensics, 3),
        (2019, State, Canine, 2),
        (2019, State, Inspection, 1),
        (2020, Atf, Etrace, 3),
        (2020, Atf, Fid, 3),
        (2020, State, Forensics, 1),
        (2020, State, Other, 1),
        (2021, Atf, Etrace, 6),
        (2021, Atf, Fid, 6),
        (2021, State, Forensics, 2),
        (2021, State, Other, 1),
        (2022, Atf, Etrace, cal::ATF_ETRACE_COURSES_FY2022),
        (2022, Atf, Fid, cal::ATF_FIREARMS_ID_COURSES_FY2022),
        (2022, State, Forensics, 3),
        (2022, State, Inspection, 2),
        (2022, State, Other, 1),
        (2023, Atf, Etrace, 10),
        (2023, Atf, Fid, 10),
        (2023, State, Forensics, 3),
        (2023, State, Inspection, 1),
        (2024, Atf, Etrace, 9),
        (2024, Atf, Fid, 9),
        (2024, State, Forensics, 2),
        (2024, State, Canine, 1),
    ];
    plan.sort_by_key(|p| p.0);
    plan
}

fn course_code(course: CourseKind) -> &'static str {
    match course {
        CourseKind::Etrace => "ETRACE",
        CourseKind::FirearmsIdentification => "FAID",
        CourseKind::Forensics => "FORENSICS",
        CourseKind::Canine => "K9",
        CourseKind::Inspection => "INSPECT",
        CourseKind::Other => "OTHER",
    }
}

fn training_events(
    g: &mut Gen,
    id_base: i64,
    awards: &[funding_award::Model],
) -> anyhow::Result<Vec<training_event::Model>> {
    let mut events = Vec::new();
    for (fy, provider, course, count) in course_plan() {
        let (start_of_year, end_of_year) = fiscal_year_bounds(fy);
        let funding_category = match course {
            CourseKind::Forensics => Some(FundingCategory::ForensicsTraining),
            CourseKind::Canine => Some(FundingCategory::Canines),
            CourseKind::Inspection => Some(FundingCategory::InspectionEquipment),
            CourseKind::Etrace => Some(FundingCategory::EtraceOutreach),
            CourseKind::FirearmsIdentification => Some(FundingCategory::FirearmsIdentification),
            CourseKind::Other => None,
        };
        let award = funding_category.and_then(|category| {
            awards
                .iter()
                .find(|a| a.fiscal_year == fy && a.category == category)
                .map(|a| a.id)
        });
        for n in 1..=count {
            let start = random_between(g, start_of_year, end_of_year);
            let end = start + Duration::days(g.rng.random_range(0..5));
            let (participants, agency) = match course {
                CourseKind::Etrace => (g.rng.random_range(20..=40), state_or_fgr(g)),
                CourseKind::FirearmsIdentification => {
                    let federal = ["FGR", "SEDENA", "GN"];
                    let agency = if g.chance(500) {
                        federal[g.rng.random_range(0..federal.len())].to_owned()
                    } else {
                        state_or_fgr(g)
                    };
                    (g.rng.random_range(25..=45), agency)
                }
                CourseKind::Forensics => (g.rng.random_range(20..=35), state_or_fgr(g)),
                CourseKind::Canine => (g.rng.random_range(8..=16), "ANAM".to_owned()),
                CourseKind::Inspection => (g.rng.random_range(15..=30), "ANAM".to_owned()),
                CourseKind::Other => (g.rng.random_range(80..=200), "FGR".to_owned()),
            };
            let mexican_state = agency
                .strip_prefix("FGE-")
                .map(|state| format!("MX-{state}"));
            let accounts = if course == CourseKind::Etrace {
                g.rng.random_range(8..=participants.min(30))
            } else {
                0
            };
            // State-funded courses draw on the year's award; ATF courses on some of them.
            let funded = provider == Agency::State || g.chance(500);
            events.push(training_event::Model {
                id: id_base + 1 + i64::try_from(events.len())?,
                reference: format!(
                    "{}-MX-FY{:02}-{}-{:02}",
                    provider.as_str(),
                    fy % 100,
                    course_code(course),
                    n
                ),
                course,
                provider,
                start_date: start,
                end_date: end,
                fiscal_year: fiscal_year(start),
                mexican_agency: agency,
                mexican_state,
                participants,
                etrace_accounts_granted: accounts,
                funding_award_id: if funded { award } else { None },
                owner_agency: provider,
                source_system: SOURCE_SYSTEM.to_owned(),
                ingested_at: g.ingested_at,
                version: 1,
            });
        }
    }
    Ok(events)
}

fn state_or_fgr(g: &mut Gen) -> String {
    if g.chance(250) {
        "FGR".to_owned()
    } else {
        let state = MX_STATES[g.rng.random_range(0..MX_STATES.len())].0;
        format!("FGE-{}", state.trim_start_matches("MX-"))
    }
}

/// eTrace access dates: FGR long before, then the 32 state prosecutors' offices in a seeded order,
/// so that exactly 6, 18, 22 and 32 have access by the published milestones.
fn etrace_access(g: &mut Gen) -> anyhow::Result<Vec<(String, NaiveDate)>> {
    let mut states: Vec<String> = MX_STATES
        .iter()
        .map(|(code, _)| format!("FGE-{}", code.trim_start_matches("MX-")))
        .collect();
    states.shuffle(&mut g.rng);
    let mut access = vec![("FGR".to_owned(), date(2009, 12, 1)?)];
    let mut from = date(2019, 1, 1)?;
    let mut given = 0;
    for (milestone, reached) in cal::ETRACE_STATE_MILESTONES {
        let to = crate::domain::calendar::parse_date(milestone).map_err(anyhow::Error::msg)?;
        for code in states.iter().take(reached).skip(given) {
            access.push((code.clone(), random_between(g, from, to)));
        }
        given = reached;
        from = to + Duration::days(1);
    }
    Ok(access)
}

/// Code, owner, goal, indicator, metric, baseline, target, period start and end.
type MeasureRow = (
    &'static str,
    Agency,
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    NaiveDate,
    NaiveDate,
);

/// Measures of the kind GAO-21-322 recommended (recommendations 5–8: ATF, ICE, CBP and State
/// should each set goals, indicators and targets for their efforts against trafficking to Mexico).
fn performance_measures(g: &Gen, id_base: i64) -> anyhow::Result<Vec<performance_measure::Model>> {
    let rows = measure_rows()?;
    let mut measures = Vec::with_capacity(rows.len());
    for (index, (code, agency, goal, indicator, metric, baseline, target, start, end)) in
        rows.into_iter().enumerate()
    {
        measures.push(performance_measure::Model {
            id: id_base + 1 + i64::try_from(index)?,
            code: code.to_owned(),
            goal: goal.to_owned(),
            indicator: indicator.to_owned(),
            metric: metric.to_owned(),
            baseline,
            target,
            period_start: start,
            period_end: end,
            owner_agency: agency,
            source_system: SOURCE_SYSTEM.to_owned(),
            ingested_at: g.ingested_at,
            version: 1,
            parameters: measure_parameters(code).to_owned(),
            retired_at: None,
        });
    }
    Ok(measures)
}

/// The metric parameters of a demo measure (JSON): ATF's officials are those of ATF's own courses,
/// CBP's matched firearms those CBP seized, State's eTrace accounts those of funded courses.
fn measure_parameters(code: &str) -> &'static str {
    match code {
        "ATF-OFFICIALS-TRAINED" => r#"{"provider":"ATF"}"#,
        "CBP-OUTBOUND-TRACED" => r#"{"seizingAgency":"CBP"}"#,
        "STATE-ETRACE-ACCOUNTS" => r#"{"funded":"true"}"#,
        _ => "{}",
    }
}

/// The measures, one row each.
#[rustfmt::skip]
fn measure_rows() -> anyhow::Result<[MeasureRow; 9]> {
    Ok([
        ("ATF-ETRACE-STATES", Agency::Atf, "Expand tracing by Mexican state prosecutors", "Mexican state prosecutors' offices with eTrace access", "etrace_state_agencies", 6, 32, date(2021, 9, 1)?, date(2025, 9, 30)?),
        ("ATF-TRACE-PURCHASER", Agency::Atf, "Identify the U.S. sources of firearms recovered in Mexico", "Share of Mexico traces traced to a U.S. retail purchaser, per mille", "traces_to_purchaser_per_mille", 336, 450, date(2022, 1, 1)?, date(2024, 12, 31)?),
        ("ATF-OFFICIALS-TRAINED", Agency::Atf, "Build Mexican capacity to identify and trace firearms", "Mexican officials trained in eTrace and firearms identification", "officials_trained", 4_000, 6_000, date(2023, 7, 1)?, date(2025, 9, 30)?),
        ("ICE-TASK-FORCE-FIREARMS", Agency::Ice, "Disrupt trafficking networks along the southwest border", "Firearms seized by HSI-led southwest border task forces per fiscal year", "ice_task_force_firearms", 368, 450, date(2020, 10, 1)?, date(2024, 9, 30)?),
        ("ICE-JOINT-OPERATION", Agency::Ice, "Coordinate southbound interdiction with CBP", "Firearms seized in the joint ICE-CBP southbound operation per fiscal year", "joint_operation_firearms", 180, 700, date(2020, 3, 1)?, date(2024, 9, 30)?),
        ("CBP-OUTBOUND-FIREARMS", Agency::Cbp, "Interdict southbound firearms at ports of entry", "Firearms seized in outbound inspections at southwest border ports per fiscal year", "cbp_outbound_firearms", 115, 500, date(2020, 10, 1)?, date(2024, 9, 30)?),
        ("CBP-OUTBOUND-TRACED", Agency::Cbp, "Connect seizures with trace intelligence", "Seized firearms matched to an ATF trace by serial number", "seized_firearms_matched_to_traces", 0, 500, date(2020, 10, 1)?, date(2024, 9, 30)?),
        ("STATE-FUNDING-DISBURSED", Agency::State, "Deliver funded assistance to Mexican partners", "Share of obligated counter-firearms funding disbursed, per mille", "funding_disbursed_per_mille", 700, 900, date(2019, 10, 1)?, date(2024, 9, 30)?),
        ("STATE-ETRACE-ACCOUNTS", Agency::State, "Extend eTrace use through funded training", "eTrace accounts granted in funded courses", "etrace_accounts_granted", 0, 1_000, date(2021, 10, 1)?, date(2024, 9, 30)?),
    ])
}
