//! Subscription leases (migration 000020's `subscription_lease`): on PostgreSQL, the
//! subscriptions each token subject holds, counted over every hub process on the database, so
//! `subscriptions.per_subject` holds however many replicas serve the subject.
//!
//! A subscription takes a lease before it starts ([`Leases::take`]): in one transaction, under an
//! advisory lock of the subject (so two processes admitting the same subject at once count one
//! after the other), the subject's expired leases are deleted, the live ones counted, and a new
//! one inserted unless the subject holds its limit already. Times are the database's (`now()`),
//! so the processes' clocks do not matter.
//!
//! A lease lives `subscriptions.lease_ttl_secs` unless renewed. Each process renews the leases of
//! its running subscriptions every third of that ([`Leases::keep`]), and deletes a lease when its
//! subscription ends (the [`Lease`] guard hands it to the same task: a drop cannot wait on the
//! database). The leases of a process that died are not renewed, and stop counting within the
//! TTL. Only the leases this process knows to be live are renewed, and a lease whose commit was
//! cut short is released like any other.
//!
//! A process that cannot renew for longer than the TTL (the database unreachable) may lose its
//! leases to another process's clean-up; its next renewal takes them again for the subscriptions
//! still running (the subject may then be over its limit until some of them end).
//!
//! SQLite serves one process, whose in-memory count (`server::subscriptions`) is the limit: no
//! leases are taken there and the table stays empty.
//!
//! Leases are not agency data: no policy applies to them and they are not audited (the
//! deliveries of the subscriptions are).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use tokio::sync::Notify;

/// The first key of the subjects' advisory locks ("SUBS" in ASCII): the two-key form, apart from
/// the audit's one-key lock and the link decisions' class.
const LOCK_CLASS: i32 = 0x5355_4253;

/// The most leases one statement names.
const ROWS_PER_STATEMENT: usize = 1_000;

/// This process's leases: who it is, how long a lease lives, which leases its subscriptions hold,
/// and those whose subscriptions ended, waiting to be deleted.
#[derive(Debug)]
pub(crate) struct Leases {
    /// This process's random id, the `holder` of its leases.
    holder: String,
    ttl: Duration,
    /// The leases of the running subscriptions, by id, with their subjects.
    live: Mutex<HashMap<i64, String>>,
    /// Leases whose subscriptions ended, until their deletion has committed: whoever deletes
    /// (the renewal task, or the next [`Leases::take`]) takes them off only then, so a lease is
    /// never counted after its subscription ended here, nor forgotten by a deletion cut short.
    released: Mutex<HashSet<i64>>,
    wake: Notify,
}

/// One subscription's lease, released (deleted in the background) when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    leases: Arc<Leases>,
    id: i64,
}

impl Drop for Lease {
    fn drop(&mut self) {
        lock(&self.leases.live).remove(&self.id);
        lock(&self.leases.released).insert(self.id);
        self.leases.wake.notify_one();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Leases {
    /// The leases of a process starting now, each living `ttl` unless renewed.
    pub(crate) fn new(ttl: Duration) -> Arc<Leases> {
        Arc::new(Leases {
            holder: uuid::Uuid::new_v4().to_string(),
            ttl,
            live: Mutex::default(),
            released: Mutex::default(),
            wake: Notify::new(),
        })
    }

    /// A lease for one more subscription of `subject`, or `None` when the subject holds `limit`
    /// live leases already, over every process on the database. PostgreSQL only.
    ///
    /// The leases this process released and has not deleted yet are deleted first (before the
    /// transaction, which then holds no row lock beside its subject's): a subscription that
    /// ended here never counts against the next one here.
    pub(crate) async fn take(
        self: &Arc<Self>,
        db: &DatabaseConnection,
        subject: &str,
        limit: usize,
    ) -> Result<Option<Lease>, DbErr> {
        self.delete_released(db).await?;
        let backend = DbBackend::Postgres;
        let txn = db.begin().await?;
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            [LOCK_CLASS.into(), subject.into()],
        ))
        .await?;
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "DELETE FROM subscription_lease WHERE subject = $1 AND expires_at <= now()",
            [subject.into()],
        ))
        .await?;
        let held = txn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "SELECT COUNT(*) FROM subscription_lease WHERE subject = $1 AND expires_at > now()",
                [subject.into()],
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("the count of a subject's leases".into()))?
            .try_get_by_index::<i64>(0)?;
        if usize::try_from(held).unwrap_or(usize::MAX) >= limit {
            // Keeps the deletion of the expired leases.
            txn.commit().await?;
            return Ok(None);
        }
        let id = txn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO subscription_lease (subject, holder, expires_at) \
                 VALUES ($1, $2, now() + make_interval(secs => $3)) RETURNING id",
                [
                    subject.into(),
                    self.holder.clone().into(),
                    self.ttl.as_secs_f64().into(),
                ],
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotInserted)?
            .try_get_by_index::<i64>(0)?;
        // The guard exists before the commit: a commit that fails, or is cut short with the
        // subscription, releases the lease (deleting it if it was committed after all). It is
        // renewed once committed.
        let lease = Lease {
            leases: self.clone(),
            id,
        };
        txn.commit().await?;
        lock(&self.live).insert(id, subject.to_owned());
        Ok(Some(lease))
    }

    /// Renews the live leases every third of the TTL and deletes the released ones as they come,
    /// until its task is aborted (when the server stops). A failure is logged and tried again.
    pub(crate) async fn keep(self: Arc<Self>, db: DatabaseConnection) {
        let mut renewal = tokio::time::interval((self.ttl / 3).max(Duration::from_millis(100)));
        renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = renewal.tick() => {
                    if let Err(error) = self.renew(&db).await {
                        tracing::warn!(%error, "cannot renew the subscription leases; trying again");
                    }
                }
                () = self.wake.notified() => {}
            }
            if let Err(error) = self.delete_released(&db).await {
                tracing::warn!(%error, "cannot release subscription leases; trying again");
            }
        }
    }

    /// Deletes every lease of this process, once its server has stopped and its subscriptions
    /// with it (a process that cannot leaves them to expire).
    pub(crate) async fn release_all(&self, db: &DatabaseConnection) -> Result<(), DbErr> {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "DELETE FROM subscription_lease WHERE holder = $1",
            [self.holder.clone().into()],
        ))
        .await?;
        Ok(())
    }

    /// Deletes the released leases, and forgets them once that has committed (a lease deleted
    /// twice, by two callers at once, is simply gone).
    async fn delete_released(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let released: Vec<i64> = lock(&self.released).iter().copied().collect();
        if released.is_empty() {
            return Ok(());
        }
        self.delete(db, &released).await?;
        let mut pending = lock(&self.released);
        for id in &released {
            pending.remove(id);
        }
        Ok(())
    }

    /// Renews the leases of the running subscriptions, in one upsert: a lease gone from the table
    /// (it expired while the database was out of reach for longer than the TTL, and another
    /// process's `take` deleted it) is taken again, so the subscriptions still running here count
    /// again, even if that puts the subject over its limit until some end. A lease renewed or
    /// taken again after its subscription ended (its release deleted meanwhile) is deleted again.
    async fn renew(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let live: Vec<(i64, String)> = lock(&self.live)
            .iter()
            .map(|(id, subject)| (*id, subject.clone()))
            .collect();
        let rows: Vec<Vec<sea_orm::Value>> = live
            .iter()
            .map(|(id, subject)| vec![(*id).into(), subject.clone().into()])
            .collect();
        let sql = "INSERT INTO subscription_lease (id, subject, holder, expires_at) \
                   SELECT l.id, l.subject, $2, now() + make_interval(secs => $1) \
                   FROM (VALUES {rows}) AS l(id, subject) \
                   ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at \
                   WHERE subscription_lease.holder = EXCLUDED.holder";
        let leading = [self.ttl.as_secs_f64().into(), self.holder.clone().into()];
        by_chunks(db, sql, &leading, &rows).await?;
        let ended: Vec<i64> = {
            let still = lock(&self.live);
            live.iter()
                .map(|(id, _)| *id)
                .filter(|id| !still.contains_key(id))
                .collect()
        };
        self.delete(db, &ended).await
    }

    async fn delete(&self, db: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
        let sql = "DELETE FROM subscription_lease WHERE holder = $1 AND id IN ({rows})";
        let rows: Vec<Vec<sea_orm::Value>> = ids.iter().map(|&id| vec![id.into()]).collect();
        by_chunks(db, sql, &[self.holder.clone().into()], &rows).await
    }
}

/// Runs `sql` once per chunk of [`ROWS_PER_STATEMENT`] `rows`, its `{rows}` the chunk's rows as
/// parenthesised lists of numbered parameters, which follow the `leading` ones.
async fn by_chunks(
    db: &impl ConnectionTrait,
    sql: &str,
    leading: &[sea_orm::Value],
    rows: &[Vec<sea_orm::Value>],
) -> Result<(), DbErr> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut next = leading.len() + 1;
        let mut values = leading.to_vec();
        let mut lists = Vec::with_capacity(chunk.len());
        for row in chunk {
            lists.push(format!("({})", placeholders(next, row.len())));
            next += row.len();
            values.extend(row.iter().cloned());
        }
        let sql = sql.replace("{rows}", &lists.join(", "));
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    }
    Ok(())
}

/// `$first, $first+1, …`: `count` numbered parameters.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_the_ids_after_the_other_parameters() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(2, 1), "$2");
    }
}
