//! The client examples of `examples/clients/` against a running hub: the Python client (paging
//! with cursors, an automatic persisted query, the streaming export, a subscription over
//! WebSocket) and the curl session. The Python client runs with `requests` and `websockets`
//! installed on first use into a virtual environment under `target/`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use entity::Role;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// The `requests` release the Python client runs with.
const REQUESTS: &str = "2.32.3";

/// The `websockets` release the Python client subscribes with.
const WEBSOCKETS: &str = "14.2";

/// How long the Python client may take to page, export and announce its subscription.
const SUBSCRIBED_WAIT: Duration = Duration::from_secs(120);

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/clients");

/// The Python of a virtual environment holding `requests` and `websockets`, made on first use.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("requests-{REQUESTS}-websockets-{WEBSOCKETS}"));
        let python = venv.join("bin").join("python");
        if has_packages(&python) {
            return python;
        }
        // Made beside its final place and renamed, so concurrent test runs never see half of it.
        let building = venv.with_extension(format!("building-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&building);
        run(Command::new("python3").arg("-m").arg("venv").arg(&building));
        run(Command::new(building.join("bin").join("python")).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("requests=={REQUESTS}"),
            &format!("websockets=={WEBSOCKETS}"),
        ]));
        if std::fs::rename(&building, &venv).is_err() {
            let _ = std::fs::remove_dir_all(&building);
        }
        assert!(
            has_packages(&python),
            "requests {REQUESTS} and websockets {WEBSOCKETS} are not importable from {}",
            python.display()
        );
        python
    })
}

/// Whether `python` imports the pinned `requests` and `websockets`.
fn has_packages(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            &format!(
                "import sys, requests, websockets; from importlib.metadata import version; \
                 sys.exit((version('requests'), version('websockets')) != ('{REQUESTS}', '{WEBSOCKETS}'))"
            ),
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A hub with the fixtures and a few hundred more traces in the states the clients ask for, so
/// the Python client pages several times.
async fn app() -> TestApp {
    app_with(|_| {}).await
}

/// [`app`] with its settings adjusted.
async fn app_with(adjust: impl FnOnce(&mut firearms_hub::config::Settings)) -> TestApp {
    let app = spawn_app_with(adjust).await;
    fixtures::load(&app.db.db).await;
    let atf = app.as_role(Role::Atf);
    let rows: Vec<Value> = (0..230)
        .map(|i| {
            let mut trace =
                fixtures::trace_input(&format!("CLIENT-{i:03}"), &format!("CLIENT-F-{i:03}"));
            if i % 2 == 0 {
                trace["recoveryState"] = Value::from("MX-SON");
            }
            trace
        })
        .collect();
    let imported = atf
        .query(
            "mutation($rows: [TraceInput!]!) { importTraces(rows: $rows) { accepted rejected } }",
            serde_json::json!({ "rows": rows }),
        )
        .await;
    assert!(imported["errors"].is_null(), "{imported}");
    app
}

/// Creates a trace as ATF, recovered in `state`.
async fn create_trace(app: &TestApp, number: &str, state: &str) {
    let mut input = fixtures::trace_input(number, &format!("{number}-F"));
    input["recoveryState"] = Value::from(state);
    let created = app
        .as_role(Role::Atf)
        .query(
            "mutation($input: TraceInput!) { createTrace(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");
}

#[tokio::test]
async fn the_python_client_pages_makes_a_persisted_query_exports_and_subscribes() {
    // A token may send 4 requests at once and 10 a second: the client's pages, APQ calls and
    // export exceed that, so it must wait out the 429s as a long paging job would.
    let app = app_with(|s| {
        s.limits.rate_burst = 4;
        s.limits.rate_per_second = 10.0;
    })
    .await;
    // The client is a system of its own (its own token subject and request rate); the test's
    // writes below go as another ATF subject.
    let token = firearms_hub::auth::mint_dev_token(
        &app.settings.auth,
        Role::Atf,
        &[],
        std::time::Duration::from_secs(600),
        "atf-case-system",
    )
    .expect("token minted");
    let mut client = Command::new(python())
        .arg(format!("{EXAMPLES}/hub_client.py"))
        .env("HUB_URL", &app.address)
        .env("HUB_TOKEN", token)
        .env("HUB_PURPOSE", "client example test")
        .env("HUB_EVENTS", "2")
        .env("HUB_WAIT", "60")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the Python client starts");
    // Its stderr, read on a thread of its own: the line `subscribed` says the hub took the
    // subscription, and everything it wrote comes back when it ends.
    let stderr = client.stderr.take().expect("the client's stderr");
    let (subscribed, announced) = tokio::sync::oneshot::channel();
    let reader = std::thread::spawn(move || {
        let mut subscribed = Some(subscribed);
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.trim() == "subscribed"
                && let Some(subscribed) = subscribed.take()
            {
                let _ = subscribed.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    if !matches!(
        tokio::time::timeout(SUBSCRIBED_WAIT, announced).await,
        Ok(Ok(()))
    ) {
        let _ = client.kill();
        let mut stdout = String::new();
        if let Some(mut out) = client.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        let status = client.wait();
        let stderr = reader.join().unwrap_or_default();
        panic!(
            "the client did not say `subscribed` within {SUBSCRIBED_WAIT:?} ({status:?}): \
             {stdout}{stderr}"
        );
    }

    // Written after the subscription was taken: two in the client's states, one not.
    create_trace(&app, "CLIENT-SUB-1", "MX-SON").await;
    create_trace(&app, "CLIENT-SUB-2", "MX-BCN").await;
    create_trace(&app, "CLIENT-SUB-3", "MX-CHH").await;

    let output = tokio::task::spawn_blocking(move || client.wait_with_output())
        .await
        .expect("the client's task")
        .expect("the client ends");
    let stderr = reader.join().expect("the client's stderr");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON report");
    // T-1 (MX-SON) and the 230 traces of MX-SON and MX-CHH.
    assert_eq!(report["rows"], 231, "{report}");
    assert_eq!(report["totalCount"], 231, "{report}");
    assert_eq!(report["pages"], 3, "{report}");
    assert_eq!(report["exportRows"], 231, "{report}");
    assert_eq!(report["apq"], "supported", "{report}");
    assert_eq!(report["apqTotalCount"], 231, "{report}");
    assert_eq!(
        report["exportWithheldFields"], "purchaserName",
        "ATF without the pii scope: {report}"
    );
    assert_eq!(report["subscribed"], true, "{report}");
    assert_eq!(
        report["events"],
        json!(["CLIENT-SUB-1", "CLIENT-SUB-3"]),
        "the traces of MX-SON and MX-CHH, in order, and not the one of MX-BCN: {report}"
    );
}

#[tokio::test]
async fn the_python_clients_subscription_names_a_refused_token() {
    let app = spawn_app().await;
    // The subscription step alone (the pages before it would be refused over HTTP first).
    let python = python().to_owned();
    let address = app.address.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .current_dir(EXAMPLES)
            .args([
                "-c",
                "import hub_client; hub_client.subscribe({'recoveryState': ['MX-SON']})",
            ])
            .env("HUB_URL", address)
            .env("HUB_TOKEN", "garbage")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .output()
            .expect("the Python client runs")
    })
    .await
    .expect("the client's task");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("closed the subscription's connection with 4403 (the token was refused)"),
        "{stderr}"
    );
    assert!(!stderr.contains("Traceback"), "{stderr}");
}

#[tokio::test]
async fn the_curl_session_runs_to_its_end() {
    let app = app().await;
    let atf = app.as_role(Role::Atf);
    let out = tempfile::tempdir().expect("a directory for the exports");
    let output = tokio::task::spawn_blocking({
        let address = app.address.clone();
        let token = atf.token().to_owned();
        let dir = out.path().to_owned();
        move || {
            Command::new("bash")
                .arg(format!("{EXAMPLES}/session.sh"))
                .env("HUB_URL", address)
                .env("HUB_TOKEN", token)
                .env("HUB_OUT", dir)
                .output()
                .expect("the curl session runs")
        }
    })
    .await
    .expect("the session's task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("\"role\":\"ATF\""), "{stdout}");
    assert!(
        stdout.contains("exported 231 CSV rows and 231 NDJSON rows"),
        "{stdout}"
    );
    assert!(
        stdout.contains("a misspelt filter field: HTTP 400"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(out.path().join("traces.csv")).expect("the CSV");
    assert!(csv.starts_with("id,traceNumber,"), "{csv}");
}
