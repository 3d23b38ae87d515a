//! Bulk import: the example files import cleanly, twice without duplicates; bad files are refused
//! with every problem named and nothing written.

use std::path::{Path, PathBuf};
use std::process::Command;

use entity::Agency;
use firearms_hub::import::{
    self, FileFormat, FileImport, FileImportError, FundingRecord, ImportError, ImportKind,
    ImportOptions, ImportOutcome, RowError, SeizureRecord, TrainingRecord,
};
use sea_orm::ConnectionTrait;

use crate::helpers::TestDb;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn request(kind: ImportKind, path: &Path) -> FileImport {
    FileImport {
        kind,
        path: path.to_owned(),
        format: None,
        dry_run: false,
        source_system: "test".to_owned(),
    }
}

fn options() -> ImportOptions {
    ImportOptions::new("test")
}

async fn import_path(
    t: &TestDb,
    kind: ImportKind,
    path: &Path,
    options: &ImportOptions,
) -> Result<ImportOutcome, FileImportError> {
    import::import_file(&t.db, &request(kind, path), options).await
}

async fn import_example(t: &TestDb, kind: ImportKind, name: &str) -> ImportOutcome {
    import_path(t, kind, &example(name), &options())
        .await
        .unwrap_or_else(|e| panic!("{name} imports: {e}: {e:?}"))
}

/// Writes `contents` to a file named `name` in a temporary directory kept alive by the result.
fn temp_file(name: &str, contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write test file");
    (dir, path)
}

fn inserted(n: usize) -> ImportOutcome {
    ImportOutcome {
        inserted: n,
        updated: 0,
        unchanged: 0,
        dry_run: false,
    }
}

const EXAMPLES: [(ImportKind, &str, usize); 8] = [
    (ImportKind::Funding, "funding.csv", 3),
    (ImportKind::Funding, "funding.json", 2),
    (ImportKind::Trainings, "trainings.csv", 4),
    (ImportKind::Trainings, "trainings.json", 2),
    (ImportKind::Traces, "traces.csv", 5),
    (ImportKind::Traces, "traces.json", 3),
    (ImportKind::Seizures, "seizures.csv", 3),
    (ImportKind::Seizures, "seizures.json", 2),
];

async fn counts(t: &TestDb) -> [i64; 6] {
    [
        t.scalar("SELECT COUNT(*) FROM trace").await,
        t.scalar("SELECT COUNT(*) FROM firearm").await,
        t.scalar("SELECT COUNT(*) FROM seizure").await,
        t.scalar("SELECT COUNT(*) FROM seizure_firearm").await,
        t.scalar("SELECT COUNT(*) FROM training_event").await,
        t.scalar("SELECT COUNT(*) FROM funding_award").await,
    ]
}

fn rejected(result: Result<ImportOutcome, FileImportError>) -> Vec<RowError> {
    match result {
        Err(FileImportError::Rows { errors, .. }) => errors,
        other => panic!("expected rejected rows, got {other:?}"),
    }
}

fn has_error(errors: &[RowError], row: usize, field: Option<&str>, needle: &str) -> bool {
    errors
        .iter()
        .any(|e| e.row == row && e.field.as_deref() == field && e.message.contains(needle))
}

#[tokio::test]
async fn every_example_file_imports_in_order_with_the_expected_counts() {
    let t = TestDb::new().await;
    for (kind, name, rows) in EXAMPLES {
        assert_eq!(
            import_example(&t, kind, name).await,
            inserted(rows),
            "{name}"
        );
    }
    // 8 traced firearms (ATF's records); the seizures hold 9 records of their agencies' own, two
    // of them guns ATF traced.
    assert_eq!(counts(&t).await, [8, 17, 5, 9, 6, 5]);
    assert_eq!(
        t.scalar("SELECT SUM(firearm_count) FROM seizure").await,
        t.scalar("SELECT COUNT(*) FROM seizure_firearm").await
    );
    assert_eq!(
        t.scalar(
            "SELECT COUNT(*) FROM seizure_firearm sf JOIN trace tr ON tr.firearm_id = sf.firearm_id"
        )
        .await,
        0,
        "a seizure never holds ATF's record"
    );
    assert_eq!(
        t.scalar(
            "SELECT COUNT(*) FROM seizure_firearm sf JOIN firearm_link l \
             ON sf.firearm_id IN (l.firearm_id, l.linked_firearm_id) JOIN trace tr \
             ON tr.firearm_id IN (l.firearm_id, l.linked_firearm_id)"
        )
        .await,
        2,
        "seized guns with a traced serial are linked to the traced firearm"
    );
    assert_eq!(
        t.scalar(
            "SELECT obligated_cents FROM funding_award WHERE award_number = 'EXAMPLE-INL-2019-001'"
        )
        .await,
        125_000_000
    );
    assert_eq!(
        t.scalar(
            "SELECT fiscal_year FROM training_event WHERE reference = 'EXAMPLE-ATF-FY20-ID-01'"
        )
        .await,
        2020,
        "fiscal years start on October 1"
    );
    assert_eq!(
        t.scalar("SELECT fiscal_year FROM seizure WHERE case_number = 'EXAMPLE-CBP-2021-0003'")
            .await,
        2021
    );
    assert_eq!(
        t.scalar("SELECT time_to_crime_days FROM trace WHERE trace_number = 'EXAMPLE-T-0103'")
            .await,
        842,
        "time to crime is derived from the dates when not given"
    );
    assert_eq!(
        t.scalar("SELECT COUNT(*) FROM seizure WHERE owner_agency = seizing_agency")
            .await,
        5
    );
    assert_eq!(
        t.scalar(
            "SELECT COUNT(*) FROM trace WHERE owner_agency = 'ATF' AND source_system = 'test'"
        )
        .await,
        8
    );
}

#[tokio::test]
async fn importing_the_same_files_twice_creates_no_duplicates() {
    let t = TestDb::new().await;
    for (kind, name, _) in EXAMPLES {
        import_example(&t, kind, name).await;
    }
    let before = counts(&t).await;
    for (kind, name, rows) in EXAMPLES {
        let again = import_example(&t, kind, name).await;
        assert_eq!(
            again,
            ImportOutcome {
                inserted: 0,
                updated: 0,
                unchanged: rows,
                dry_run: false
            },
            "{name}"
        );
    }
    assert_eq!(counts(&t).await, before);
    assert_eq!(
        t.scalar("SELECT MAX(version) FROM trace").await
            + t.scalar("SELECT MAX(version) FROM seizure").await
            + t.scalar("SELECT MAX(version) FROM firearm").await,
        3
    );
}

#[tokio::test]
async fn a_changed_row_is_updated_in_place_with_its_version_incremented() {
    let t = TestDb::new().await;
    import_example(&t, ImportKind::Traces, "traces.csv").await;
    let original = std::fs::read_to_string(example("traces.csv")).expect("example");
    let changed = original.replace(
        "EXAMPLE-T-0004,2020-06-30,GN,MX-CHH,Ciudad Juárez,PENDING",
        "EXAMPLE-T-0004,2020-06-30,GN,MX-CHH,Ciudad Juárez,NOT_TRACEABLE",
    );
    assert_ne!(original, changed);
    let (_dir, path) = temp_file("traces.csv", changed.as_bytes());
    let outcome = import_path(&t, ImportKind::Traces, &path, &options())
        .await
        .expect("changed file imports");
    assert_eq!(
        outcome,
        ImportOutcome {
            inserted: 0,
            updated: 1,
            unchanged: 4,
            dry_run: false
        }
    );
    assert_eq!(t.scalar("SELECT COUNT(*) FROM trace").await, 5);
    assert_eq!(t.scalar("SELECT COUNT(*) FROM firearm").await, 5);
    assert_eq!(
        t.scalar(
            "SELECT version FROM trace WHERE trace_number = 'EXAMPLE-T-0004' AND status = 'NOT_TRACEABLE'"
        )
        .await,
        2
    );
    assert_eq!(
        t.scalar("SELECT COUNT(*) FROM trace WHERE version = 1")
            .await,
        4
    );
}

#[tokio::test]
async fn a_seizure_that_changes_its_firearms_keeps_its_count_in_step() {
    let t = TestDb::new().await;
    import_example(&t, ImportKind::Seizures, "seizures.csv").await;
    let text = std::fs::read_to_string(example("seizures.csv")).expect("example");
    // Drop the third firearm of the ICE case.
    let fewer: String = text
        .lines()
        .filter(|l| !l.contains("EX-000888"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (_dir, path) = temp_file("seizures.csv", fewer.as_bytes());
    let outcome = import_path(&t, ImportKind::Seizures, &path, &options())
        .await
        .expect("imports");
    assert_eq!((outcome.updated, outcome.unchanged), (1, 2));
    assert_eq!(
        t.scalar(
            "SELECT firearm_count * 10 + version FROM seizure WHERE case_number = 'EXAMPLE-ICE-2020-0002'"
        )
        .await,
        22
    );
    assert_eq!(
        t.scalar("SELECT SUM(firearm_count) FROM seizure").await,
        t.scalar("SELECT COUNT(*) FROM seizure_firearm").await
    );
}

#[tokio::test]
async fn a_file_with_several_bad_rows_is_refused_with_every_problem_and_nothing_written() {
    let t = TestDb::new().await;
    import_example(&t, ImportKind::Funding, "funding.csv").await;
    let before = counts(&t).await;
    let errors = rejected(
        import_path(
            &t,
            ImportKind::Traces,
            &example("invalid/traces.csv"),
            &options(),
        )
        .await,
    );
    for (line, field, needle) in [
        (2, Some("recovery_date"), "not a date"),
        (3, Some("requesting_agency"), "unknown agency 'XYZ'"),
        (3, Some("purchase_date"), "is after recovery_date"),
        (4, Some("recovery_state"), "ISO 3166-2:MX"),
        (4, Some("status"), "'DONE' is not one of"),
        (4, Some("purchase_state"), "USPS"),
        (4, Some("firearm_type"), "'BAZOOKA'"),
        (5, Some("time_to_crime_days"), "less than 0"),
        (6, Some("recovery_date"), "in the future"),
        (6, Some("firearm_manufacturer"), "is required"),
        (6, Some("firearm_country_of_manufacture"), "contradicts"),
        (7, Some("trace_number"), "more than once (first at 2)"),
    ] {
        assert!(
            has_error(&errors, line, field, needle),
            "line {line} {field:?} '{needle}' missing from {errors:#?}"
        );
    }
    assert!(
        errors.windows(2).all(|w| w[0].row <= w[1].row),
        "problems are in line order"
    );
    assert_eq!(counts(&t).await, before, "nothing written");
}

#[tokio::test]
async fn a_dry_run_reports_what_would_happen_and_writes_nothing() {
    let t = TestDb::new().await;
    let dry = ImportOptions {
        dry_run: true,
        ..options()
    };
    let outcome = import_path(&t, ImportKind::Seizures, &example("seizures.json"), &dry)
        .await
        .expect("valid file");
    assert_eq!(
        outcome,
        ImportOutcome {
            inserted: 2,
            updated: 0,
            unchanged: 0,
            dry_run: true
        }
    );
    assert_eq!(counts(&t).await, [0, 0, 0, 0, 0, 0]);
}

#[tokio::test]
async fn malformed_files_get_clear_errors_instead_of_panics() {
    let t = TestDb::new().await;
    let cases: [(&str, &[u8], &str); 8] = [
        (
            "bad.csv",
            b"award_number,fiscal_year\nA-1,2019\n\xff\xfe,2020\n",
            "not valid UTF-8 (first bad byte on line 3)",
        ),
        ("empty.csv", b"", "the file is empty"),
        ("blank.json", b"  \n ", "the file is empty"),
        (
            "header.csv",
            b"award_number,fiscal_yr,program,category,recipient\nA-1,2019,P,OTHER,R\n",
            "unknown columns: fiscal_yr; missing required columns: fiscal_year, obligated",
        ),
        (
            "open.csv",
            b"award_number,fiscal_year,program,category,recipient,obligated\nA-1,2019,\"P,OTHER,R,1\n",
            "never closed",
        ),
        (
            "truncated.json",
            b"[{\"award_number\": \"A-1\", \"fiscal_year\": 20",
            "ends early",
        ),
        (
            "object.json",
            b"{\"award_number\": \"A-1\"}",
            "array of objects",
        ),
        ("nothing.json", b"[]", "no records"),
    ];
    for (name, contents, needle) in cases {
        let (_dir, path) = temp_file(name, contents);
        match import_path(&t, ImportKind::Funding, &path, &options()).await {
            Err(FileImportError::File(e)) => {
                assert!(
                    e.to_string().contains(needle),
                    "{name}: '{e}' lacks '{needle}'"
                );
            }
            other => panic!("{name}: expected a file error, got {other:?}"),
        }
    }
    let (_dir, path) = temp_file("funding.txt", b"award_number\n");
    assert!(matches!(
        import_path(&t, ImportKind::Funding, &path, &options()).await,
        Err(FileImportError::File(import::FileError::UnknownFormat))
    ));
    let mut explicit = request(ImportKind::Funding, &example("funding.csv"));
    explicit.format = Some(FileFormat::Csv);
    assert!(
        import::import_file(&t.db, &explicit, &options())
            .await
            .is_ok()
    );
    assert_eq!(counts(&t).await[5], 3);
}

#[tokio::test]
async fn json_values_are_checked_field_by_field() {
    let t = TestDb::new().await;
    let (_dir, path) = temp_file(
        "funding.json",
        br#"[{"award_number":"A-1","fiscal_year":2020,"program":"P","category":"OTHER","recipient":"R","obligated":1250.5},
            {"award_number":"A-2","fiscal_year":2020,"program":"P","category":"OTHER","recipient":"R","obligated":"10","colour":"red"},
            "text"]"#,
    );
    let errors = rejected(import_path(&t, ImportKind::Funding, &path, &options()).await);
    assert!(has_error(&errors, 1, Some("obligated"), "as text"));
    assert!(has_error(&errors, 2, Some("colour"), "unknown field"));
    assert!(has_error(&errors, 3, None, "not a JSON object"));
    assert_eq!(counts(&t).await[5], 0);
}

#[tokio::test]
async fn unknown_agencies_and_awards_are_named() {
    let t = TestDb::new().await;
    let row = |reference: &str, agency: &str, award: &str| TrainingRecord {
        reference: Some(reference.into()),
        course: Some("ETRACE".into()),
        provider: Some("ATF".into()),
        start_date: Some("2020-01-06".into()),
        end_date: Some("2020-01-08".into()),
        mexican_agency: Some(agency.into()),
        participants: Some("10".into()),
        funding_award_number: Some(award.into()),
        ..TrainingRecord::default()
    };
    let result = import::import_trainings(
        &t.db,
        vec![
            (1, row("R-1", "FGE-XXX", "NO-SUCH-AWARD")),
            (2, row("R-2", "CBP", "NO-SUCH-AWARD")),
        ],
        &options(),
    )
    .await;
    let Err(ImportError::Rejected { records, errors }) = result else {
        panic!("expected rejection, got {result:?}");
    };
    assert_eq!(records, 2);
    assert!(has_error(
        &errors,
        1,
        Some("mexican_agency"),
        "unknown agency 'FGE-XXX'"
    ));
    assert!(has_error(
        &errors,
        1,
        Some("funding_award_number"),
        "unknown funding award 'NO-SUCH-AWARD'"
    ));
    assert!(has_error(
        &errors,
        2,
        Some("mexican_agency"),
        "'CBP' is not a Mexican agency"
    ));
    assert_eq!(counts(&t).await[4], 0);
}

#[tokio::test]
async fn cross_field_rules_are_enforced() {
    let t = TestDb::new().await;
    let funding = FundingRecord {
        award_number: Some("A-1".into()),
        fiscal_year: Some("2020".into()),
        program: Some("P".into()),
        category: Some("OTHER".into()),
        recipient: Some("R".into()),
        obligated: Some("100.00".into()),
        disbursed: Some("100.01".into()),
        ..FundingRecord::default()
    };
    let training = TrainingRecord {
        reference: Some("R-1".into()),
        course: Some("ETRACE".into()),
        provider: Some("ATF".into()),
        start_date: Some("2020-01-06".into()),
        end_date: Some("2020-01-05".into()),
        mexican_agency: Some("FGE-SON".into()),
        mexican_state: Some("MX-CHH".into()),
        participants: Some("10".into()),
        etrace_accounts_granted: Some("11".into()),
        ..TrainingRecord::default()
    };
    let errors = import::import_funding(&t.db, vec![(1, funding)], &options())
        .await
        .expect_err("disbursed above obligated");
    assert!(has_error(
        errors.row_errors(),
        1,
        Some("disbursed"),
        "100.01 is more than the 100.00"
    ));
    let errors = import::import_trainings(&t.db, vec![(1, training)], &options())
        .await
        .expect_err("bad training");
    for (field, needle) in [
        ("end_date", "before start_date"),
        ("mexican_state", "does not match FGE-SON"),
        ("etrace_accounts_granted", "more than the 10 participants"),
    ] {
        assert!(
            has_error(errors.row_errors(), 1, Some(field), needle),
            "{field}: {errors:?}"
        );
    }
}

#[tokio::test]
async fn the_lines_of_one_seizure_case_must_agree() {
    let t = TestDb::new().await;
    let text = std::fs::read_to_string(example("seizures.csv")).expect("example");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[4] = lines[4].replace(",TX,", ",NM,");
    lines[5] = lines[5].replace("PISTOL", "CANNON");
    let (_dir, path) = temp_file("seizures.csv", (lines.join("\n") + "\n").as_bytes());
    let errors = rejected(import_path(&t, ImportKind::Seizures, &path, &options()).await);
    assert!(has_error(
        &errors,
        5,
        Some("us_state"),
        "differs from line 4"
    ));
    assert!(has_error(&errors, 6, Some("firearm_type"), "'CANNON'"));
    assert_eq!(counts(&t).await, [0, 0, 0, 0, 0, 0]);
}

#[tokio::test]
async fn an_acting_agency_cannot_import_another_agencys_records() {
    let t = TestDb::new().await;
    let as_agency = |agency| ImportOptions {
        acting_agency: Some(agency),
        ..options()
    };
    let errors = rejected(
        import_path(
            &t,
            ImportKind::Seizures,
            &example("seizures.csv"),
            &as_agency(Agency::Ice),
        )
        .await,
    );
    assert!(has_error(
        &errors,
        2,
        Some("seizing_agency"),
        "ICE may not import records owned by CBP"
    ));
    assert!(has_error(
        &errors,
        7,
        Some("seizing_agency"),
        "ICE may not import records owned by CBP"
    ));
    assert!(!errors.iter().any(|e| e.row == 4), "ICE's own case is fine");

    let errors = rejected(
        import_path(
            &t,
            ImportKind::Traces,
            &example("traces.json"),
            &as_agency(Agency::Cbp),
        )
        .await,
    );
    assert_eq!(errors.len(), 3);
    assert!(has_error(
        &errors,
        1,
        None,
        "CBP may not import records owned by ATF"
    ));
    assert_eq!(counts(&t).await, [0, 0, 0, 0, 0, 0]);

    // Each agency imports its own; CBP cannot take over an ICE case by re-importing it as CBP.
    let ice_case = SeizureRecord {
        case_number: Some("EXAMPLE-ICE-2020-0002".into()),
        seizing_agency: Some("ICE".into()),
        seized_on: Some("2020-02-10".into()),
        us_state: Some("TX".into()),
        direction: Some("INTERIOR".into()),
        ..SeizureRecord::default()
    };
    let outcome =
        import::import_seizures(&t.db, vec![(1, ice_case.clone())], &as_agency(Agency::Ice))
            .await
            .expect("ICE imports its case");
    assert_eq!(outcome.inserted, 1);
    // Case numbers are unique per owning agency: CBP's case with the same number is CBP's own
    // record, and ICE's is left as it was.
    let same_number = SeizureRecord {
        seizing_agency: Some("CBP".into()),
        us_state: Some("AZ".into()),
        ..ice_case
    };
    let outcome = import::import_seizures(&t.db, vec![(1, same_number)], &as_agency(Agency::Cbp))
        .await
        .expect("CBP imports its own case");
    assert_eq!(outcome.inserted, 1);
    assert_eq!(
        t.scalar("SELECT COUNT(*) FROM seizure WHERE owner_agency = 'ICE' AND us_state = 'TX'")
            .await,
        1
    );
    assert_eq!(
        t.scalar("SELECT COUNT(*) FROM seizure WHERE owner_agency = 'CBP' AND us_state = 'AZ'")
            .await,
        1
    );
}

#[tokio::test]
async fn the_command_line_reports_file_line_field_reason_and_exits_non_zero() {
    let t = TestDb::new().await;
    let binary = env!("CARGO_BIN_EXE_firearms-hub");
    // An empty settings file: the command line's own defaults and --database-url decide.
    let (_config_dir, config) = temp_file("hub.toml", b"");
    let hub = |args: &[&str]| {
        let mut command = Command::new(binary);
        // The child reads HUB_* settings from its environment; the test's own must not leak in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HUB_") {
                command.env_remove(key);
            }
        }
        command
            .arg("--config")
            .arg(&config)
            .args(["--database-url", &t.url])
            .args(args);
        command
    };
    let bad = example("invalid/traces.csv");
    let output = hub(&["import", "traces"])
        .arg(&bad)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let file = bad.display().to_string();
    for line in [
        format!("{file}:2: recovery_date: '2019-02-30' is not a date"),
        format!("{file}:3: requesting_agency: unknown agency 'XYZ'"),
        format!("{file}:7: trace_number: 'EXAMPLE-BAD-0001' is given more than once"),
        format!("{file}: 6 of 6 traces rejected"),
    ] {
        assert!(stderr.contains(&line), "'{line}' missing from:\n{stderr}");
    }
    assert_eq!(t.scalar("SELECT COUNT(*) FROM trace").await, 0);

    let (_dir, truncated) = temp_file("traces.json", b"[{\"trace_number\": ");
    let output = hub(&["import", "traces"])
        .arg(&truncated)
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("ends early"));

    for (args, summary) in [
        (vec!["--dry-run"], "dry run: traces from"),
        (vec![], "imported traces from"),
    ] {
        let output = hub(&["import", "traces"])
            .arg(example("traces.csv"))
            .args(args)
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(
            stderr.contains(summary) && stderr.contains("5 inserted, 0 updated, 0 unchanged"),
            "{stderr}"
        );
    }
    assert_eq!(t.scalar("SELECT COUNT(*) FROM trace").await, 5);
}

#[tokio::test]
async fn a_csv_file_with_a_byte_order_mark_imports_like_one_without() {
    let t = TestDb::new().await;
    let plain = std::fs::read(example("funding.csv")).expect("example read");
    assert!(
        !plain.starts_with(b"\xEF\xBB\xBF"),
        "the example has no BOM"
    );
    let mut marked = b"\xEF\xBB\xBF".to_vec();
    marked.extend_from_slice(&plain);
    let (_dir, path) = temp_file("funding.csv", &marked);
    assert_eq!(
        import_path(&t, ImportKind::Funding, &path, &options())
            .await
            .unwrap_or_else(|e| panic!("a BOM is fine: {e}: {e:?}")),
        inserted(3)
    );
    // The first column's name is read without the mark: the same file again changes nothing.
    assert_eq!(
        import_example(&t, ImportKind::Funding, "funding.csv").await,
        ImportOutcome {
            inserted: 0,
            updated: 0,
            unchanged: 3,
            dry_run: false,
        }
    );
}

#[tokio::test]
async fn a_json_seizures_firearm_problem_is_named_by_its_index() {
    let t = TestDb::new().await;
    let firearm = |serial: &str, kind: &str| {
        serde_json::json!({
            "firearm_manufacturer": "Example Arms Co",
            "firearm_type": kind,
            "firearm_serial_number": serial
        })
    };
    let seizure = |case: &str, firearms: Vec<serde_json::Value>| {
        serde_json::json!({
            "case_number": case, "seizing_agency": "CBP", "seized_on": "2022-03-08",
            "us_state": "TX", "direction": "OUTBOUND", "firearms": firearms
        })
    };
    let file = serde_json::json!([
        seizure(
            "JSON-IDX-1",
            vec![firearm("IDX-1", "PISTOL"), firearm("IDX-2", "BAZOOKA")]
        ),
        seizure(
            "JSON-IDX-2",
            vec![
                firearm("IDX-3", "PISTOL"),
                firearm("IDX-4", "RIFLE"),
                firearm("IDX-3", "PISTOL")
            ]
        ),
    ]);
    let (_dir, path) = temp_file("seizures.json", file.to_string().as_bytes());
    let errors = rejected(import_path(&t, ImportKind::Seizures, &path, &options()).await);
    assert!(
        has_error(&errors, 1, Some("firearms[1].firearm_type"), "BAZOOKA"),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.row == 2
            && e.field
                .as_deref()
                .is_some_and(|f| f.starts_with("firearms[2]"))),
        "the repeated firearm is the third (index 2): {errors:?}"
    );
    assert!(
        errors
            .iter()
            .all(|e| e.field.as_deref() != Some("firearm_type")),
        "a firearm's problem names its index: {errors:?}"
    );
    assert_eq!(counts(&t).await, [0, 0, 0, 0, 0, 0]);
}

#[tokio::test]
async fn a_database_failure_exits_3_and_writes_nothing() {
    let binary = env!("CARGO_BIN_EXE_firearms-hub");
    let (_config_dir, config) = temp_file("hub.toml", b"");
    let import = |url: &str, file: &Path| {
        let mut command = Command::new(binary);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HUB_") {
                command.env_remove(key);
            }
        }
        command
            .arg("--config")
            .arg(&config)
            .args(["--database-url", url, "import", "seizures"])
            .arg(file)
            .env("HUB_DATABASE_CONNECT_TIMEOUT_SECS", "2")
            .output()
            .expect("the binary runs")
    };

    // A failure in the middle of the write: the seizures and their firearms are stored, then
    // linking them fails. The transaction takes everything back.
    let t = TestDb::new().await;
    t.db.execute_unprepared("ALTER TABLE seizure_firearm RENAME TO seizure_firearm_elsewhere")
        .await
        .expect("table moved");
    let output = import(&t.url, &example("seizures.csv"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert_eq!(
        t.scalar("SELECT COUNT(*) FROM seizure").await,
        0,
        "{stderr}"
    );
    assert_eq!(
        t.scalar("SELECT COUNT(*) FROM firearm").await,
        0,
        "{stderr}"
    );
    // Control: with the table back, the same file imports.
    t.db.execute_unprepared("ALTER TABLE seizure_firearm_elsewhere RENAME TO seizure_firearm")
        .await
        .expect("table back");
    let output = import(&t.url, &example("seizures.csv"));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(t.scalar("SELECT COUNT(*) FROM seizure").await, 3);

    // A database that cannot be reached at all is a database failure too.
    let dir = tempfile::tempdir().expect("temporary directory");
    let unreachable = match std::env::var(crate::helpers::TEST_DATABASE_ENV) {
        // A port nothing listens on.
        Ok(url) if !url.trim().is_empty() => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            format!("postgres://postgres@127.0.0.1:{port}/nothing")
        }
        // A file in a directory that does not exist.
        _ => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("missing").join("hub.db").display()
        ),
    };
    let output = import(&unreachable, &example("seizures.csv"));
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_seizures_disposition_is_imported_from_csv_and_json_and_a_bad_one_is_named() {
    let t = TestDb::new().await;
    import_example(&t, ImportKind::Seizures, "seizures.csv").await;
    import_example(&t, ImportKind::Seizures, "seizures.json").await;
    let count = |sql: &'static str| async { t.scalar(sql).await };
    assert_eq!(
        count("SELECT COUNT(*) FROM seizure WHERE case_number = 'EXAMPLE-CBP-2019-0001' AND disposition = 'RETAINED_AS_EVIDENCE'").await,
        1
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM seizure WHERE case_number = 'EXAMPLE-CBP-2021-0003' AND disposition IS NULL").await,
        1,
        "an empty disposition column stores nothing"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM seizure WHERE case_number = 'EXAMPLE-CBP-2022-0101' AND disposition = 'DESTROYED'").await,
        1
    );

    let header = "case_number,seizing_agency,seized_on,us_state,direction,disposition,firearm_manufacturer,firearm_type,firearm_serial_number";
    let csv =
        format!("{header}\nCBP-BAD-DISP,CBP,2023-01-02,AZ,OUTBOUND,LOST,Ruger,RIFLE,BAD-0001\n");
    let (_dir, path) = temp_file("seizures.csv", csv.as_bytes());
    let errors = rejected(import_path(&t, ImportKind::Seizures, &path, &options()).await);
    assert!(
        has_error(&errors, 2, Some("disposition"), "'LOST' is not one of"),
        "{errors:#?}"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM seizure WHERE case_number = 'CBP-BAD-DISP'").await,
        0,
        "nothing of a refused file is written"
    );
}
