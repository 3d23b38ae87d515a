//! The one integration-test binary. Every test gets a database of its own: a temporary SQLite file,
//! or a fresh PostgreSQL database when `HUB_TEST_DATABASE_URL` names a server.

mod access;
mod advisories;
mod analytics;
mod answers;
mod attack;
mod audit_batches;
mod audit_chain;
mod cancel;
mod conformance;
mod contract;
mod demo;
mod firearm_records;
mod fixtures;
mod grants;
mod helpers;
mod hostile;
mod identity;
mod identity_provider;
mod import;
mod introspection;
mod linkage;
mod measures;
mod operations;
mod plans;
mod policy;
mod policy_table;
mod portal;
mod purpose;
mod queries;
mod readme;
mod schema;
mod stats_cache;
mod subscriptions;
mod suppression;
mod writes;
