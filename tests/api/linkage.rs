//! Seizure–trace linkage with near-identical serials: the demo's seeded pairs are found as link
//! candidates (recall and precision), each role sees only the candidates whose both records it
//! reads, and ATF's and the seizing agency's decisions confirm a link that then counts like an
//! identical serial, or reverse it.

use std::collections::BTreeSet;

use entity::{Role, demo_near_serial};
use firearms_hub::demo::{self, DemoOptions};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::{As, TestApp, error_codes, spawn_app};

const CANDIDATES: &str = "query($after: String) { linkCandidates(first: 100, after: $after) { \
    totalCount pageInfo { hasNextPage endCursor } \
    nodes { score status reason { edit agreeing } \
            seizedFirearm { id serialNumber provenance { ownerAgency } } \
            tracedFirearm { id serialNumber provenance { ownerAgency } } } } }";

const DECIDE: &str = "mutation($s: ID!, $t: ID!, $d: LinkDecisionKind!) { \
    decideLinkCandidate(input: { seizedFirearmId: $s, tracedFirearmId: $t, decision: $d }) { \
    status decisions { side decision subject role purpose decidedAt } } }";

const CANDIDATES_DECIDED: &str = "query($s: ID!) { linkCandidates(filter: { seizedFirearmId: $s }) { \
    nodes { status decisions { side decision subject purpose } } } }";

async fn with_demo(scale: f64) -> TestApp {
    let app = spawn_app().await;
    demo::generate(
        &app.db.db,
        &DemoOptions {
            seed: demo::DEFAULT_SEED,
            scale,
            progress: false,
        },
    )
    .await
    .expect("demo data generates");
    app
}

/// Every candidate the caller sees, as (seized id, traced id, whole node).
async fn all_candidates(caller: &crate::helpers::As<'_>) -> Vec<(i64, i64, Value)> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = caller.query(CANDIDATES, json!({ "after": after })).await;
        assert!(page["errors"].is_null(), "{page}");
        let conn = &page["data"]["linkCandidates"];
        for node in conn["nodes"].as_array().expect("nodes") {
            let id = |side: &str| {
                node[side]["id"]
                    .as_str()
                    .and_then(|s| s.parse::<i64>().ok())
                    .expect("an id")
            };
            out.push((id("seizedFirearm"), id("tracedFirearm"), node.clone()));
        }
        if conn["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    out
}

async fn seeds(app: &TestApp) -> BTreeSet<(i64, i64)> {
    demo_near_serial::Entity::find()
        .all(&app.db.db)
        .await
        .expect("seeds")
        .into_iter()
        .map(|s| (s.seized_firearm_id, s.traced_firearm_id))
        .collect()
}

#[tokio::test]
async fn every_seeded_near_serial_is_found_and_nothing_else() {
    let app = with_demo(0.2).await;
    let truth = seeds(&app).await;
    assert!(
        truth.len() >= 20,
        "seeded pairs at scale 0.2: {}",
        truth.len()
    );
    let kinds = app
        .db
        .scalar("SELECT COUNT(DISTINCT edit) FROM demo_near_serial")
        .await;
    assert!(kinds >= 4, "every kind of edit is seeded: {kinds}");
    // A seeded pair is never linked by an identical serial.
    let linked = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM demo_near_serial s JOIN firearm_link l ON \
             (l.firearm_id = s.seized_firearm_id AND l.linked_firearm_id = s.traced_firearm_id) \
             OR (l.firearm_id = s.traced_firearm_id AND l.linked_firearm_id = s.seized_firearm_id)",
        )
        .await;
    assert_eq!(linked, 0);
    // Nor does a seeded serial equal the serial of another traced firearm of its manufacturer,
    // whatever the type: the identical-serial link would identify the seized record.
    let identical = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM demo_near_serial d JOIN firearm s ON s.id = d.seized_firearm_id \
             JOIN firearm g ON g.serial_normalized = s.serial_normalized \
             AND g.owner_agency = 'ATF' AND lower(g.manufacturer) = lower(s.manufacturer)",
        )
        .await;
    assert_eq!(identical, 0);

    let atf = app.as_role(Role::Atf);
    let found = all_candidates(&atf).await;
    let pairs: BTreeSet<(i64, i64)> = found.iter().map(|(s, t, _)| (*s, *t)).collect();
    assert_eq!(pairs.len(), found.len(), "each pair once");
    let hits = pairs.intersection(&truth).count() as f64;
    let recall = hits / truth.len() as f64;
    let precision = hits / pairs.len().max(1) as f64;
    // Each seeded serial is one edit from its traced firearm's alone, and no other seized serial
    // is one edit from a traced one: every seed is found, and nothing else.
    assert!(
        recall == 1.0 && precision == 1.0,
        "recall {recall}, precision {precision} ({} found, {} seeded)",
        pairs.len(),
        truth.len()
    );
    for (_, _, node) in &found {
        assert_eq!(node["tracedFirearm"]["provenance"]["ownerAgency"], "ATF");
        assert_ne!(node["seizedFirearm"]["provenance"]["ownerAgency"], "ATF");
        assert_ne!(
            node["seizedFirearm"]["serialNumber"], node["tracedFirearm"]["serialNumber"],
            "{node}"
        );
        let score = node["score"].as_f64().expect("a score");
        assert!(score > 0.0 && score <= 1.0, "{node}");
        let agreeing = node["reason"]["agreeing"].as_array().expect("agreeing");
        assert!(agreeing.contains(&json!("MANUFACTURER")), "{node}");
        assert!(agreeing.contains(&json!("FIREARM_TYPE")), "{node}");
        assert_eq!(node["status"], "OPEN");
    }
}

#[tokio::test]
async fn a_role_sees_a_candidate_only_where_it_reads_both_records() {
    let app = with_demo(0.05).await;
    let truth = seeds(&app).await;
    assert!(!truth.is_empty());
    let atf = all_candidates(&app.as_role(Role::Atf)).await;
    assert!(!atf.is_empty());

    // Without a purpose ATF reads no seizing agency's record, and ICE no trace: nothing, and the
    // response says rows were withheld.
    for role in [Role::Atf, Role::Ice] {
        let r = app
            .as_role(role)
            .without_purpose()
            .query(CANDIDATES, json!({}))
            .await;
        assert_eq!(r["data"]["linkCandidates"]["totalCount"], 0, "{role}: {r}");
        let withheld = r["errors"].as_array().is_some_and(|errors| {
            errors.iter().any(|e| {
                e["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("X-Access-Purpose")
            })
        });
        assert!(withheld, "{role}: {r}");
    }
    // ICE with a purpose reads traces and every seizure: the same candidates as ATF.
    let ice = all_candidates(&app.as_role(Role::Ice)).await;
    assert_eq!(ice.len(), atf.len());
    // CBP reads no traces: it sees no candidate, and the schema does not offer them.
    let cbp = app.as_role(Role::Cbp).query(CANDIDATES, json!({})).await;
    assert_eq!(cbp["data"]["linkCandidates"]["totalCount"], 0, "{cbp}");
    // STATE and OVERSIGHT read no firearm records at all.
    for role in [Role::State, Role::Oversight] {
        let r = app.as_role(role).query(CANDIDATES, json!({})).await;
        assert_eq!(error_codes(&r), vec!["FORBIDDEN"], "{role}: {r}");
    }
    // me.permissions reports the rule.
    let me = app
        .as_role(Role::Cbp)
        .run("{ me { permissions { entity rows canWrite } } }")
        .await;
    let rule = me["data"]["me"]["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .find(|p| p["entity"] == "linkCandidate")
        .cloned();
    assert_eq!(
        rule,
        Some(json!({ "entity": "linkCandidate", "rows": "ALL", "canWrite": true })),
        "{me}"
    );
}

#[tokio::test]
async fn both_sides_confirm_a_link_that_then_counts_like_an_identical_serial_and_a_rejection_reverses_it()
 {
    let app = with_demo(0.05).await;
    let atf = app.as_role(Role::Atf);
    let ice = app.as_role(Role::Ice);
    let cbp = app.as_role(Role::Cbp);
    // An ICE seizure's record near an ATF trace's.
    let (seized, traced, _) = all_candidates(&atf)
        .await
        .into_iter()
        .find(|(_, _, n)| n["seizedFirearm"]["provenance"]["ownerAgency"] == "ICE")
        .expect("a candidate on an ICE seizure");
    let vars = |d: &str| json!({ "s": seized.to_string(), "t": traced.to_string(), "d": d });
    let traces_of_seized = "query($id: ID!) { firearm(id: $id) { traces { totalCount } } }";
    let confirmed_links = format!(
        "SELECT COUNT(*) FROM firearm_link WHERE basis = 'CONFIRMED_NEAR_SERIAL' AND \
         firearm_id = {} AND linked_firearm_id = {}",
        seized.min(traced),
        seized.max(traced)
    );
    let before = ice.query_on(traces_of_seized, seized).await;
    assert_eq!(
        before["data"]["firearm"]["traces"]["totalCount"], 0,
        "{before}"
    );

    // Nobody outside the pair's agencies decides, and a caller who cannot see it learns nothing.
    let r = cbp.query(DECIDE, vars("CONFIRM")).await;
    assert_eq!(error_codes(&r), vec!["NOT_FOUND"], "{r}");
    let r = app
        .as_role(Role::Ice)
        .without_purpose()
        .query(DECIDE, vars("CONFIRM"))
        .await;
    assert_eq!(error_codes(&r), vec!["NOT_FOUND"], "{r}");
    let r = app
        .as_role(Role::Ice)
        .query(DECIDE, json!({ "s": seized.to_string(), "t": (traced + 1_000_000).to_string(), "d": "CONFIRM" }))
        .await;
    assert_eq!(error_codes(&r), vec!["NOT_FOUND"], "{r}");

    // ATF confirms: one side is not enough.
    let r = atf.query(DECIDE, vars("CONFIRM")).await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(r["data"]["decideLinkCandidate"]["status"], "OPEN", "{r}");
    assert_eq!(app.db.scalar(&confirmed_links).await, 0);
    // ICE confirms: the records are linked.
    let r = ice.query(DECIDE, vars("CONFIRM")).await;
    assert!(r["errors"].is_null(), "{r}");
    let decided = &r["data"]["decideLinkCandidate"];
    assert_eq!(decided["status"], "CONFIRMED", "{r}");
    let decisions = decided["decisions"].as_array().expect("decisions");
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[0]["side"], "ATF");
    assert_eq!(decisions[1]["side"], "ICE");
    assert_eq!(decisions[1]["subject"], "test-ice");
    assert_eq!(decisions[1]["purpose"], "CASE-2026-0001 test");
    // ICE reads only its own audit events: ATF's decision shows its kind and time, not who took
    // it or why; ATF sees ICE's the same way.
    assert_eq!(decisions[0]["decision"], "CONFIRM");
    assert!(decisions[0]["subject"].is_null(), "{r}");
    assert!(decisions[0]["purpose"].is_null(), "{r}");
    let r = atf
        .query(CANDIDATES_DECIDED, json!({ "s": seized.to_string() }))
        .await;
    let seen = &r["data"]["linkCandidates"]["nodes"][0]["decisions"];
    assert_eq!(seen[0]["subject"], "test-atf", "{r}");
    assert!(seen[1]["subject"].is_null(), "{r}");
    assert!(seen[1]["purpose"].is_null(), "{r}");
    assert_eq!(app.db.scalar(&confirmed_links).await, 1);
    let after = ice.query_on(traces_of_seized, seized).await;
    assert_eq!(
        after["data"]["firearm"]["traces"]["totalCount"], 1,
        "{after}"
    );
    let seizures_of_traced = "query($id: ID!) { firearm(id: $id) { seizures { totalCount } } }";
    let r = atf.query_on(seizures_of_traced, traced).await;
    assert_eq!(r["data"]["firearm"]["seizures"]["totalCount"], 1, "{r}");
    // Audited in the same transaction, with the purpose.
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(*) FROM audit_event WHERE operation = 'decideLinkCandidate' \
                 AND purpose = 'CASE-2026-0001 test' AND outcome = 'ok'"
            )
            .await,
        2
    );
    // Changing the trace keeps the confirmed link (a new record and its identical-serial links:
    // see the test below).
    let r = atf
        .query_on(
            "query($id: ID!) { firearm(id: $id) { traces { nodes { id version } } } }",
            traced,
        )
        .await;
    let trace = &r["data"]["firearm"]["traces"]["nodes"][0];
    let r = atf
        .query(
            "mutation($id: ID!, $v: Int!) { updateTrace(id: $id, input: { requestingAgency: \"GN\" }, expectedVersion: $v) { id } }",
            json!({ "id": trace["id"], "v": trace["version"] }),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(app.db.scalar(&confirmed_links).await, 1);

    // ICE changes its mind: the link goes, every decision stays.
    let r = ice.query(DECIDE, vars("REJECT")).await;
    assert_eq!(
        r["data"]["decideLinkCandidate"]["status"], "REJECTED",
        "{r}"
    );
    assert_eq!(
        r["data"]["decideLinkCandidate"]["decisions"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(app.db.scalar(&confirmed_links).await, 0);
    let after = ice.query_on(traces_of_seized, seized).await;
    assert_eq!(
        after["data"]["firearm"]["traces"]["totalCount"], 0,
        "{after}"
    );
    // And back again: a later decision supersedes.
    let r = ice.query(DECIDE, vars("CONFIRM")).await;
    assert_eq!(
        r["data"]["decideLinkCandidate"]["status"], "CONFIRMED",
        "{r}"
    );
    assert_eq!(app.db.scalar(&confirmed_links).await, 1);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM link_decision").await, 4);

    // ICE deletes the seizure: its record is held by nothing any more and goes with its links.
    let r = ice
        .query_on(
            "query($id: ID!) { firearm(id: $id) { seizures { nodes { id } } } }",
            seized,
        )
        .await;
    let seizure = r["data"]["firearm"]["seizures"]["nodes"][0]["id"].clone();
    assert!(seizure.is_string(), "{r}");
    let r = ice
        .query(
            "mutation($id: ID!) { deleteSeizure(id: $id) }",
            json!({ "id": seizure }),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(app.db.scalar(&confirmed_links).await, 0);
    let r = atf.query_on(seizures_of_traced, traced).await;
    assert_eq!(r["data"]["firearm"]["seizures"]["totalCount"], 0, "{r}");
}

#[tokio::test]
async fn concurrent_decisions_on_one_pair_leave_the_link_the_latest_decisions_say() {
    let app = with_demo(0.05).await;
    let atf = app.as_role(Role::Atf);
    let ice = app.as_role(Role::Ice);
    let mut on_ice = all_candidates(&atf)
        .await
        .into_iter()
        .filter(|(_, _, n)| n["seizedFirearm"]["provenance"]["ownerAgency"] == "ICE");
    let link_count = |seized: i64, traced: i64| {
        format!(
            "SELECT COUNT(*) FROM firearm_link WHERE basis = 'CONFIRMED_NEAR_SERIAL' AND \
             firearm_id = {} AND linked_firearm_id = {}",
            seized.min(traced),
            seized.max(traced)
        )
    };
    let status = |r: &Value| r["data"]["decideLinkCandidate"]["status"].clone();
    for _ in 0..3 {
        let (seized, traced, _) = on_ice.next().expect("an ICE candidate");
        let vars = |d: &str| json!({ "s": seized.to_string(), "t": traced.to_string(), "d": d });
        // Both sides confirm at once: each sees the other's decision, the records are linked.
        let (a, b) = tokio::join!(
            atf.query(DECIDE, vars("CONFIRM")),
            ice.query(DECIDE, vars("CONFIRM"))
        );
        assert!(a["errors"].is_null() && b["errors"].is_null(), "{a} {b}");
        assert!(
            status(&a) == "CONFIRMED" || status(&b) == "CONFIRMED",
            "the later of two confirmations sees both: {a} {b}"
        );
        assert_eq!(app.db.scalar(&link_count(seized, traced)).await, 1);
        // One side confirms twice at once: idempotent, no error, still one link.
        let (a, b) = tokio::join!(
            atf.query(DECIDE, vars("CONFIRM")),
            atf.query(DECIDE, vars("CONFIRM"))
        );
        assert!(a["errors"].is_null() && b["errors"].is_null(), "{a} {b}");
        assert_eq!(app.db.scalar(&link_count(seized, traced)).await, 1);
        // A confirmation races a rejection: the link follows the latest decisions, whichever
        // committed last.
        let (a, b) = tokio::join!(
            atf.query(DECIDE, vars("CONFIRM")),
            ice.query(DECIDE, vars("REJECT"))
        );
        assert!(a["errors"].is_null() && b["errors"].is_null(), "{a} {b}");
        assert_eq!(status(&b), "REJECTED", "{b}");
        assert_eq!(app.db.scalar(&link_count(seized, traced)).await, 0);
        // A rejection races both sides confirming again: the link is there exactly when every
        // side's latest decision, as stored, confirms.
        let (a, b, c) = tokio::join!(
            ice.query(DECIDE, vars("CONFIRM")),
            atf.query(DECIDE, vars("REJECT")),
            atf.query(DECIDE, vars("CONFIRM"))
        );
        for r in [&a, &b, &c] {
            assert!(r["errors"].is_null(), "{r}");
        }
        let latest_atf = app
            .db
            .scalar(&format!(
                "SELECT CASE WHEN decision = 'CONFIRM' THEN 1 ELSE 0 END FROM link_decision \
                 WHERE seized_firearm_id = {seized} AND traced_firearm_id = {traced} \
                 AND side = 'ATF' ORDER BY id DESC LIMIT 1"
            ))
            .await;
        assert_eq!(
            app.db.scalar(&link_count(seized, traced)).await,
            latest_atf,
            "ICE confirmed last; the link follows ATF's latest decision"
        );
    }
}

#[tokio::test]
async fn ice_deciding_on_a_cbp_seizures_candidate_is_refused_as_a_pair_that_is_none() {
    let app = with_demo(0.05).await;
    let atf = app.as_role(Role::Atf);
    let ice = app.as_role(Role::Ice);
    let (seized, traced, _) = all_candidates(&atf)
        .await
        .into_iter()
        .find(|(_, _, n)| n["seizedFirearm"]["provenance"]["ownerAgency"] == "CBP")
        .expect("a candidate on a CBP seizure");
    let on_cbp = ice
        .query(
            DECIDE,
            json!({ "s": seized.to_string(), "t": traced.to_string(), "d": "CONFIRM" }),
        )
        .await;
    let none = ice
        .query(
            DECIDE,
            json!({ "s": seized.to_string(), "t": (traced + 1_000_000).to_string(), "d": "CONFIRM" }),
        )
        .await;
    assert_eq!(error_codes(&on_cbp), vec!["NOT_FOUND"], "{on_cbp}");
    assert_eq!(on_cbp["errors"][0]["message"], none["errors"][0]["message"]);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM link_decision").await, 0);
}

#[tokio::test]
async fn a_new_identical_serial_keeps_the_confirmed_link_which_can_still_be_undone() {
    let app = with_demo(0.05).await;
    let atf = app.as_role(Role::Atf);
    let ice = app.as_role(Role::Ice);
    let (seized, traced, _) = all_candidates(&atf)
        .await
        .into_iter()
        .find(|(_, _, n)| n["seizedFirearm"]["provenance"]["ownerAgency"] == "ICE")
        .expect("a candidate on an ICE seizure");
    let vars = |d: &str| json!({ "s": seized.to_string(), "t": traced.to_string(), "d": d });
    let confirmed_links = format!(
        "SELECT COUNT(*) FROM firearm_link WHERE basis = 'CONFIRMED_NEAR_SERIAL' AND \
         firearm_id = {} AND linked_firearm_id = {}",
        seized.min(traced),
        seized.max(traced)
    );
    let exact_links = format!(
        "SELECT COUNT(*) FROM firearm_link WHERE basis = 'EXACT_SERIAL_MANUFACTURER' AND \
         (firearm_id = {seized} OR linked_firearm_id = {seized})"
    );
    for (caller, d) in [(&atf, "CONFIRM"), (&ice, "CONFIRM")] {
        let r = caller.query(DECIDE, vars(d)).await;
        assert!(r["errors"].is_null(), "{r}");
    }
    assert_eq!(app.db.scalar(&confirmed_links).await, 1);
    assert_eq!(app.db.scalar(&exact_links).await, 0);

    // ATF traces a gun with the seized record's very serial: the write inserts a new record of
    // ATF's and links it to the seized one by the identical serial, leaving the confirmed link.
    trace_the_seized_serial(&ice, &atf, seized).await;
    assert_eq!(app.db.scalar(&exact_links).await, 1);
    assert_eq!(app.db.scalar(&confirmed_links).await, 1);
    // The seized record is now identified: the pair is no candidate any more ...
    let r = atf
        .query(CANDIDATES_DECIDED, json!({ "s": seized.to_string() }))
        .await;
    assert_eq!(r["data"]["linkCandidates"]["nodes"], json!([]), "{r}");
    // ... yet its confirmed link can still be undone, and once undone the pair is not decidable.
    let r = ice.query(DECIDE, vars("REJECT")).await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(app.db.scalar(&confirmed_links).await, 0);
    let r = ice.query(DECIDE, vars("CONFIRM")).await;
    assert_eq!(error_codes(&r), vec!["NOT_FOUND"], "{r}");
}

/// ATF traces a gun with the serial (and manufacturer, type, caliber) of ICE's seized record
/// `seized`: a new record of ATF's, linked to the seized one by the identical serial, so that the
/// seized record is identified and offers no candidate any more.
async fn trace_the_seized_serial(ice: &As<'_>, atf: &As<'_>, seized: i64) {
    let r = ice
        .query_on(
            "query($id: ID!) { firearm(id: $id) { manufacturer type caliber serialNumber } }",
            seized,
        )
        .await;
    let record = &r["data"]["firearm"];
    let mut input = crate::fixtures::trace_input("T-SYNC-0001", "unused");
    input["firearm"] = json!({
        "manufacturer": record["manufacturer"],
        "type": record["type"],
        "caliber": record["caliber"],
        "serialNumber": record["serialNumber"],
    });
    let r = atf
        .query(
            "mutation($input: TraceInput!) { createTrace(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
}

/// A pair that stopped being a candidate after one side confirmed it: that side may withdraw its
/// confirmation (a REJECT), once; nobody may otherwise decide on it, neither the side that never
/// confirmed (either way) nor the confirming side confirming again.
#[tokio::test]
async fn only_a_sides_own_confirmation_of_a_pair_no_longer_a_candidate_can_be_withdrawn() {
    let app = with_demo(0.05).await;
    let atf = app.as_role(Role::Atf);
    let ice = app.as_role(Role::Ice);
    let (seized, traced, _) = all_candidates(&atf)
        .await
        .into_iter()
        .find(|(_, _, n)| n["seizedFirearm"]["provenance"]["ownerAgency"] == "ICE")
        .expect("a candidate on an ICE seizure");
    let vars = |d: &str| json!({ "s": seized.to_string(), "t": traced.to_string(), "d": d });
    let decisions = format!(
        "SELECT COUNT(*) FROM link_decision WHERE seized_firearm_id = {seized} \
         AND traced_firearm_id = {traced}"
    );
    let r = atf.query(DECIDE, vars("CONFIRM")).await;
    assert!(r["errors"].is_null(), "{r}");
    trace_the_seized_serial(&ice, &atf, seized).await;
    let r = atf
        .query(CANDIDATES_DECIDED, json!({ "s": seized.to_string() }))
        .await;
    assert_eq!(r["data"]["linkCandidates"]["nodes"], json!([]), "{r}");

    for (caller, d) in [(&ice, "CONFIRM"), (&ice, "REJECT"), (&atf, "CONFIRM")] {
        let r = caller.query(DECIDE, vars(d)).await;
        assert_eq!(error_codes(&r), vec!["NOT_FOUND"], "{d}: {r}");
    }
    assert_eq!(app.db.scalar(&decisions).await, 1);

    let r = atf.query(DECIDE, vars("REJECT")).await;
    assert!(r["errors"].is_null(), "{r}");
    let own = &r["data"]["decideLinkCandidate"]["decisions"];
    assert_eq!(own[1]["side"], "ATF", "{r}");
    assert_eq!(own[1]["decision"], "REJECT", "{r}");
    assert_eq!(
        r["data"]["decideLinkCandidate"]["status"], "REJECTED",
        "{r}"
    );
    // Withdrawn: nothing is left to reverse.
    for d in ["REJECT", "CONFIRM"] {
        let r = atf.query(DECIDE, vars(d)).await;
        assert_eq!(error_codes(&r), vec!["NOT_FOUND"], "{d}: {r}");
    }
    assert_eq!(app.db.scalar(&decisions).await, 2);
}

/// A trace by ATF of a gun of `manufacturer` (a pistol) recovered in `state`, recorded with
/// `serial`; the id of ATF's firearm record.
async fn traced(atf: &As<'_>, number: &str, state: &str, manufacturer: &str, serial: &str) -> i64 {
    let mut input = crate::fixtures::trace_input(number, serial);
    input["recoveryState"] = json!(state);
    input["firearm"]["manufacturer"] = json!(manufacturer);
    let r = atf
        .query(
            "mutation($input: TraceInput!) { createTrace(input: $input) { firearm { id } } }",
            json!({ "input": input }),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    id_of(&r["data"]["createTrace"]["firearm"]["id"])
}

/// A seizure by `agency` (the caller's) of one pistol of `manufacturer` recorded with `serial`,
/// in fiscal year 2022; the id of the seizing agency's firearm record.
async fn seized(
    caller: &As<'_>,
    case: &str,
    agency: &str,
    manufacturer: &str,
    serial: &str,
) -> i64 {
    let input = json!({
        "caseNumber": case,
        "seizingAgency": agency,
        "seizedOn": "2022-03-04",
        "usState": "AZ",
        "direction": "OUTBOUND",
        "ammunitionRounds": 10,
        "firearms": [{ "manufacturer": manufacturer, "type": "PISTOL", "caliber": "9mm", "serialNumber": serial }]
    });
    let r = caller
        .query(
            "mutation($input: SeizureInput!) { recordSeizure(input: $input) { firearms { id } } }",
            json!({ "input": input }),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    id_of(&r["data"]["recordSeizure"]["firearms"][0]["id"])
}

fn id_of(id: &Value) -> i64 {
    id.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an id: {id}"))
}

const OF_SEIZED: &str = "query($s: ID!) { linkCandidates(filter: { seizedFirearmId: $s }) { \
    totalCount nodes { score status reason { edit agreeing } \
    seizedFirearm { id serialNumber } tracedFirearm { id serialNumber } } } }";

/// Oversight opens to CBP, for the hour around now, the traces recovered in `states`.
async fn grant_cbp_traces(app: &TestApp, states: &[&str]) {
    let now = chrono::Utc::now();
    let filter = json!({ "recoveryState": states }).to_string();
    let r = app
        .as_role(Role::Oversight)
        .query(
            "mutation($input: GrantInput!) { grantAccess(input: $input) { id } }",
            json!({ "input": {
                "role": "CBP", "entity": "trace", "rowFilter": filter,
                "reason": "MOU 2026-7 serial review",
                "startsAt": (now - chrono::Duration::hours(1)).to_rfc3339(),
                "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
            } }),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
}

/// The attack: a seized record whose serial is one keying error from a trace the caller reads, and
/// identical to the serial of another trace. Two callers that differ only in whether they may read
/// that other trace must not be able to tell, from the candidates or from deciding on them, that
/// it exists. CBP follows firearm links here (it does not by default) and reads traces only
/// through grants, so its grants alone decide which traces it reads.
#[tokio::test]
async fn a_trace_the_caller_may_not_read_never_takes_a_candidate_away() {
    let policy = firearms_hub::policy::DEFAULT_POLICY.replace(
        "[roles.CBP.firearmLink]\nrows = \"none\"",
        "[roles.CBP.firearmLink]\nrows = \"all\"",
    );
    assert_ne!(
        policy,
        firearms_hub::policy::DEFAULT_POLICY,
        "the edit applies"
    );
    let app = crate::helpers::spawn_app_with_policy(&policy).await;
    let atf = app.as_role(Role::Atf);
    let cbp = app.as_role(Role::Cbp);
    let ice = app.as_role(Role::Ice);
    let near = traced(&atf, "T-NEAR", "MX-SON", "Glock", "GLK-7700-1234").await;
    let s = seized(&cbp, "CBP-NEAR", "CBP", "Glock", "GLK7700I234").await;
    let vars = json!({ "s": s.to_string() });
    grant_cbp_traces(&app, &["MX-SON"]).await;
    let before = cbp.query(OF_SEIZED, vars.clone()).await;
    assert!(before["errors"].is_null(), "{before}");
    let nodes = &before["data"]["linkCandidates"]["nodes"];
    assert_eq!(nodes.as_array().map(Vec::len), Some(1), "{before}");
    assert_eq!(nodes[0]["tracedFirearm"]["id"], near.to_string());
    assert_eq!(nodes[0]["reason"]["edit"], "CONFUSABLE_SUBSTITUTION");

    // ATF traces, in Jalisco, a gun recorded with the seized serial exactly: the identical serial
    // links the seized record to it.
    let same = traced(&atf, "T-SAME", "MX-JAL", "Glock", "GLK-7700-I234").await;
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM firearm_link WHERE basis = 'EXACT_SERIAL_MANUFACTURER' \
                 AND firearm_id = {} AND linked_firearm_id = {}",
                s.min(same),
                s.max(same)
            ))
            .await,
        1
    );
    // CBP reads no Jalisco trace: it sees exactly what it saw before that trace existed, and may
    // decide on the pair as before.
    let after = cbp.query(OF_SEIZED, vars.clone()).await;
    assert_eq!(after["data"], before["data"], "{after}");
    assert_eq!(after["errors"], before["errors"], "{after}");
    let decide = json!({ "s": s.to_string(), "t": near.to_string(), "d": "REJECT" });
    let r = cbp.query(DECIDE, decide.clone()).await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(
        r["data"]["decideLinkCandidate"]["status"], "REJECTED",
        "{r}"
    );

    // A caller that reads the Jalisco trace and follows the link sees the seized record
    // identified: no candidate, and none to decide on.
    for caller in [&ice, &atf] {
        let r = caller.query(OF_SEIZED, vars.clone()).await;
        assert_eq!(r["data"]["linkCandidates"]["totalCount"], 0, "{r}");
    }
    let r = atf
        .query(
            DECIDE,
            json!({ "s": s.to_string(), "t": near.to_string(), "d": "CONFIRM" }),
        )
        .await;
    assert_eq!(error_codes(&r), vec!["NOT_FOUND"], "{r}");
    // CBP once granted the Jalisco traces too: the same.
    grant_cbp_traces(&app, &["MX-JAL"]).await;
    let r = cbp.query(OF_SEIZED, vars.clone()).await;
    assert_eq!(r["data"]["linkCandidates"]["totalCount"], 0, "{r}");
    let r = cbp.query(DECIDE, decide).await;
    assert_eq!(error_codes(&r), vec!["NOT_FOUND"], "{r}");
}

/// Firearm edges and the matched-seizures measure for one gun: (traces of each seizing agency's
/// record as ICE sees them, seizures of each ATF record as ATF sees them).
async fn edges(ice: &As<'_>, atf: &As<'_>, seized: &[i64], traced: &[i64]) -> Vec<i64> {
    let mut out = Vec::new();
    for id in seized {
        let r = ice
            .query_on(
                "query($id: ID!) { firearm(id: $id) { traces { totalCount } } }",
                *id,
            )
            .await;
        assert!(r["errors"].is_null(), "{r}");
        out.push(
            r["data"]["firearm"]["traces"]["totalCount"]
                .as_i64()
                .expect("a count"),
        );
    }
    for id in traced {
        let r = atf
            .query_on(
                "query($id: ID!) { firearm(id: $id) { seizures { totalCount } } }",
                *id,
            )
            .await;
        assert!(r["errors"].is_null(), "{r}");
        out.push(
            r["data"]["firearm"]["seizures"]["totalCount"]
                .as_i64()
                .expect("a count"),
        );
    }
    out
}

async fn matched_in_fy2022(caller: &As<'_>) -> i64 {
    let r = caller
        .run("{ performanceMeasure(code: \"S-MATCHED-TEST\") { actuals(fiscalYear: 2022) { value } } }")
        .await;
    assert!(r["errors"].is_null(), "{r}");
    r["data"]["performanceMeasure"]["actuals"][0]["value"]
        .as_i64()
        .unwrap_or_else(|| panic!("a value: {r}"))
}

/// A confirmed near-serial link joins two guns' groups of records exactly as an identical serial
/// would: every record of either reaches every record of the other (over several links), in
/// `Firearm.traces`, `Firearm.seizures`, the candidates and the matched-seizures measure; a later
/// rejection undoes all of it.
#[tokio::test]
async fn a_confirmed_link_counts_everywhere_as_an_identical_serial_would_until_it_is_rejected() {
    let app = crate::helpers::spawn_app().await;
    let atf = app.as_role(Role::Atf);
    let ice = app.as_role(Role::Ice);
    let cbp = app.as_role(Role::Cbp);
    // One gun, every serial identical: ATF traced it twice (one record of ATF's, held by both
    // traces), ICE and CBP each seized it (a record each, all three linked by the serial).
    let same_traced = traced(&atf, "T-E1", "MX-SON", "Ruger", "RUG-5500-3300").await;
    assert_eq!(
        traced(&atf, "T-E2", "MX-JAL", "Ruger", "RUG55003300").await,
        same_traced
    );
    let same_seized = [
        seized(&ice, "HSI-E", "ICE", "Ruger", "RUG-5500-3300").await,
        seized(&cbp, "CBP-E", "CBP", "Ruger", "rug 5500 3300").await,
    ];
    // Another, the same but for ICE keying O for a 0, and CBP keying the serial as ICE did: ICE's
    // and CBP's records are linked by their identical serial, neither to ATF's.
    let near_traced = traced(&atf, "T-N1", "MX-SON", "Smith & Wesson", "SWM-4400-1200").await;
    assert_eq!(
        traced(&atf, "T-N2", "MX-JAL", "Smith & Wesson", "SWM44001200").await,
        near_traced
    );
    let near_seized = [
        seized(&ice, "HSI-N", "ICE", "Smith & Wesson", "SWM-440O-1200").await,
        seized(&cbp, "CBP-N", "CBP", "Smith & Wesson", "swm 440o 1200").await,
    ];
    let r = app
        .as_role(Role::Oversight)
        .query(
            "mutation($input: PerformanceMeasureInput!) { createPerformanceMeasure(input: $input) { code } }",
            json!({ "input": {
                "code": "S-MATCHED-TEST", "ownerAgency": "ICE", "goal": "Seized guns traced",
                "indicator": "Seized firearms matched to traces",
                "metric": "seized_firearms_matched_to_traces", "parameters": [],
                "baseline": 0, "target": 10, "periodStart": "2021-10-01", "periodEnd": "2022-09-30"
            } }),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");

    let identical = edges(&ice, &atf, &same_seized, &[same_traced]).await;
    assert_eq!(
        identical,
        vec![2, 2, 2],
        "each record reaches the other agencies' records"
    );
    let apart = edges(&ice, &atf, &near_seized, &[near_traced]).await;
    assert_eq!(apart, vec![0, 0, 0]);
    assert_eq!(
        matched_in_fy2022(&ice).await,
        2,
        "the identical serials' two seizures"
    );
    // Each seized record of the near gun is a candidate for ATF's record.
    let pairs = |found: &[(i64, i64, Value)]| -> BTreeSet<(i64, i64, String)> {
        found
            .iter()
            .map(|(s, t, n)| (*s, *t, n["status"].as_str().unwrap_or_default().to_owned()))
            .collect()
    };
    let open: BTreeSet<(i64, i64, String)> = near_seized
        .iter()
        .map(|s| (*s, near_traced, "OPEN".to_owned()))
        .collect();
    assert_eq!(pairs(&all_candidates(&atf).await), open);

    // ATF and ICE confirm ICE's record against ATF's.
    let vars =
        |d: &str| json!({ "s": near_seized[0].to_string(), "t": near_traced.to_string(), "d": d });
    for caller in [&atf, &ice] {
        let r = caller.query(DECIDE, vars("CONFIRM")).await;
        assert!(r["errors"].is_null(), "{r}");
    }
    // The near gun's records now reach each other exactly as the identical gun's do: CBP's record
    // reaches both traces over its identical serial to ICE's record and the confirmed link, and
    // ATF's record both seizures the other way.
    assert_eq!(
        edges(&ice, &atf, &near_seized, &[near_traced]).await,
        identical
    );
    assert_eq!(matched_in_fy2022(&ice).await, 4);
    // CBP's record is identified, as it would be by an identical serial: only the confirmed pair
    // stays, confirmed.
    let confirmed: BTreeSet<(i64, i64, String)> =
        [(near_seized[0], near_traced, "CONFIRMED".to_owned())].into();
    assert_eq!(pairs(&all_candidates(&atf).await), confirmed);
    assert_eq!(pairs(&all_candidates(&ice).await), confirmed);

    // ATF rejects: all of it goes back.
    let r = atf.query(DECIDE, vars("REJECT")).await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(edges(&ice, &atf, &near_seized, &[near_traced]).await, apart);
    assert_eq!(matched_in_fy2022(&ice).await, 2);
    let reopened: BTreeSet<(i64, i64, String)> = [
        (near_seized[0], near_traced, "REJECTED".to_owned()),
        (near_seized[1], near_traced, "OPEN".to_owned()),
    ]
    .into();
    assert_eq!(pairs(&all_candidates(&atf).await), reopened);
}
