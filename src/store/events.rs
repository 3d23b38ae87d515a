//! Record events for subscriptions: which record a committed write created or changed (a trace, a
//! seizure, a training event) and which firearm records a write newly linked. An event names
//! records by id only; each subscriber reads the record again through the door, as itself, so an
//! event carries nothing a subscriber could not read by query.
//!
//! Events travel with the transaction that raised them: on PostgreSQL a write notifies
//! [`CHANNEL`] inside its transaction (delivered when, and only if, it commits), and every
//! process on the database, the writer's own included, hears it through its [`listen`] task and
//! hands it to its [`Events`] bus. On SQLite the writer hands the events to its own process's bus
//! once it committed ([`Events::committed`]): SQLite serves one process.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::sync::{broadcast, watch};

use crate::policy::EntityKind;

/// The PostgreSQL notification channel of record events; the payload is [`encode`]'s text.
pub(crate) const CHANNEL: &str = "firearms_hub_events";

/// Events one process's bus holds for subscribers that have not taken them yet; a subscriber
/// further behind than this has missed events and its subscription ends with an error.
const BUS_CAPACITY: usize = 4096;

/// The longest notification payload sent (PostgreSQL's limit is 8000 bytes).
const MAX_PAYLOAD_BYTES: usize = 7_000;

/// What a committed write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Event {
    /// A trace, seizure or training event was created or changed.
    Recorded { kind: EntityKind, id: i64 },
    /// Two firearm records were newly linked (identical serials, or a confirmed near-serial
    /// link), lower id first.
    Linked { low: i64, high: i64 },
}

impl Event {
    fn encode(&self) -> Option<String> {
        Some(match self {
            Event::Recorded { kind, id } => {
                let tag = match kind {
                    EntityKind::Trace => "t",
                    EntityKind::Seizure => "s",
                    EntityKind::Training => "e",
                    _ => return None,
                };
                format!("{tag}{id}")
            }
            Event::Linked { low, high } => format!("l{low}-{high}"),
        })
    }

    fn decode(text: &str) -> Option<Event> {
        let (tag, rest) = text.split_at_checked(1)?;
        let kind = match tag {
            "t" => EntityKind::Trace,
            "s" => EntityKind::Seizure,
            "e" => EntityKind::Training,
            "l" => {
                let (low, high) = rest.split_once('-')?;
                return Some(Event::Linked {
                    low: low.parse().ok()?,
                    high: high.parse().ok()?,
                });
            }
            _ => return None,
        };
        Some(Event::Recorded {
            kind,
            id: rest.parse().ok()?,
        })
    }
}

/// The payloads notifying `events`: comma-separated, each at most [`MAX_PAYLOAD_BYTES`].
fn encode(events: &[Event]) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut current = String::new();
    for text in events.iter().filter_map(Event::encode) {
        if !current.is_empty() && current.len() + 1 + text.len() > MAX_PAYLOAD_BYTES {
            payloads.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(',');
        }
        current.push_str(&text);
    }
    if !current.is_empty() {
        payloads.push(current);
    }
    payloads
}

/// The events of one payload; what does not parse is skipped.
fn decode(payload: &str) -> impl Iterator<Item = Event> + '_ {
    payload.split(',').filter_map(Event::decode)
}

/// On PostgreSQL, notifies `events` on [`CHANNEL`] inside the writer's transaction (delivered at
/// commit, and only then). Nothing on SQLite, where [`Events::committed`] delivers them.
pub(crate) async fn raise<C: ConnectionTrait>(txn: &C, events: &[Event]) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    if backend != DbBackend::Postgres || events.is_empty() {
        return Ok(());
    }
    for payload in encode(events) {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        ))
        .await?;
    }
    Ok(())
}

/// One process's bus of record events: every subscription of the process receives from it.
#[derive(Debug)]
pub struct Events {
    sender: broadcast::Sender<Event>,
    backend: DbBackend,
    /// Whether the bus hears every committed write: always on SQLite; on PostgreSQL while its
    /// listener is listening on [`CHANNEL`].
    listening: watch::Sender<bool>,
}

impl Events {
    pub(crate) fn new(backend: DbBackend) -> Arc<Events> {
        Arc::new(Events {
            sender: broadcast::channel(BUS_CAPACITY).0,
            backend,
            listening: watch::Sender::new(backend != DbBackend::Postgres),
        })
    }

    /// Waits at most `wait` until the bus hears every committed write (on PostgreSQL, until the
    /// listener listens: a process just started, or one whose listener lost its connection);
    /// whether it does.
    pub(crate) async fn heard(&self, wait: Duration) -> bool {
        let mut listening = self.listening.subscribe();
        tokio::time::timeout(wait, listening.wait_for(|on| *on))
            .await
            .is_ok_and(|on| on.is_ok())
    }

    /// A receiver of every event from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Hands the events of a committed write to this process's subscribers, on SQLite (on
    /// PostgreSQL they arrive through the notification, in every process alike).
    pub(crate) fn committed(&self, events: &[Event]) {
        if self.backend == DbBackend::Postgres {
            return;
        }
        self.deliver(events.iter().copied());
    }

    fn deliver(&self, events: impl Iterator<Item = Event>) {
        for event in events {
            // No subscriber: nobody to tell.
            let _ = self.sender.send(event);
        }
    }
}

/// On PostgreSQL, listens on [`CHANNEL`] and hands every event to `events`; after a lost
/// connection it listens again (events notified meanwhile are lost: a subscriber learns of the
/// records written then from a query). Returns at once on SQLite; runs until its task is aborted.
pub(crate) async fn listen(events: Arc<Events>, db: DatabaseConnection) {
    use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    // A connection of its own, connected as the server's pool connects, so the requests' pool is
    // not touched.
    let options = db.get_postgres_connection_pool().connect_options();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .connect_lazy_with((*options).clone());
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            // A lost connection is reported at once (not reconnected inside `try_recv`), so
            // the bus says it is not listening until this loop listens again.
            Ok(mut listener) => {
                listener.eager_reconnect(false);
                listener
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for record events; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(CHANNEL).await {
            tracing::warn!(%error, "cannot listen for record events; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        events.listening.send_replace(true);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => events.deliver(decode(notification.payload())),
                // The connection was lost: listen again on a new one, not listening meanwhile.
                Ok(None) => {
                    tracing::warn!("lost the record event listener's connection; listening again");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "lost the record event listener; listening again");
                    break;
                }
            }
        }
        events.listening.send_replace(false);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_their_payloads_and_long_batches_are_split() {
        let events: Vec<Event> = (0..2_000)
            .map(|id| Event::Recorded {
                kind: EntityKind::Seizure,
                id,
            })
            .chain([
                Event::Linked { low: 3, high: 9 },
                Event::Recorded {
                    kind: EntityKind::Training,
                    id: 7,
                },
            ])
            .collect();
        let payloads = encode(&events);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() <= MAX_PAYLOAD_BYTES));
        let back: Vec<Event> = payloads.iter().flat_map(|p| decode(p)).collect();
        assert_eq!(back, events);
        assert_eq!(
            decode("x1,t,l1,t12").collect::<Vec<_>>(),
            vec![Event::Recorded {
                kind: EntityKind::Trace,
                id: 12
            }]
        );
    }
}
