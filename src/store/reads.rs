//! Where a request reads: the primary, or the read replica of `database.read_url` (PostgreSQL
//! streaming replication), with read-your-writes by WAL position.
//!
//! A query operation reads from the replica unless it must not:
//! - after a write, the hub hands the client the primary's WAL insert position (`X-Hub-Lsn`),
//!   taken once the write has committed, so it covers the write's commit record; a client that
//!   sends it back on a read is served by the replica only once the replica has replayed that far
//!   (`pg_last_wal_replay_lsn()`), else by the primary;
//! - the process also remembers each subject's last write position, so a caller that does not
//!   echo the header still reads its own writes through this process (not through another hub
//!   process, which never saw the write);
//! - a replica that cannot be asked (down, or not answering within [`CHECK_TIMEOUT`]) is left
//!   alone for [`RETRY_AFTER`], and reads go to the primary meanwhile.
//!
//! Mutations, the grant cache, the audit trail and everything outside a query operation use the
//! primary. Each route is counted in the metrics (`hub_read_routes`).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, DbBackend};

/// How long a read waits for the replica to say how far it has replayed before it goes to the
/// primary instead.
pub(crate) const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a replica that could not be asked is left alone.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The most subjects whose last write position a process remembers.
const MAX_REMEMBERED: usize = 100_000;

/// A position in PostgreSQL's write-ahead log, written as PostgreSQL writes a `pg_lsn`: two
/// hexadecimal numbers of at most 32 bits, `16/B374D848`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lsn(pub u64);

impl FromStr for Lsn {
    type Err = String;

    fn from_str(text: &str) -> Result<Lsn, String> {
        let bad = || {
            format!(
                "{text:?} is not a WAL position; send back the X-Hub-Lsn value a write returned, \
                 such as 0/16B3748"
            )
        };
        let (high, low) = text.trim().split_once('/').ok_or_else(bad)?;
        let half = |part: &str| {
            if part.is_empty() || part.len() > 8 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            u32::from_str_radix(part, 16).map_err(|_| bad())
        };
        Ok(Lsn((u64::from(half(high)?) << 32) | u64::from(half(low)?)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// Which server a request read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    Primary,
    Replica,
}

impl ReadFrom {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadFrom::Primary => "primary",
            ReadFrom::Replica => "replica",
        }
    }
}

/// Why a request reads where it does (the `reason` label of `hub_read_routes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The replica has replayed every write the caller is known to have made.
    CaughtUp,
    /// The replica has not yet replayed the caller's last write.
    Behind,
    /// The replica could not be asked.
    Unreachable,
    /// The operation writes, or is not known to be a query.
    Write,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::CaughtUp => "caught_up",
            Reason::Behind => "replica_behind",
            Reason::Unreachable => "replica_unreachable",
            Reason::Write => "write",
        }
    }
}

/// Where one request reads.
#[derive(Clone)]
pub struct Route {
    pub db: DatabaseConnection,
    pub from: ReadFrom,
    pub reason: Reason,
}

/// The read replica and what the process knows of it.
struct Replica {
    db: DatabaseConnection,
    /// Until when the replica is left alone after a failed check.
    resting_until: Mutex<Option<Instant>>,
    /// Each subject's last write position, through this process, not yet known replayed.
    last_writes: Mutex<HashMap<String, Lsn>>,
    /// The furthest replay position seen.
    replayed: AtomicU64,
}

/// The primary, and the read replica when one is configured.
pub struct Reads {
    primary: DatabaseConnection,
    replica: Option<Replica>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Reads {
    pub fn new(primary: DatabaseConnection, replica: Option<DatabaseConnection>) -> Reads {
        Reads {
            primary,
            replica: replica.map(|db| Replica {
                db,
                resting_until: Mutex::new(None),
                last_writes: Mutex::new(HashMap::new()),
                replayed: AtomicU64::new(0),
            }),
        }
    }

    /// Whether reads may go to a replica (`database.read_url` is set).
    pub fn has_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// The replica's pool, when one is configured.
    pub fn replica(&self) -> Option<&DatabaseConnection> {
        self.replica.as_ref().map(|r| &r.db)
    }

    fn primary(&self, reason: Reason) -> Route {
        Route {
            db: self.primary.clone(),
            from: ReadFrom::Primary,
            reason,
        }
    }

    /// Where a request of `subject` reads: `query` says whether the operation only reads, `sent`
    /// is the write position the client sent back. Counted in the metrics when a replica is
    /// configured.
    pub async fn route(&self, subject: &str, query: bool, sent: Option<Lsn>) -> Route {
        let Some(replica) = &self.replica else {
            return self.primary(Reason::Write);
        };
        let route = if query {
            self.route_read(replica, subject, sent).await
        } else {
            self.primary(Reason::Write)
        };
        crate::telemetry::read_routed(route.from.as_str(), route.reason.as_str());
        route
    }

    async fn route_read(&self, replica: &Replica, subject: &str, sent: Option<Lsn>) -> Route {
        let remembered = lock(&replica.last_writes).get(subject).copied();
        let needed = sent.max(remembered);
        if lock(&replica.resting_until).is_some_and(|until| Instant::now() < until) {
            return self.primary(Reason::Unreachable);
        }
        let replayed = match tokio::time::timeout(CHECK_TIMEOUT, replay_position(&replica.db)).await
        {
            Ok(Ok(replayed)) => replayed,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot ask the read replica how far it has replayed; reading from the primary");
                *lock(&replica.resting_until) = Some(Instant::now() + RETRY_AFTER);
                return self.primary(Reason::Unreachable);
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = CHECK_TIMEOUT.as_millis() as u64,
                    "the read replica did not say how far it has replayed in time; reading from the primary"
                );
                *lock(&replica.resting_until) = Some(Instant::now() + RETRY_AFTER);
                return self.primary(Reason::Unreachable);
            }
        };
        replica.replayed.fetch_max(replayed.0, Ordering::Relaxed);
        if needed.is_some_and(|needed| replayed < needed) {
            return self.primary(Reason::Behind);
        }
        if remembered.is_some() {
            let mut last_writes = lock(&replica.last_writes);
            if last_writes.get(subject).is_some_and(|lsn| *lsn <= replayed) {
                last_writes.remove(subject);
            }
        }
        Route {
            db: replica.db.clone(),
            from: ReadFrom::Replica,
            reason: Reason::CaughtUp,
        }
    }

    /// The write position after a write of `subject` committed on the primary: the primary's WAL
    /// insert position, which is at or past the end of every commit record already acknowledged
    /// (whatever `synchronous_commit` says; the flushed or written position may not be yet).
    /// Remembered for the subject when a replica is configured. `None` on SQLite, or when the
    /// primary cannot be asked (logged: the write itself stands).
    pub async fn after_write(&self, subject: &str) -> Option<Lsn> {
        if self.primary.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let asked = tokio::time::timeout(CHECK_TIMEOUT, insert_position(&self.primary)).await;
        let lsn = match asked {
            Ok(Ok(lsn)) => lsn,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot read the primary's WAL position after a write");
                return None;
            }
            Err(_) => {
                tracing::warn!("the primary did not give its WAL position after a write in time");
                return None;
            }
        };
        if let Some(replica) = &self.replica {
            let mut last_writes = lock(&replica.last_writes);
            if last_writes.len() >= MAX_REMEMBERED && !last_writes.contains_key(subject) {
                let replayed = Lsn(replica.replayed.load(Ordering::Relaxed));
                last_writes.retain(|_, lsn| *lsn > replayed);
                if last_writes.len() >= MAX_REMEMBERED {
                    tracing::warn!(
                        subjects = last_writes.len(),
                        "too many subjects' last writes to remember; forgetting them (callers that \
                         send X-Hub-Lsn back still read their writes)"
                    );
                    last_writes.clear();
                }
            }
            let entry = last_writes.entry(subject.to_owned()).or_insert(lsn);
            *entry = (*entry).max(lsn);
        }
        Some(lsn)
    }
}

/// How far a server has replayed: a standby's replay position, or a primary's (a promoted
/// replica) current write position.
async fn replay_position(db: &DatabaseConnection) -> anyhow::Result<Lsn> {
    lsn_of(
        db,
        "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
         ELSE pg_current_wal_lsn() END)::text AS lsn",
    )
    .await
}

/// The primary's WAL insert position.
async fn insert_position(db: &DatabaseConnection) -> anyhow::Result<Lsn> {
    lsn_of(db, "SELECT pg_current_wal_insert_lsn()::text AS lsn").await
}

/// Asks for a WAL position straight on the pool (not through the connection's statement
/// callbacks: it is the hub's bookkeeping, not a read of data).
async fn lsn_of(db: &DatabaseConnection, sql: &'static str) -> anyhow::Result<Lsn> {
    let pool = match db.get_database_backend() {
        DbBackend::Postgres => db.get_postgres_connection_pool(),
        _ => anyhow::bail!("WAL positions exist on PostgreSQL only"),
    };
    let text: Option<String> = sea_orm::sqlx::query_scalar(sql).fetch_one(pool).await?;
    let text = text.ok_or_else(|| {
        anyhow::anyhow!("the server has no WAL position (a standby that has replayed nothing yet)")
    })?;
    text.parse::<Lsn>().map_err(|e| anyhow::anyhow!(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_read_and_print_as_postgresql_writes_them() {
        let lsn: Lsn = "16/B374D848".parse().expect("an LSN");
        assert_eq!(lsn.0, (0x16 << 32) | 0xB374_D848);
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert_eq!("0/0".parse::<Lsn>(), Ok(Lsn(0)));
        assert!("0/16B3748".parse::<Lsn>() < "1/0".parse::<Lsn>());
        assert!("0/16B3748".parse::<Lsn>() > "0/16B3747".parse::<Lsn>());
        assert_eq!(
            "FFFFFFFF/FFFFFFFF".parse::<Lsn>().map(|l| l.to_string()),
            Ok("FFFFFFFF/FFFFFFFF".to_owned())
        );
        for bad in [
            "",
            "0",
            "/0",
            "0/",
            "1/2/3",
            "G/0",
            "100000000/0",
            "-1/0",
            "0/ 1",
        ] {
            let error = bad.parse::<Lsn>().expect_err(bad);
            assert!(error.contains("X-Hub-Lsn"), "{error}");
        }
    }
}
