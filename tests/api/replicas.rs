//! Reads routed to a read replica, with read-your-writes: a PostgreSQL primary and a streaming
//! standby of the test's own (`initdb`, `pg_basebackup -R`), the standby made to lag on purpose
//! (`pg_wal_replay_pause()`), and a hub reading from it through `database.read_url`.
//!
//! The cluster test runs in the PostgreSQL pass (`HUB_TEST_DATABASE_URL` set); it is skipped, with
//! the reason printed, only when the PostgreSQL server binaries are not installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use entity::Role;
use firearms_hub::config::Settings;
use firearms_hub::store;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{TEST_DATABASE_ENV, TEST_DEV_SECRET, error_codes, http_client, spawn_app};

const CREATE_TRACE: &str =
    "mutation($input: TraceInput!) { createTrace(input: $input) { id traceNumber } }";
const READ_TRACE: &str = "query($id: ID!) { trace(id: $id) { traceNumber } }";

/// One answer of the hub: status, the headers this feature adds, and the body.
struct Answer {
    status: u16,
    lsn: Option<String>,
    read_from: Option<String>,
    body: Value,
}

/// Posts an operation as the holder of `token`, sending `lsn` back in `X-Hub-Lsn` when given.
async fn post(
    client: &reqwest::Client,
    address: &str,
    token: &str,
    query: &str,
    variables: Value,
    lsn: Option<&str>,
) -> Answer {
    let mut request = client
        .post(format!("{address}/graphql"))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {token}"))
        .body(json!({ "query": query, "variables": variables }).to_string());
    if let Some(lsn) = lsn {
        request = request.header("X-Hub-Lsn", lsn);
    }
    let response = request.send().await.expect("request sent");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let lsn = header("x-hub-lsn");
    let read_from = header("x-hub-read-from");
    let status = response.status().as_u16();
    let body = response.json().await.expect("a JSON body");
    Answer {
        status,
        lsn,
        read_from,
        body,
    }
}

fn token(settings: &Settings, role: Role, subject: &str) -> String {
    firearms_hub::auth::mint_dev_token(&settings.auth, role, &[], Duration::from_secs(600), subject)
        .expect("token minted")
}

#[tokio::test]
async fn a_write_hands_back_its_wal_position_on_postgresql_and_a_malformed_one_is_refused() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    let postgres = app.db.backend() == DbBackend::Postgres;
    let atf = token(&app.settings, Role::Atf, "test-atf");
    let created = post(
        &app.client,
        &app.address,
        &atf,
        CREATE_TRACE,
        json!({ "input": fixtures::trace_input("T-LSN", "LSN-0001") }),
        None,
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.body["data"]["createTrace"]["traceNumber"], "T-LSN");
    assert_eq!(
        created.lsn.is_some(),
        postgres,
        "X-Hub-Lsn comes with a write on PostgreSQL only: {:?}",
        created.lsn
    );
    assert_eq!(
        created.read_from, None,
        "no read replica, no X-Hub-Read-From"
    );
    if let Some(lsn) = &created.lsn {
        // The position covers the write: the primary has written at least that far.
        let covered = app
            .db
            .scalar(&format!(
                "SELECT CASE WHEN pg_current_wal_insert_lsn() >= '{lsn}'::pg_lsn THEN 1 ELSE 0 END"
            ))
            .await;
        assert_eq!(covered, 1, "{lsn}");
    }
    let id = created.body["data"]["createTrace"]["id"].clone();
    // A read sends the position back; with no replica it is served as before.
    let read = post(
        &app.client,
        &app.address,
        &atf,
        READ_TRACE,
        json!({ "id": id }),
        Some(created.lsn.as_deref().unwrap_or("0/0")),
    )
    .await;
    assert_eq!(read.body["data"]["trace"]["traceNumber"], "T-LSN");
    assert_eq!(read.lsn, None, "a query hands back no write position");
    for bad in ["yesterday", "0/", "1/2/3", "123456789/0"] {
        let refused = post(
            &app.client,
            &app.address,
            &atf,
            READ_TRACE,
            json!({ "id": id }),
            Some(bad),
        )
        .await;
        assert_eq!(refused.status, 400, "{bad}: {}", refused.body);
        assert_eq!(error_codes(&refused.body), ["BAD_USER_INPUT"], "{bad}");
        let message = refused.body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains("X-Hub-Lsn"), "{message}");
    }
}

#[test]
fn a_read_url_is_refused_unless_both_databases_are_postgresql() {
    let mut settings = Settings::for_database("sqlite://hub.db?mode=rwc");
    settings.database.read_url = Some("postgres://hub@replica:5432/hub".to_owned());
    let error = settings.database.check_read_url().expect_err("refused");
    assert!(
        error.to_string().contains("database.url is not PostgreSQL"),
        "{error}"
    );
    let mut settings = Settings::for_database("postgres://hub:secret@primary:5432/hub");
    settings.database.read_url = Some("sqlite://replica.db".to_owned());
    let error = settings.database.check_read_url().expect_err("refused");
    assert!(
        error.to_string().contains("must be a PostgreSQL URL"),
        "{error}"
    );
    settings.database.read_url = Some("postgres://hub:secret@replica:5432/hub".to_owned());
    settings
        .database
        .check_read_url()
        .expect("two PostgreSQL URLs");
    // A server built over a pool alone refuses a read URL it was not given the pool of.
    let error = firearms_hub::server::Application::build_with(
        settings,
        sea_orm::DatabaseConnection::default(),
        std::sync::Arc::new(firearms_hub::policy::Policy::default_policy()),
    )
    .err()
    .expect("refused");
    assert!(error.to_string().contains("read_url"), "{error}");
}

/// Where the PostgreSQL server binaries are, if installed.
fn server_binaries() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("HUB_TEST_PG_BINDIR")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(PathBuf::from("/usr/lib/postgresql/15/bin"));
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        candidates.push(PathBuf::from(
            String::from_utf8_lossy(&output.stdout).trim(),
        ));
    }
    candidates.into_iter().find(|dir| {
        ["initdb", "pg_ctl", "pg_basebackup"]
            .iter()
            .all(|tool| dir.join(tool).is_file())
    })
}

/// A PostgreSQL primary and its streaming standby, each a server of the test's own in a temporary
/// folder on a free port; both stopped and removed when dropped.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    primary_port: u16,
    standby_port: u16,
    /// PostgreSQL refuses to run as root: as root, the servers run as `postgres`.
    as_postgres: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Cluster {
    fn start(bin: PathBuf) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("hub-replica-")
            .tempdir()
            .expect("temporary directory");
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let cluster = Cluster {
            bin,
            dir,
            primary_port: free_port(),
            standby_port: free_port(),
            as_postgres,
        };
        if as_postgres {
            cluster.run(
                "chown",
                &["postgres:", &cluster.path("").display().to_string()],
                false,
            );
        }
        let primary = cluster.path("primary").display().to_string();
        cluster.tool(
            "initdb",
            &[
                "-D",
                &primary,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        let socket = cluster.path("").display().to_string();
        append(
            &cluster.path("primary/postgresql.conf"),
            &format!(
                "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{socket}'\n\
                 wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nfsync = off\n\
                 max_connections = 60\nshared_buffers = 32MB\n",
                cluster.primary_port
            ),
        );
        cluster.pg_ctl("primary", "start");
        let standby = cluster.path("standby").display().to_string();
        cluster.tool(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &cluster.primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                &standby,
                "-R",
                "-X",
                "stream",
            ],
        );
        append(
            &cluster.path("standby/postgresql.conf"),
            &format!("port = {}\n", cluster.standby_port),
        );
        cluster.pg_ctl("standby", "start");
        cluster
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn url(&self, port: u16, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{database}")
    }

    /// Runs a command (as `postgres` when `as_postgres`), failing the test with its output.
    fn run(&self, program: &str, args: &[&str], as_postgres: bool) {
        let mut command = if as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            Command::new(program)
        };
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn tool(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool).display().to_string();
        self.run(&program, args, self.as_postgres);
    }

    fn pg_ctl(&self, node: &str, action: &str) {
        let data = self.path(node).display().to_string();
        let log = self.path(&format!("{node}.log")).display().to_string();
        match action {
            "start" => self.tool(
                "pg_ctl",
                &["-D", &data, "-l", &log, "-w", "-t", "60", "start"],
            ),
            _ => self.tool("pg_ctl", &["-D", &data, "-m", "immediate", "-w", action]),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in ["standby", "primary"] {
            if self.path(node).join("postmaster.pid").exists() {
                let program = self.bin.join("pg_ctl").display().to_string();
                let data = self.path(node).display().to_string();
                let mut command = if self.as_postgres {
                    let mut c = Command::new("runuser");
                    c.args(["-u", "postgres", "--", &program]);
                    c
                } else {
                    Command::new(&program)
                };
                let _ = command
                    .args(["-D", &data, "-m", "immediate", "-w", "stop"])
                    .output();
            }
        }
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    file.write_all(text.as_bytes()).expect("settings appended");
}

async fn text(db: &DatabaseConnection, sql: &str) -> Option<String> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("a row");
    row.try_get_by_index::<Option<String>>(0)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("a row");
    row.try_get_by_index::<i64>(0)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Waits until the standby has replayed everything the primary has written so far.
async fn caught_up(primary: &DatabaseConnection, standby_url: &str) {
    let target = text(primary, "SELECT pg_current_wal_lsn()::text")
        .await
        .expect("a position");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(standby) = Database::connect(standby_url).await {
            let replayed = text(
                &standby,
                &format!(
                    "SELECT CASE WHEN pg_last_wal_replay_lsn() >= '{target}'::pg_lsn \
                     THEN 'yes' ELSE 'no' END"
                ),
            )
            .await;
            standby.close().await.ok();
            if replayed.as_deref() == Some("yes") {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the standby never reached {target}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_caller_reads_its_write_through_a_lagging_replica_and_reads_go_back_to_it_once_caught_up()
{
    if std::env::var(TEST_DATABASE_ENV).is_err() {
        eprintln!(
            "skipped: the read-replica test runs in the PostgreSQL pass ({TEST_DATABASE_ENV} set)"
        );
        return;
    }
    let Some(bin) = server_binaries() else {
        eprintln!(
            "skipped: no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) in \
             HUB_TEST_PG_BINDIR, /usr/lib/postgresql/15/bin or pg_config --bindir"
        );
        return;
    };
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(bin))
        .await
        .expect("the cluster starts");
    let admin = Database::connect(cluster.url(cluster.primary_port, "postgres"))
        .await
        .expect("the primary answers");
    admin
        .execute_unprepared("CREATE DATABASE hub")
        .await
        .expect("database created");
    let primary_url = cluster.url(cluster.primary_port, "hub");
    let standby_url = cluster.url(cluster.standby_port, "hub");
    let mut settings = Settings::for_database(primary_url.clone());
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.workers = 1;
    settings.auth.dev_secret = Some(secrecy::SecretString::from(TEST_DEV_SECRET));
    settings.database.read_url = Some(standby_url.clone());
    let primary = store::connect(&settings.database)
        .await
        .expect("the primary opens");
    store::migrate(&primary).await.expect("migrations apply");
    fixtures::load(&primary).await;
    caught_up(&primary, &standby_url).await;
    let replica = store::connect_replica(&settings.database)
        .await
        .expect("the replica opens");
    let server = firearms_hub::server::Application::build_with_replica(
        settings.clone(),
        primary.clone(),
        replica,
        std::sync::Arc::new(firearms_hub::policy::Policy::default_policy()),
    )
    .expect("server binds");
    let address = format!("http://127.0.0.1:{}", server.port());
    let stop = server.shutdown_handle();
    let running = tokio::spawn(server.run_until_stopped());
    let client = http_client();
    let writer = token(&settings, Role::Atf, "analyst-who-writes");
    let colleague = token(&settings, Role::Atf, "analyst-who-only-reads");

    // Before any write, reads go to the replica, and their audit events to the primary.
    let audited = count(&primary, "SELECT COUNT(*) FROM audit_event").await;
    let listed = post(
        &client,
        &address,
        &colleague,
        "{ traces(first: 5) { totalCount } }",
        json!({}),
        None,
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.read_from.as_deref(), Some("replica"));
    assert_eq!(
        listed.body["data"]["traces"]["totalCount"], 2,
        "{}",
        listed.body
    );
    assert_eq!(
        count(&primary, "SELECT COUNT(*) FROM audit_event").await,
        audited + 1,
        "the read served by the replica is audited on the primary"
    );

    // The replica stops replaying: it lags from now on.
    let standby = Database::connect(standby_url.as_str())
        .await
        .expect("the standby answers");
    standby
        .execute_unprepared("SELECT pg_wal_replay_pause()")
        .await
        .expect("replay paused");
    let deadline = Instant::now() + Duration::from_secs(30);
    while text(&standby, "SELECT pg_get_wal_replay_pause_state()")
        .await
        .as_deref()
        != Some("paused")
    {
        assert!(Instant::now() < deadline, "replay never paused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let created = post(
        &client,
        &address,
        &writer,
        CREATE_TRACE,
        json!({ "input": fixtures::trace_input("T-RYW", "RYW-0001") }),
        None,
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(
        created.read_from.as_deref(),
        Some("primary"),
        "a write uses the primary"
    );
    let lsn = created.lsn.clone().expect("X-Hub-Lsn on a write");
    let id = created.body["data"]["createTrace"]["id"].clone();
    assert!(id.is_string(), "{}", created.body);
    let read = |token: String, lsn: Option<String>| {
        let client = client.clone();
        let address = address.clone();
        let id = id.clone();
        async move {
            post(
                &client,
                &address,
                &token,
                READ_TRACE,
                json!({ "id": id }),
                lsn.as_deref(),
            )
            .await
        }
    };

    // The writer, sending the position back, reads its write at once: from the primary.
    let own = read(writer.clone(), Some(lsn.clone())).await;
    assert_eq!(
        own.body["data"]["trace"]["traceNumber"], "T-RYW",
        "{}",
        own.body
    );
    assert_eq!(own.read_from.as_deref(), Some("primary"));
    // Without the header too, through the process that took the write.
    let own = read(writer.clone(), None).await;
    assert_eq!(
        own.body["data"]["trace"]["traceNumber"], "T-RYW",
        "{}",
        own.body
    );
    assert_eq!(own.read_from.as_deref(), Some("primary"));
    // Anyone handed the position reads it too.
    let shared = read(colleague.clone(), Some(lsn.clone())).await;
    assert_eq!(
        shared.body["data"]["trace"]["traceNumber"], "T-RYW",
        "{}",
        shared.body
    );
    assert_eq!(shared.read_from.as_deref(), Some("primary"));
    // A caller with no write to wait for reads the replica, which really lags: no trace yet.
    let stale = read(colleague.clone(), None).await;
    assert_eq!(stale.status, 200, "{}", stale.body);
    assert_eq!(stale.read_from.as_deref(), Some("replica"));
    assert!(stale.body["data"]["trace"].is_null(), "{}", stale.body);

    // Replay resumes; once the replica has passed the write, its readers go back to it.
    standby
        .execute_unprepared("SELECT pg_wal_replay_resume()")
        .await
        .expect("replay resumed");
    let deadline = Instant::now() + Duration::from_secs(30);
    let back = loop {
        let answer = read(writer.clone(), Some(lsn.clone())).await;
        if answer.read_from.as_deref() == Some("replica") {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "reads never went back to the replica"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        back.body["data"]["trace"]["traceNumber"], "T-RYW",
        "{}",
        back.body
    );
    let without = read(writer.clone(), None).await;
    assert_eq!(without.read_from.as_deref(), Some("replica"));
    assert_eq!(without.body["data"]["trace"]["traceNumber"], "T-RYW");

    // The replica goes away: reads fall back to the primary, counted in the metrics.
    standby.close().await.ok();
    let node = cluster.path("standby").display().to_string();
    let bin = cluster.bin.join("pg_ctl").display().to_string();
    let as_postgres = cluster.as_postgres;
    tokio::task::spawn_blocking(move || {
        let mut command = if as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &bin]);
            c
        } else {
            Command::new(&bin)
        };
        let status = command
            .args(["-D", &node, "-m", "immediate", "-w", "stop"])
            .status()
            .expect("pg_ctl runs");
        assert!(status.success(), "the standby stops");
    })
    .await
    .expect("stopped");
    let fallback = read(colleague.clone(), None).await;
    assert_eq!(fallback.status, 200, "{}", fallback.body);
    assert_eq!(fallback.read_from.as_deref(), Some("primary"));
    assert_eq!(fallback.body["data"]["trace"]["traceNumber"], "T-RYW");
    let metrics = client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    for line in [
        "hub_read_routes_total{from=\"replica\",reason=\"caught_up\"}",
        "hub_read_routes_total{from=\"primary\",reason=\"replica_behind\"}",
        "hub_read_routes_total{from=\"primary\",reason=\"replica_unreachable\"}",
        "hub_read_routes_total{from=\"primary\",reason=\"write\"}",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }

    stop.begin();
    let _ = running.await;
    primary.close().await.ok();
    admin.close().await.ok();
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .expect("the cluster stops");
}
