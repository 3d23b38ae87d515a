//! Subscriptions over WebSocket (graphql-transport-ws on `/graphql`): the handshake and its
//! refusals, deliveries through the door as each subscriber (its rows, its hidden fields, its
//! purpose), the audit of every delivery, the limits (per subject, a slow client), the token's
//! expiry, and on PostgreSQL two hub processes on one database (events, and the per-subject limit
//! over both).

use std::time::Duration;

use entity::Role;
use futures_util::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::fixtures;
use crate::helpers::{TestApp, another_process, metric, spawn_app, spawn_app_with};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const PURPOSE: &str = "CASE-2026-0042 subscription";

/// The subprotocol the hub speaks.
const PROTOCOL: &str = "graphql-transport-ws";

/// How long a test waits for a message it expects.
const WAIT: Duration = Duration::from_secs(20);

const CREATE_TRACE: &str =
    "mutation($input: TraceInput!) { createTrace(input: $input) { id traceNumber } }";
const RECORD_SEIZURE: &str =
    "mutation($input: SeizureInput!) { recordSeizure(input: $input) { id caseNumber } }";

/// A WebSocket to `app`'s `/graphql`, offering `protocol` when given.
async fn connect_with(app: &TestApp, protocol: Option<&str>) -> Socket {
    connect_through(app, protocol, None).await
}

/// A WebSocket whose TCP receive buffer is `receive_buffer` bytes when given (a client that
/// stops reading then shuts its receive window soon).
async fn connect_through(
    app: &TestApp,
    protocol: Option<&str>,
    receive_buffer: Option<u32>,
) -> Socket {
    let url = format!("{}/graphql", app.address.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("a WebSocket request");
    if let Some(protocol) = protocol {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(protocol).expect("a header value"),
        );
    }
    let address: std::net::SocketAddr = app
        .address
        .trim_start_matches("http://")
        .parse()
        .expect("the hub's socket address");
    let tcp = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    if let Some(bytes) = receive_buffer {
        tcp.set_recv_buffer_size(bytes)
            .expect("the receive buffer set");
    }
    let stream = tcp.connect(address).await.expect("connected to the hub");
    let (socket, response) =
        tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .expect("the WebSocket handshake succeeds");
    if protocol.is_some() {
        assert_eq!(
            response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok()),
            Some("graphql-transport-ws")
        );
    }
    socket
}

async fn connect(app: &TestApp) -> Socket {
    connect_with(app, Some(PROTOCOL)).await
}

fn token(app: &TestApp, role: Role, scopes: &[&str]) -> String {
    app.as_role_with(role, scopes).token().to_owned()
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("a message sent");
}

/// The next protocol message (pings answered), or the close code once the server closes.
async fn next(socket: &mut Socket) -> Result<Value, u16> {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message within the wait");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Ok(serde_json::from_str(text.as_str()).expect("JSON"));
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map(|f| u16::from(f.code)).unwrap_or(1005));
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => panic!("the connection failed: {error}"),
            None => return Err(1006),
        }
    }
}

/// The close code the server ends the connection with.
async fn closed_with(socket: &mut Socket) -> u16 {
    loop {
        match next(socket).await {
            Ok(_) => continue,
            Err(code) => return code,
        }
    }
}

/// Nothing arrives on the socket within `wait`.
async fn silent(socket: &mut Socket, wait: Duration) {
    if let Ok(message) = tokio::time::timeout(wait, socket.next()).await {
        panic!("expected nothing, got {message:?}");
    }
}

/// A connection acknowledged for `role`, stating `purpose` when given.
async fn open(app: &TestApp, role: Role, scopes: &[&str], purpose: Option<&str>) -> Socket {
    acknowledged(connect(app).await, app, role, scopes, purpose).await
}

/// A connection acknowledged for the caller of `token`.
async fn open_with_token(app: &TestApp, token: &str) -> Socket {
    let mut socket = connect(app).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(
        next(&mut socket).await,
        Ok(json!({ "type": "connection_ack" }))
    );
    socket
}

/// `socket` once its `connection_init` for `role` is acknowledged.
async fn acknowledged(
    mut socket: Socket,
    app: &TestApp,
    role: Role,
    scopes: &[&str],
    purpose: Option<&str>,
) -> Socket {
    let mut payload = json!({ "authorization": format!("Bearer {}", token(app, role, scopes)) });
    if let Some(purpose) = purpose {
        payload["purpose"] = json!(purpose);
    }
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    assert_eq!(
        next(&mut socket).await,
        Ok(json!({ "type": "connection_ack" }))
    );
    socket
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str) {
    send(
        socket,
        json!({ "type": "subscribe", "id": id, "payload": { "query": query } }),
    )
    .await;
}

/// Waits until the server has set up the subscriptions just sent: it admits each `subscribe`
/// (its stream following the events from then on) before it reads the next message, so the
/// `pong` to a `ping` sent after them means they are live. No pause: a write right after must
/// reach them.
async fn settled(socket: &mut Socket) {
    send(socket, json!({ "type": "ping" })).await;
    assert_eq!(next(socket).await, Ok(json!({ "type": "pong" })));
}

fn trace_input(number: &str, serial: &str) -> Value {
    fixtures::trace_input(number, serial)
}

fn seizure_input(case: &str, agency: &str, serial: &str) -> Value {
    json!({
        "caseNumber": case, "seizingAgency": agency, "seizedOn": "2022-05-01", "usState": "AZ",
        "direction": "OUTBOUND",
        "firearms": [{ "manufacturer": "Glock", "type": "PISTOL", "caliber": "9mm", "serialNumber": serial }]
    })
}

async fn create_trace(app: &TestApp, number: &str) -> Value {
    let created = app
        .as_role(Role::Atf)
        .query(
            CREATE_TRACE,
            json!({ "input": trace_input(number, "SUB-0001") }),
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");
    created["data"]["createTrace"].clone()
}

async fn record_seizure(app: &TestApp, role: Role, case: &str, serial: &str) -> Value {
    let agency = role.as_str();
    let created = app
        .as_role(role)
        .query(
            RECORD_SEIZURE,
            json!({ "input": seizure_input(case, agency, serial) }),
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");
    created["data"]["recordSeizure"].clone()
}

#[tokio::test]
async fn the_handshake_refuses_with_the_protocols_close_codes() {
    let app = spawn_app_with(|s| s.subscriptions.init_timeout_secs = 1).await;

    // No subprotocol offered.
    let mut socket = connect_with(&app, None).await;
    assert_eq!(closed_with(&mut socket).await, 4406);

    // A subscription before the connection is acknowledged.
    let mut socket = connect(&app).await;
    subscribe(&mut socket, "1", "subscription { traceRecorded { id } }").await;
    assert_eq!(closed_with(&mut socket).await, 4401);

    // No token, and a token that does not verify.
    let mut socket = connect(&app).await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(closed_with(&mut socket).await, 4403);
    let mut socket = connect(&app).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "authorization": "Bearer not.a.token" } }),
    )
    .await;
    assert_eq!(closed_with(&mut socket).await, 4403);

    // A purpose that is no purpose.
    let mut socket = connect(&app).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": {
            "authorization": format!("Bearer {}", token(&app, Role::Ice, &[])),
            "purpose": "<script>",
        } }),
    )
    .await;
    assert_eq!(closed_with(&mut socket).await, 4400);

    // A second initialisation, a duplicate subscription id, an unknown message.
    let mut socket = open(&app, Role::Atf, &[], None).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", token(&app, Role::Atf, &[])) } }),
    )
    .await;
    assert_eq!(closed_with(&mut socket).await, 4429);
    let mut socket = open(&app, Role::Atf, &[], None).await;
    subscribe(&mut socket, "a", "subscription { traceRecorded { id } }").await;
    subscribe(&mut socket, "a", "subscription { traceRecorded { id } }").await;
    assert_eq!(closed_with(&mut socket).await, 4409);
    let mut socket = open(&app, Role::Atf, &[], None).await;
    send(&mut socket, json!({ "type": "hello" })).await;
    assert_eq!(closed_with(&mut socket).await, 4400);

    // No connection_init within subscriptions.init_timeout_secs.
    let mut socket = connect(&app).await;
    let started = std::time::Instant::now();
    assert_eq!(closed_with(&mut socket).await, 4408);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_write_reaches_its_subscribers_as_each_reads_it_by_query() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    // ICE reads ATF's traces with a purpose, without the purchaser (hidden); ATF reads its own.
    let mut ice = open(&app, Role::Ice, &[], Some(PURPOSE)).await;
    subscribe(
        &mut ice,
        "t",
        "subscription OnTrace { traceRecorded { traceNumber recoveryState purchaserName provenance { ownerAgency } } }",
    )
    .await;
    let mut atf = open(&app, Role::Atf, &["pii"], None).await;
    subscribe(
        &mut atf,
        "mine",
        "subscription Mine { traceRecorded(filter: { recoveryState: [\"MX-CHH\"] }) { traceNumber purchaserName } }",
    )
    .await;
    settled(&mut ice).await;
    settled(&mut atf).await;

    create_trace(&app, "T-SUB-1").await;

    let delivered = next(&mut ice).await.expect("a delivery");
    assert_eq!(delivered["type"], "next", "{delivered}");
    assert_eq!(delivered["id"], "t");
    let payload = &delivered["payload"];
    assert_eq!(
        payload["data"]["traceRecorded"]["traceNumber"], "T-SUB-1",
        "{payload}"
    );
    assert_eq!(payload["data"]["traceRecorded"]["recoveryState"], "MX-CHH");
    assert_eq!(
        payload["data"]["traceRecorded"]["provenance"]["ownerAgency"],
        "ATF"
    );
    assert!(
        payload["data"]["traceRecorded"]["purchaserName"].is_null(),
        "{payload}"
    );
    assert_eq!(
        payload["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{payload}"
    );
    assert_eq!(
        payload["errors"][0]["path"],
        json!(["traceRecorded", "purchaserName"])
    );

    let own = next(&mut atf).await.expect("a delivery");
    assert_eq!(
        own["payload"]["data"]["traceRecorded"]["traceNumber"], "T-SUB-1",
        "{own}"
    );
    assert_eq!(
        own["payload"]["data"]["traceRecorded"]["purchaserName"], "Synthetic Purchaser 777",
        "ATF with the pii scope reads the purchaser, as by query"
    );
    assert!(own["payload"]["errors"].is_null(), "{own}");

    // The ATF subscriber's filter leaves out a trace recovered elsewhere.
    let mut elsewhere = trace_input("T-SUB-2", "SUB-0002");
    elsewhere["recoveryState"] = json!("MX-SON");
    app.as_role(Role::Atf)
        .query(CREATE_TRACE, json!({ "input": elsewhere }))
        .await;
    let second = next(&mut ice).await.expect("a delivery");
    assert_eq!(
        second["payload"]["data"]["traceRecorded"]["traceNumber"],
        "T-SUB-2"
    );
    silent(&mut atf, Duration::from_millis(800)).await;

    // Each delivery is in the audit trail: the subscriber, its purpose, the operation, what it
    // delivered.
    let audited = app
        .db
        .scalar_reaching(
            &format!(
                "SELECT COUNT(*) FROM audit_event WHERE subject = 'test-ice' AND operation = 'OnTrace' \
                 AND purpose = '{PURPOSE}' AND entities LIKE '%trace%' AND data_owners LIKE '%ATF%' \
                 AND rows_returned >= 1 AND outcome = 'denied'"
            ),
            2,
        )
        .await;
    assert_eq!(audited, 2, "one audit event per delivery to ICE");
    let atf_audited = app
        .db
        .scalar_reaching(
            "SELECT COUNT(*) FROM audit_event WHERE subject = 'test-atf' AND entities LIKE '%trace%' \
             AND rows_returned = 1 AND outcome = 'ok' AND operation = 'Mine'",
            1,
        )
        .await;
    assert_eq!(
        atf_audited, 1,
        "the filtered-out trace was not delivered, so not audited"
    );
}

#[tokio::test]
async fn other_agencies_records_need_the_purpose_and_unreadable_roles_are_refused() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    // ICE without a purpose: ATF's traces are not delivered; its own seizures are.
    let mut ice = open(&app, Role::Ice, &[], None).await;
    subscribe(
        &mut ice,
        "t",
        "subscription { traceRecorded { traceNumber } }",
    )
    .await;
    subscribe(
        &mut ice,
        "s",
        "subscription { seizureRecorded { caseNumber } }",
    )
    .await;
    // CBP reads no trace rows: refused when it subscribes, not silently fed.
    let mut cbp = open(&app, Role::Cbp, &[], Some(PURPOSE)).await;
    subscribe(
        &mut cbp,
        "t",
        "subscription { traceRecorded { traceNumber } }",
    )
    .await;
    let refused = next(&mut cbp).await.expect("an answer");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "t");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
    // ATF with a purpose reads ICE's seizures, without their case number (hidden from ATF).
    let mut atf = open(&app, Role::Atf, &[], Some(PURPOSE)).await;
    subscribe(
        &mut atf,
        "s",
        "subscription { seizureRecorded { seizingAgency caseNumber } }",
    )
    .await;
    settled(&mut ice).await;
    settled(&mut atf).await;

    create_trace(&app, "T-NOPURPOSE").await;
    record_seizure(&app, Role::Ice, "ICE-SUB-1", "ICE-SERIAL-1").await;

    let first = next(&mut ice).await.expect("a delivery");
    assert_eq!(
        first["id"], "s",
        "the trace was not delivered without a purpose: {first}"
    );
    assert_eq!(
        first["payload"]["data"]["seizureRecorded"]["caseNumber"],
        "ICE-SUB-1"
    );
    silent(&mut ice, Duration::from_millis(800)).await;

    let seen = next(&mut atf).await.expect("a delivery");
    assert_eq!(seen["id"], "s", "{seen}");
    assert_eq!(
        seen["payload"]["data"]["seizureRecorded"]["seizingAgency"],
        "ICE"
    );
    assert!(seen["payload"]["data"]["seizureRecorded"]["caseNumber"].is_null());
    assert_eq!(
        seen["payload"]["errors"][0]["extensions"]["code"],
        "FORBIDDEN"
    );
    assert_eq!(
        seen["payload"]["errors"][0]["path"],
        json!(["seizureRecorded", "caseNumber"])
    );
}

#[tokio::test]
async fn a_new_link_between_a_seized_and_a_traced_firearm_is_found() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    let query = "subscription { linkFound { basis seizedFirearm { serialNumber provenance { ownerAgency } } tracedFirearm { serialNumber provenance { ownerAgency } } } }";
    let mut atf = open(&app, Role::Atf, &[], Some(PURPOSE)).await;
    subscribe(&mut atf, "l", query).await;
    // CBP may not follow links at all; STATE reads no firearms.
    for role in [Role::Cbp, Role::State] {
        let mut other = open(&app, role, &[], Some(PURPOSE)).await;
        subscribe(&mut other, "l", query).await;
        let refused = next(&mut other).await.expect("an answer");
        assert_eq!(refused["type"], "error", "{role:?}: {refused}");
    }
    settled(&mut atf).await;

    // ICE seizes a Glock with the serial of ATF's traced one (fixture T-1).
    record_seizure(&app, Role::Ice, "ICE-LINK-1", "GLK-00123").await;

    let found = next(&mut atf).await.expect("a delivery");
    assert_eq!(found["type"], "next", "{found}");
    let link = &found["payload"]["data"]["linkFound"];
    assert_eq!(link["basis"], "EXACT_SERIAL_MANUFACTURER", "{found}");
    assert_eq!(link["seizedFirearm"]["provenance"]["ownerAgency"], "ICE");
    assert_eq!(link["tracedFirearm"]["provenance"]["ownerAgency"], "ATF");
    assert_eq!(link["tracedFirearm"]["serialNumber"], "GLK-00123");
    // ICE's record also meets CBP's record of the gun (two seized records): no trace, no event.
    silent(&mut atf, Duration::from_millis(800)).await;
}

#[tokio::test]
async fn a_subject_holds_at_most_its_limit_of_subscriptions() {
    let app = spawn_app_with(|s| s.subscriptions.per_subject = 2).await;
    let mut first = open(&app, Role::Atf, &[], None).await;
    let mut second = open(&app, Role::Atf, &[], None).await;
    subscribe(&mut first, "1", "subscription { traceRecorded { id } }").await;
    subscribe(&mut first, "2", "subscription { trainingRecorded { id } }").await;
    settled(&mut first).await;
    // A third, on another connection of the same subject, is refused; the connection stays,
    // and the refusal is in the audit trail as the caller's denied operation.
    let third = "subscription Third { traceRecorded { id } }";
    subscribe(&mut second, "3", third).await;
    let refused = next(&mut second).await.expect("an answer");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "LIMIT_EXCEEDED"
    );
    let recorded = format!(
        "SELECT COUNT(*) FROM audit_event WHERE operation = 'Third' AND outcome = 'denied' \
         AND role = 'ATF' AND document_hash = '{}'",
        firearms_hub::audit::document_hash(third)
    );
    assert_eq!(app.db.scalar(&recorded).await, 1, "{recorded}");
    // Once one completes, another may start.
    send(&mut first, json!({ "type": "complete", "id": "1" })).await;
    settled(&mut first).await;
    let fourth = "subscription Fourth { traceRecorded { traceNumber } }";
    subscribe(&mut second, "4", fourth).await;
    settled(&mut second).await;
    create_trace(&app, "T-LIMIT").await;
    let delivered = next(&mut second).await.expect("a delivery");
    assert_eq!(delivered["id"], "4", "{delivered}");
    assert_eq!(
        delivered["payload"]["data"]["traceRecorded"]["traceNumber"],
        "T-LIMIT"
    );
    // The delivery's audit event names the document it ran by its SHA-256.
    let recorded = format!(
        "SELECT COUNT(*) FROM audit_event WHERE operation = 'Fourth' AND outcome = 'ok' \
         AND rows_returned = 1 AND document_hash = '{}'",
        firearms_hub::audit::document_hash(fourth)
    );
    assert_eq!(app.db.scalar(&recorded).await, 1, "{recorded}");
}

#[tokio::test]
async fn subscribes_count_against_the_subjects_request_rate() {
    let app = spawn_app_with(|s| {
        s.limits.rate_per_second = 0.01;
        s.limits.rate_burst = 2;
    })
    .await;
    // A subject of its own, so the write below is not held to the same rate.
    let token = firearms_hub::auth::mint_dev_token(
        &app.settings.auth,
        Role::Atf,
        &[],
        Duration::from_secs(600),
        "rate-limited-system",
    )
    .expect("token minted");
    let mut socket = open_with_token(&app, &token).await;
    for id in ["1", "2"] {
        subscribe(&mut socket, id, "subscription { traceRecorded { id } }").await;
    }
    settled(&mut socket).await;
    subscribe(
        &mut socket,
        "3",
        "subscription Third { traceRecorded { id } }",
    )
    .await;
    let refused = next(&mut socket).await.expect("an answer");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "3", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "RATE_LIMITED",
        "{refused}"
    );
    assert!(
        refused["payload"][0]["extensions"]["retryAfter"]
            .as_u64()
            .is_some_and(|secs| secs >= 1),
        "{refused}"
    );
    // The two admitted ones run on.
    create_trace(&app, "T-RATE").await;
    let mut ids = vec![];
    for _ in 0..2 {
        let delivered = next(&mut socket).await.expect("a delivery");
        ids.push(delivered["id"].as_str().unwrap_or_default().to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["1", "2"]);
}

/// The receive buffer of a client that stops reading: small, so its window shuts soon.
const SMALL_RECEIVE_BUFFER: u32 = 4096;

/// A hub whose subscription buffer holds `buffer` messages and whose limits let a subscription
/// select one field under thousands of aliases, so each delivery is about 80 kB and a client that
/// stops reading fills the connection's buffers after a few dozen.
async fn hub_for_slow_clients(buffer: usize, send_timeout_secs: u64) -> TestApp {
    spawn_app_with(move |s| {
        s.subscriptions.buffer = buffer;
        s.server.send_timeout_secs = send_timeout_secs;
        s.limits.tokens = 100_000;
        s.limits.document_bytes = 1024 * 1024;
        s.limits.complexity = 100_000;
        s.limits.body_bytes = 4 * 1024 * 1024;
    })
    .await
}

/// A subscription to traces under `aliases` aliases of `traceNumber`, named `name`.
fn big_subscription(name: &str, aliases: usize) -> String {
    let selection: String = (0..aliases)
        .map(|i| format!("a{i}: traceNumber "))
        .collect();
    format!("subscription {name} {{ traceRecorded {{ {selection} }} }}")
}

/// Imports `rows` traces as ATF, `batch` a request.
async fn import_traces(app: &TestApp, prefix: &str, rows: usize, batch: usize) {
    for start in (0..rows).step_by(batch) {
        let inputs: Vec<Value> = (start..(start + batch).min(rows))
            .map(|i| {
                trace_input(
                    &format!("T-{prefix}-{i:04}-{}", "X".repeat(16)),
                    &format!("{prefix}-{i}"),
                )
            })
            .collect();
        let imported = app
            .as_role(Role::Atf)
            .query(
                "mutation($rows: [TraceInput!]!) { importTraces(rows: $rows) { accepted } }",
                json!({ "rows": inputs }),
            )
            .await;
        assert_eq!(
            imported["data"]["importTraces"]["accepted"],
            inputs.len(),
            "{imported}"
        );
    }
}

/// The deliveries of operation `name` in the audit trail once they stop growing (unchanged for
/// three seconds).
async fn deliveries_once_settled(app: &TestApp, name: &str) -> i64 {
    let count = format!("SELECT COUNT(*) FROM audit_event WHERE operation = '{name}'");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut last = app.db.scalar(&count).await;
    let mut unchanged = 0;
    while unchanged < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries of {name} still growing after two minutes: {last}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = app.db.scalar(&count).await;
        unchanged = if now == last { unchanged + 1 } else { 0 };
        last = now;
    }
    last
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_1013_and_others_go_on() {
    const ROWS: usize = 250;
    // A send timeout longer than the test: the kernel must not drop the client before it reads
    // again, however slow the machine.
    let app = hub_for_slow_clients(2, 600).await;
    let slow = connect_through(&app, Some(PROTOCOL), Some(SMALL_RECEIVE_BUFFER)).await;
    let mut slow = acknowledged(slow, &app, Role::Atf, &[], None).await;
    subscribe(&mut slow, "big", &big_subscription("Big", 2_000)).await;
    settled(&mut slow).await;
    let mut fast = open(&app, Role::Atf, &[], None).await;
    subscribe(
        &mut fast,
        "small",
        "subscription Small { traceRecorded { traceNumber } }",
    )
    .await;
    settled(&mut fast).await;

    // The slow client reads nothing from now on, while the traces are written.
    import_traces(&app, "SLOW", ROWS, 50).await;
    // The client that reads receives every trace: one slow client holds up nobody else.
    for i in 0..ROWS {
        let delivered = next(&mut fast)
            .await
            .expect("a delivery to the reading client");
        assert_eq!(
            delivered["payload"]["data"]["traceRecorded"]["traceNumber"],
            format!("T-SLOW-{i:04}-{}", "X".repeat(16)),
            "delivery {i}"
        );
    }
    // The slow client's deliveries stop once its buffers are full: the hub holds no more for it.
    let delivered = deliveries_once_settled(&app, "Big").await;
    assert!(
        (1..ROWS as i64).contains(&delivered),
        "the slow client's subscription stopped after {delivered} of {ROWS} deliveries"
    );
    // Reading again, it finds what was sent before it was dropped, then the close: 1013.
    let mut received = 0;
    let code = loop {
        match next(&mut slow).await {
            Ok(message) => {
                assert_eq!(message["type"], "next", "{message}");
                received += 1;
            }
            Err(code) => break code,
        }
    };
    assert_eq!(code, 1013, "after {received} messages");
    // Operators see it in the metrics (process-wide: at least this one).
    let closes = metric(&app, "hub_subscription_closes_total", &[("code", "1013")]).await;
    assert!(closes.is_some_and(|n| n >= 1.0), "{closes:?}");
    // What was queued before the drop is still delivered; the deliveries after it never were
    // (the last recorded one is the delivery that found the buffer full).
    assert!(
        (1..delivered).contains(&received),
        "{received} messages read of {delivered} recorded deliveries"
    );
}

#[tokio::test]
async fn a_client_that_never_reads_again_is_disconnected_after_the_send_timeout() {
    const ROWS: usize = 250;
    let app = hub_for_slow_clients(2, 1).await;
    let slow = connect_through(&app, Some(PROTOCOL), Some(SMALL_RECEIVE_BUFFER)).await;
    let mut slow = acknowledged(slow, &app, Role::Atf, &[], None).await;
    subscribe(&mut slow, "big", &big_subscription("Stalled", 2_000)).await;
    settled(&mut slow).await;
    import_traces(&app, "STALL", ROWS, 50).await;
    let delivered = deliveries_once_settled(&app, "Stalled").await;
    assert!(
        (1..ROWS as i64).contains(&delivered),
        "the stalled client's subscription stopped after {delivered} of {ROWS} deliveries"
    );
    // The kernel drops the connection a second after its window shut: what the hub had queued
    // for the client is gone, and reading now finds the connection ended, not the deliveries.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut received = 0;
    let ended = loop {
        match tokio::time::timeout(WAIT, slow.next()).await {
            Err(_) => panic!("the stalled connection is still open after {received} messages"),
            Ok(Some(Ok(Message::Text(_)))) => received += 1,
            Ok(Some(Ok(Message::Close(frame)))) => break format!("closed: {frame:?}"),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(error))) => break format!("failed: {error}"),
            Ok(None) => break "ended".to_owned(),
        }
    };
    assert!(
        received <= 1,
        "{received} deliveries were still held for a client that stopped reading ({ended})"
    );
}

/// The refusal of a subscription beyond the subject's limit.
fn assert_over_the_limit(refused: &Value) {
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "LIMIT_EXCEEDED",
        "{refused}"
    );
    assert!(
        refused["payload"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("subscriptions.per_subject")),
        "{refused}"
    );
}

/// The leases of `subject` on the database, once they reach `expected` (within ten seconds; a
/// subscription takes its lease, and an ended one releases it, in the background).
async fn leases_settle(app: &TestApp, subject: &str, expected: i64) -> i64 {
    let sql = format!(
        "SELECT COUNT(*) FROM subscription_lease WHERE subject = '{subject}' AND expires_at > now()"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let count = app.db.scalar(&sql).await;
        if count == expected || tokio::time::Instant::now() >= deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_subject_holds_at_most_its_limit_over_every_process_on_the_database() {
    let app = spawn_app_with(|s| s.subscriptions.per_subject = 2).await;
    if app.db.backend() != DbBackend::Postgres {
        // SQLite serves one process: its count in memory is the limit (the test above).
        return;
    }
    let other = another_process(&app, |s| s.subscriptions.per_subject = 2).await;
    let mut here = open(&app, Role::Atf, &[], None).await;
    let mut there = open(&other, Role::Atf, &[], None).await;
    subscribe(&mut here, "1", "subscription { traceRecorded { id } }").await;
    subscribe(&mut there, "2", "subscription { trainingRecorded { id } }").await;
    settled(&mut here).await;
    settled(&mut there).await;
    assert_eq!(leases_settle(&app, "test-atf", 2).await, 2);
    // Each process holds one of the subject's subscriptions: a third is refused on either.
    subscribe(&mut here, "3", "subscription { traceRecorded { id } }").await;
    assert_over_the_limit(&next(&mut here).await.expect("an answer"));
    subscribe(&mut there, "4", "subscription { traceRecorded { id } }").await;
    assert_over_the_limit(&next(&mut there).await.expect("an answer"));
    // Once the one here completes, the other process admits one more.
    send(&mut here, json!({ "type": "complete", "id": "1" })).await;
    assert_eq!(leases_settle(&app, "test-atf", 1).await, 1);
    subscribe(
        &mut there,
        "5",
        "subscription { traceRecorded { traceNumber } }",
    )
    .await;
    settled(&mut there).await;
    create_trace(&app, "T-LEASE").await;
    let delivered = next(&mut there).await.expect("a delivery");
    assert_eq!(delivered["id"], "5", "{delivered}");
    assert_eq!(
        delivered["payload"]["data"]["traceRecorded"]["traceNumber"],
        "T-LEASE"
    );
    // And the subject is at its limit again, here too.
    subscribe(&mut here, "6", "subscription { traceRecorded { id } }").await;
    assert_over_the_limit(&next(&mut here).await.expect("an answer"));
}

#[tokio::test]
async fn the_subscriptions_of_a_process_that_died_stop_counting_when_their_leases_expire() {
    let app = spawn_app_with(|s| s.subscriptions.per_subject = 1).await;
    if app.db.backend() != DbBackend::Postgres {
        return;
    }
    // Processes no longer running left leases: ATF's has expired, ICE's has not yet.
    app.db
        .db
        .execute_unprepared(
            "INSERT INTO subscription_lease (subject, holder, expires_at) VALUES \
             ('test-atf', 'a-process-that-died', now() - interval '1 second'), \
             ('test-ice', 'a-process-that-died', now() + interval '1 minute')",
        )
        .await
        .expect("leases inserted");
    let mut ice = open(&app, Role::Ice, &[], None).await;
    subscribe(&mut ice, "1", "subscription { seizureRecorded { id } }").await;
    assert_over_the_limit(&next(&mut ice).await.expect("an answer"));
    let mut atf = open(&app, Role::Atf, &[], None).await;
    subscribe(
        &mut atf,
        "1",
        "subscription { traceRecorded { traceNumber } }",
    )
    .await;
    settled(&mut atf).await;
    create_trace(&app, "T-EXPIRED").await;
    let delivered = next(&mut atf).await.expect("a delivery");
    assert_eq!(delivered["id"], "1", "{delivered}");
    assert_eq!(
        delivered["payload"]["data"]["traceRecorded"]["traceNumber"],
        "T-EXPIRED"
    );
}

/// On PostgreSQL, two processes whose subjects hold one subscription each, with leases of 3 s,
/// and ATF's one subscription running on the first, its lease taken: the two processes and the
/// subscription's connection.
async fn holding_one_of_one_with_short_leases() -> Option<(TestApp, TestApp, Socket)> {
    let app = spawn_app_with(|s| {
        s.subscriptions.per_subject = 1;
        s.subscriptions.lease_ttl_secs = 3;
    })
    .await;
    if app.db.backend() != DbBackend::Postgres {
        return None;
    }
    let other = another_process(&app, |s| s.subscriptions.per_subject = 1).await;
    let mut here = open(&app, Role::Atf, &[], None).await;
    subscribe(&mut here, "1", "subscription { traceRecorded { id } }").await;
    settled(&mut here).await;
    assert_eq!(leases_settle(&app, "test-atf", 1).await, 1);
    Some((app, other, here))
}

#[tokio::test]
async fn a_running_subscription_keeps_its_lease_past_the_lease_time() {
    // Both bound to the end: the first process serves, and `here` holds the subscription.
    let Some((_app, other, _here)) = holding_one_of_one_with_short_leases().await else {
        // SQLite serves one process: no leases.
        return;
    };
    // Twice the lease's time: renewed meanwhile, the lease still counts on the other process.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut there = open(&other, Role::Atf, &[], None).await;
    subscribe(&mut there, "2", "subscription { traceRecorded { id } }").await;
    assert_over_the_limit(&next(&mut there).await.expect("an answer"));
}

#[tokio::test]
async fn a_lease_lost_while_the_database_was_out_of_reach_is_taken_again() {
    let Some((app, other, mut here)) = holding_one_of_one_with_short_leases().await else {
        // SQLite serves one process: no leases.
        return;
    };
    // As if the lease expired while this process could not reach the database, and another
    // process's clean-up deleted it.
    app.db
        .db
        .execute_unprepared("DELETE FROM subscription_lease WHERE subject = 'test-atf'")
        .await
        .expect("the lease deleted");
    // The next renewal (every second here) takes it again: the running subscription counts.
    assert_eq!(leases_settle(&app, "test-atf", 1).await, 1);
    let mut there = open(&other, Role::Atf, &[], None).await;
    subscribe(&mut there, "2", "subscription { traceRecorded { id } }").await;
    assert_over_the_limit(&next(&mut there).await.expect("an answer"));
    // Once it ends, the lease is released as any other.
    send(&mut here, json!({ "type": "complete", "id": "1" })).await;
    assert_eq!(leases_settle(&app, "test-atf", 0).await, 0);
}

#[tokio::test]
async fn a_subscription_whose_lease_cannot_be_taken_is_refused_as_unavailable() {
    let app = spawn_app().await;
    if app.db.backend() != DbBackend::Postgres {
        return;
    }
    app.db
        .db
        .execute_unprepared("DROP TABLE subscription_lease")
        .await
        .expect("the lease table dropped");
    let mut socket = open(&app, Role::Atf, &[], None).await;
    subscribe(&mut socket, "1", "subscription { traceRecorded { id } }").await;
    let refused = next(&mut socket).await.expect("an answer");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "1");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "UNAVAILABLE",
        "{refused}"
    );
    // Refused, not admitted uncounted: a write delivers nothing, and the connection stays.
    create_trace(&app, "T-UNCOUNTED").await;
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await, Ok(json!({ "type": "pong" })));
    silent(&mut socket, Duration::from_millis(800)).await;
}

#[tokio::test]
async fn the_connection_closes_when_its_token_expires() {
    let app = spawn_app().await;
    let token = firearms_hub::auth::mint_dev_token(
        &app.settings.auth,
        Role::Atf,
        &[],
        Duration::from_secs(2),
        "short-lived",
    )
    .expect("token minted");
    let mut socket = open_with_token(&app, &token).await;
    let started = std::time::Instant::now();
    assert_eq!(closed_with(&mut socket).await, 4401);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_write_through_one_process_reaches_subscribers_of_another() {
    let app = spawn_app().await;
    if app.db.backend() != DbBackend::Postgres {
        // SQLite serves one process: its events stay in the process (the tests above).
        return;
    }
    fixtures::load(&app.db.db).await;
    let other = another_process(&app, |_| {}).await;
    let mut ice = open(&other, Role::Ice, &[], Some(PURPOSE)).await;
    subscribe(
        &mut ice,
        "t",
        "subscription { traceRecorded { traceNumber purchaserName } }",
    )
    .await;
    let mut blind = open(&other, Role::Ice, &[], None).await;
    subscribe(
        &mut blind,
        "t",
        "subscription { traceRecorded { traceNumber } }",
    )
    .await;
    subscribe(
        &mut blind,
        "s",
        "subscription { seizureRecorded { caseNumber } }",
    )
    .await;
    let mut atf = open(&other, Role::Atf, &[], Some(PURPOSE)).await;
    subscribe(
        &mut atf,
        "l",
        "subscription { linkFound { basis tracedFirearm { serialNumber } } }",
    )
    .await;
    settled(&mut ice).await;
    settled(&mut blind).await;
    settled(&mut atf).await;

    // Written through the first process.
    create_trace(&app, "T-REPLICA").await;
    record_seizure(&app, Role::Ice, "ICE-REPLICA", "SUB-0001").await;

    let delivered = next(&mut ice).await.expect("a delivery");
    assert_eq!(
        delivered["payload"]["data"]["traceRecorded"]["traceNumber"], "T-REPLICA",
        "{delivered}"
    );
    assert!(delivered["payload"]["data"]["traceRecorded"]["purchaserName"].is_null());
    // Without a purpose, ICE's subscriber on the other process receives its own seizure only.
    let first = next(&mut blind).await.expect("a delivery");
    assert_eq!(first["id"], "s", "{first}");
    assert_eq!(
        first["payload"]["data"]["seizureRecorded"]["caseNumber"],
        "ICE-REPLICA"
    );
    silent(&mut blind, Duration::from_millis(800)).await;
    // The seizure's firearm has the serial of the new trace's: a link, found on the other process.
    let found = next(&mut atf).await.expect("a delivery");
    assert_eq!(
        found["payload"]["data"]["linkFound"]["tracedFirearm"]["serialNumber"], "SUB-0001",
        "{found}"
    );
    // And audited there.
    let audited = app
        .db
        .scalar_reaching(
            "SELECT COUNT(*) FROM audit_event WHERE subject = 'test-ice' AND purpose IS NOT NULL \
             AND entities LIKE '%trace%' AND rows_returned = 1",
            1,
        )
        .await;
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn the_readme_example_subscribes_and_receives() {
    let app = spawn_app().await;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let block = readme
        .split("```json\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .find(|block| block.contains("\"connection_init\""))
        .expect("README.md shows a subscription's messages");
    let mut socket = connect(&app).await;
    let token = token(&app, Role::Ice, &[]);
    let mut id = String::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let message: Value =
            serde_json::from_str(&line.replace("$TOKEN", &token)).expect("each line is JSON");
        send(&mut socket, message.clone()).await;
        if message["type"] == "connection_init" {
            assert_eq!(
                next(&mut socket).await,
                Ok(json!({ "type": "connection_ack" }))
            );
        } else {
            id = message["id"].as_str().unwrap_or_default().to_owned();
        }
    }
    settled(&mut socket).await;
    let mut sonora = trace_input("T-README", "README-1");
    sonora["recoveryState"] = json!("MX-SON");
    let created = app
        .as_role(Role::Atf)
        .query(CREATE_TRACE, json!({ "input": sonora }))
        .await;
    assert!(created["errors"].is_null(), "{created}");
    let delivered = next(&mut socket).await.expect("a delivery");
    assert_eq!(delivered["id"], id.as_str(), "{delivered}");
    assert!(delivered["payload"]["errors"].is_null(), "{delivered}");
    assert_eq!(
        delivered["payload"]["data"]["traceRecorded"]["traceNumber"],
        "T-README"
    );
}
