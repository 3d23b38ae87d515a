//! Dependency floor: no package in Cargo.lock may resolve to a version with a known advisory that
//! matters to this service. The table is kept by hand (no network in tests); each entry names the
//! first fixed release, the advisory and why it matters here. A floor is one version for every
//! release line, so a patched older line (e.g. rustls 0.22.4) still fails: conservative by design.
//!
//! Known and accepted: RUSTSEC-2023-0071 (`rsa`, Marvin timing attack on RSA *decryption and
//! signing* with a private key; no fixed release). The hub only verifies RS256 signatures with
//! public keys, which the attack does not reach, so `rsa` is not in the table.

use std::collections::BTreeMap;

/// (crate, first safe version, advisory, why it matters here)
const FLOOR: &[(&str, &str, &str, &str)] = &[
    (
        "async-graphql",
        "7.0.10",
        "CVE-2024-47614 / GHSA-5gc2-7c65-8fq8",
        "unbounded directives per field: one small query exhausts the CPU",
    ),
    (
        "jsonwebtoken",
        "10.3.0",
        "CVE-2026-25537",
        "token validation flaw in the only library that decides who the caller is",
    ),
    (
        "sqlx",
        "0.8.1",
        "RUSTSEC-2024-0363",
        "length-prefix overflow smuggles SQL through the PostgreSQL wire protocol",
    ),
    (
        "sqlx-core",
        "0.8.1",
        "RUSTSEC-2024-0363",
        "as sqlx: the protocol encoding lives here",
    ),
    (
        "sqlx-postgres",
        "0.8.1",
        "RUSTSEC-2024-0363",
        "as sqlx: the exploitable PostgreSQL driver",
    ),
    (
        "libsqlite3-sys",
        "0.25.1",
        "RUSTSEC-2022-0090 / CVE-2022-35737",
        "bundled SQLite with an array-bounds overflow on large strings",
    ),
    (
        "rustls",
        "0.23.5",
        "RUSTSEC-2024-0336",
        "complete_io loops forever on a crafted close_notify (TLS to PostgreSQL)",
    ),
    (
        "rustls-webpki",
        "0.101.4",
        "RUSTSEC-2023-0052",
        "CPU denial of service in certificate path building",
    ),
    (
        "ring",
        "0.17.12",
        "RUSTSEC-2025-0009",
        "AES functions panic under overflow checks",
    ),
    (
        "idna",
        "1.0.0",
        "RUSTSEC-2024-0421 / CVE-2024-12224",
        "xn-- masked host names compare equal (database and key URLs)",
    ),
    (
        "tokio",
        "1.44.2",
        "RUSTSEC-2025-0023",
        "broadcast channel clones values across threads unsoundly",
    ),
    (
        "tracing-subscriber",
        "0.3.20",
        "RUSTSEC-2025-0055 / CVE-2025-58160",
        "request data in logs can carry ANSI escape sequences to an operator's terminal",
    ),
    (
        "hyper",
        "0.14.10",
        "RUSTSEC-2021-0078",
        "lenient Content-Length parsing allows request smuggling",
    ),
    (
        "h2",
        "0.3.26",
        "RUSTSEC-2024-0332",
        "HTTP/2 CONTINUATION flood exhausts memory",
    ),
    (
        "actix-http",
        "3.0.0",
        "RUSTSEC-2021-0081",
        "request smuggling through malformed Transfer-Encoding (fixed in 3.0.0-beta.9)",
    ),
    (
        "regex",
        "1.5.5",
        "RUSTSEC-2022-0013 / CVE-2022-24713",
        "crafted patterns take exponential time to compile",
    ),
    (
        "chrono",
        "0.4.20",
        "RUSTSEC-2020-0159",
        "localtime_r races with setenv and can segfault",
    ),
    (
        "time",
        "0.2.23",
        "RUSTSEC-2020-0071",
        "local offset lookup can segfault in a multithreaded process",
    ),
    (
        "smallvec",
        "1.6.1",
        "RUSTSEC-2021-0003",
        "buffer overflow in insert_many",
    ),
    (
        "slab",
        "0.4.11",
        "RUSTSEC-2025-0047",
        "out-of-bounds access in get_disjoint_mut",
    ),
];

/// Every (name, version) in the lock file. The format is `[[package]]` tables whose first keys
/// are `name = "..."` and `version = "..."`; nothing else is needed.
fn locked_packages(lock: &str) -> Vec<(String, String)> {
    let mut packages = Vec::new();
    let mut name: Option<String> = None;
    let mut version: Option<String> = None;
    let mut flush = |name: &mut Option<String>, version: &mut Option<String>| {
        if let (Some(n), Some(v)) = (name.take(), version.take()) {
            packages.push((n, v));
        }
    };
    for line in lock.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            flush(&mut name, &mut version);
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_owned();
        match key.trim() {
            "name" => name = Some(value),
            "version" => version = Some(value),
            _ => {}
        }
    }
    flush(&mut name, &mut version);
    packages
}

/// A version as (major, minor, patch, pre-release?). Build metadata is ignored. None when the
/// text is not `N.N.N[-pre][+build]`.
fn parse(version: &str) -> Option<([u64; 3], bool)> {
    let core = version.split('+').next()?;
    let (numbers, pre) = match core.split_once('-') {
        Some((n, p)) => (n, !p.is_empty()),
        None => (core, false),
    };
    let mut parts = numbers.split('.');
    let mut out = [0u64; 3];
    for slot in &mut out {
        *slot = parts.next()?.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some((out, pre))
}

/// Whether `version` is below `floor`. A pre-release of the floor itself counts as below it
/// (semver orders 1.0.0-rc.1 before 1.0.0), and an unparsable version counts as below anything:
/// the check fails closed.
fn below(version: &str, floor: &str) -> bool {
    let floor = parse(floor).expect("floor versions in the table are plain N.N.N");
    match parse(version) {
        None => true,
        Some((numbers, pre)) => numbers < floor.0 || (numbers == floor.0 && pre),
    }
}

#[test]
fn version_comparison_is_numeric_and_conservative_about_pre_releases() {
    assert!(below("7.0.9", "7.0.10"), "numeric, not lexical");
    assert!(!below("7.0.10", "7.0.10"));
    assert!(!below("7.2.1", "7.0.10"));
    assert!(!below("10.0.0", "9.9.9"));
    assert!(below("9.10.0", "10.3.0"));
    assert!(
        below("10.3.0-rc.1", "10.3.0"),
        "a pre-release precedes its release"
    );
    assert!(!below("10.3.1-rc.1", "10.3.0"));
    assert!(
        !below("10.3.0+build.5", "10.3.0"),
        "build metadata is ignored"
    );
    assert!(below("garbage", "1.0.0"), "unparsable fails closed");
    assert!(below("1.0", "1.0.0"), "unparsable fails closed");
}

#[test]
fn the_lock_file_parser_reads_packages_in_order() {
    let lock = "version = 4\n\n[[package]]\nname = \"a\"\nversion = \"1.2.3\"\nsource = \"x\"\ndependencies = [\n \"b\",\n]\n\n[[package]]\nname = \"b\"\nversion = \"0.1.0-alpha\"\n";
    assert_eq!(
        locked_packages(lock),
        [
            ("a".to_owned(), "1.2.3".to_owned()),
            ("b".to_owned(), "0.1.0-alpha".to_owned())
        ]
    );
}

#[test]
fn no_locked_dependency_is_below_its_advisory_floor() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock");
    let lock = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} must be readable: {e}", path.display()));
    let packages = locked_packages(&lock);

    // The check must not pass vacuously: the crates the hub is built on are in the lock.
    let mut found: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, version) in &packages {
        found
            .entry(name.as_str())
            .or_default()
            .push(version.as_str());
    }
    for required in [
        "async-graphql",
        "jsonwebtoken",
        "sqlx",
        "tokio",
        "actix-web",
    ] {
        assert!(
            found.contains_key(required),
            "{required} not found in Cargo.lock: is the parser still right?"
        );
    }

    let failures: Vec<String> = FLOOR
        .iter()
        .flat_map(|(krate, floor, advisory, why)| {
            found
                .get(krate)
                .into_iter()
                .flatten()
                .filter(|version| below(version, floor))
                .map(move |version| format!("{krate} {version} < {floor}: {advisory} ({why})"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "dependencies below their advisory floor; run `cargo update -p <crate>`:\n{}",
        failures.join("\n")
    );
}
