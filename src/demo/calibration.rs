//! The published figures the demo dataset reproduces, as named constants.
//!
//! Sources (all figures are public):
//! - GAO-21-322, *Firearms Trafficking: U.S. Efforts to Disrupt Gun Smuggling into Mexico Would
//!   Benefit from Additional Data and Analysis* (February 2021): ATF trace results for firearms
//!   recovered in Mexico and traced in calendar years 2014–2018, DHS (CBP, ICE) seizure figures for
//!   fiscal years 2014–2020, State funding for fiscal years 2015–2019 and eTrace access of Mexican
//!   state agencies.
//! - GAO-24-106193 / GAO-23-106187 follow-up reporting and ATF's *Firearms Trace Data: Mexico*
//!   releases (calendar years 2016–2024): traces per year, firearm types, calibers, most recovered
//!   models, U.S. source states of firearms traced to a purchase in 2022–2023, time-to-crime.
//! - State/ATF statements on training in Mexico (FY2022 course counts, officials trained by
//!   June 2023) and eTrace roll-out to Mexican state prosecutors (June 2023, mid-2024, September 2025).
//!
//! Every constant below holds exactly at `--scale 1`; larger or smaller scales multiply the trace
//! and seizure volumes and keep the shares.

/// Traces per calendar year of recovery. 2016, 2017, 2022 and 2024 are the published counts;
/// 2018–2021 and 2023 are the published rounded counts; 2014 and 2015 are chosen so that
/// 2014–2018 totals 80,000 (GAO-21-322: "about 80,000").
pub(crate) const TRACES_PER_YEAR: [(i32, u64); 11] = [
    (2014, 17_230),
    (2015, 17_185),
    (2016, 13_452),
    (2017, 16_133),
    (2018, 16_000),
    (2019, 19_000),
    (2020, 21_000),
    (2021, 23_000),
    (2022, 24_642),
    (2023, 25_000),
    (2024, 25_884),
];

/// First and last calendar year of the GAO-21-322 trace analysis.
pub(crate) const GAO_FIRST_YEAR: i32 = 2014;
pub(crate) const GAO_LAST_YEAR: i32 = 2018;

/// Source classes of the 80,000 traces of 2014–2018 (GAO-21-322): U.S.-manufactured nearly 41,000,
/// U.S.-imported just under 16,000 (together about 56,000, 70%), foreign-made about 13,000,
/// origin undetermined about 10,000.
pub(crate) const GAO_US_MANUFACTURED: u64 = 40_700;
pub(crate) const GAO_US_IMPORTED: u64 = 15_800;
pub(crate) const GAO_FOREIGN: u64 = 13_200;
pub(crate) const GAO_UNDETERMINED: u64 = 10_300;

/// U.S.-sourced firearms of 2014–2018 by kind, U.S.-manufactured row then U.S.-imported row, in
/// the order of [`super::traces::Kind::ALL`]: pistol, revolver, rifle, .50 caliber rifle, shotgun,
/// other. GAO-21-322: about 36,000 handguns, more than 19,000 rifles, 634 .50 caliber rifles.
pub(crate) const GAO_US_KINDS: [[u64; 6]; 2] = [
    [20_500, 7_100, 11_516, 634, 700, 250],
    [7_240, 1_160, 7_150, 0, 200, 50],
];

/// Firearms of 2014–2018 traced to a U.S. retail purchaser (GAO-21-322).
pub(crate) const GAO_TRACED_TO_PURCHASER: u64 = 26_860;

/// Source classes in 2019–2021 (no exact publication; about 70% U.S.-sourced as before), per mille:
/// U.S.-manufactured, U.S.-imported, foreign, undetermined.
pub(crate) const CLASS_WEIGHTS_2019_2021: [u64; 4] = [500, 200, 170, 130];
/// Share of U.S.-sourced traces of 2019–2021 traced to a purchaser, per mille.
pub(crate) const PURCHASED_PER_MILLE_2019_2021: u64 = 460;

/// Source classes in 2022–2023, per mille.
pub(crate) const CLASS_WEIGHTS_2022_2023: [u64; 4] = [510, 200, 160, 130];
/// Traces of 2022–2023 traced to a U.S. purchase (chosen so the corridor shares below hold).
pub(crate) const PURCHASED_2022_2023: u64 = 18_000;

/// 2024: 18,249 U.S.-origin traces, 13,004 U.S.-manufactured and 5,245 U.S.-imported (ATF); the
/// remaining 7,635 are split between foreign-made and undetermined.
pub(crate) const CLASSES_2024: [u64; 4] = [13_004, 5_245, 4_350, 3_285];
/// Share of U.S.-sourced traces of 2024 traced to a purchaser, per mille.
pub(crate) const PURCHASED_PER_MILLE_2024: u64 = 500;

/// Firearm types over all traces (ATF Mexico trace data), in tenths of a percent: pistols 46.7%,
/// revolvers 13.9%, rifles 31.5%, shotguns 5.7%, other 2.2%.
pub(crate) const TYPE_SHARES_PER_MILLE: [u64; 5] = [467, 139, 315, 57, 22];
/// Share of the non-2014–2018-U.S. rifles that are .50 caliber, per mille.
pub(crate) const REST_RIFLE_50_PER_MILLE: u64 = 3;

/// U.S. source states of firearms recovered in 2022–2023 and traced to a purchase (ATF): exact
/// counts of traces with that purchase state.
pub(crate) const SOURCE_TX_2022_2023: u64 = 7_825;
pub(crate) const SOURCE_AZ_2022_2023: u64 = 3_969;
pub(crate) const SOURCE_CA_2022_2023: u64 = 1_575;
pub(crate) const SOURCE_NM_2022_2023: u64 = 492;

/// Top trafficking corridors of 2022–2023 as shares of the traces traced to a purchase (ATF), in
/// tenths of a percent: AZ→Sonora 9.1%, TX→Tamaulipas 6.7%, TX→Nuevo León 6.5%, TX→Guanajuato
/// 4.7%, TX→Chihuahua 4.7%.
pub(crate) const CORRIDORS_2022_2023: [(&str, &str, u64); 5] = [
    ("AZ", "MX-SON", 91),
    ("TX", "MX-TAM", 67),
    ("TX", "MX-NLE", 65),
    ("TX", "MX-GUA", 47),
    ("TX", "MX-CHH", 47),
];

/// Median time-to-crime of Mexico recoveries traced to a purchase, in days (about 5.4 years).
pub(crate) const MEDIAN_TIME_TO_CRIME_DAYS: f64 = 1_970.0;
/// Spread of the log-normal time-to-crime.
pub(crate) const TIME_TO_CRIME_LOG_SIGMA: f64 = 0.95;

/// CBP outbound firearm seizures at southwest border ports, FY2014–FY2019: 115 a year on average
/// (690 in six fiscal years), spread over the years as below (DHS, in GAO-21-322).
pub(crate) const CBP_OUTBOUND_FY2014_2019: [(i32, u64); 6] = [
    (2014, 104),
    (2015, 121),
    (2016, 109),
    (2017, 118),
    (2018, 113),
    (2019, 125),
];
/// CBP outbound firearms seized in the first ten months of FY2020 (October 2019–July 2020).
pub(crate) const CBP_OUTBOUND_FY2020_FIRST_10_MONTHS: u64 = 321;
/// ICE task-force firearm seizures in FY2015–FY2017: 1,104 in total (DHS, in GAO-21-322).
pub(crate) const ICE_TASK_FORCE_FY2015_2017: [(i32, u64); 3] =
    [(2015, 352), (2016, 371), (2017, 381)];

/// State funding obligated in FY2015–FY2019 for forensics training, inspection equipment and
/// canines: $54 million (GAO-21-322), in whole dollars.
pub(crate) const STATE_FUNDING_FY2015_2019_DOLLARS: u64 = 54_000_000;

/// ATF courses in Mexico in FY2022 (State/ATF).
pub(crate) const ATF_ETRACE_COURSES_FY2022: u32 = 12;
pub(crate) const ATF_FIREARMS_ID_COURSES_FY2022: u32 = 18;
// Mexican officials trained by June 2023: more than 4,000 (the demo's training events reach it).

/// Mexican state prosecutors' offices with eTrace access (besides FGR): 6 by August 2021
/// (GAO-21-322 follow-up), 18 by June 2023, 22 by mid-2024, all 32 by September 2025.
pub(crate) const ETRACE_STATE_MILESTONES: [(&str, usize); 4] = [
    ("2021-08-31", 6),
    ("2023-06-30", 18),
    ("2024-06-30", 22),
    ("2025-09-30", 32),
];

/// Seized firearms traced by ATF under a near-identical serial (no published figure; the linkage
/// the hub exists for): of the seized firearms that match no trace by serial, this many per mille
/// are drawn to be a traced firearm recorded with one edit to its serial (a confusable
/// substitution, an adjacent transposition, a dropped or an added character). A draw whose edits
/// all land within one edit of another traced serial of the same manufacturer and type is left
/// matching no trace, so slightly fewer are seeded: 270 of the 9,499 seized firearms (2.8%) at
/// scale 1 with the default seed.
pub(crate) const NEAR_SERIAL_PER_MILLE: u32 = 30;
