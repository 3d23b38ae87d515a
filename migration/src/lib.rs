//! Schema migrations of firearms-hub: the only way the schema changes. Every migration produces the
//! same tables, keys and indexes on SQLite and PostgreSQL, except that on PostgreSQL `trace` is
//! partitioned by recovery year (000019), its natural key kept unique by a table of its own.

pub use sea_orm_migration::prelude::*;

mod common;
mod m20261127_000001_create_agency;
mod m20261127_000002_create_firearm;
mod m20261127_000003_create_trace;
mod m20261127_000004_create_seizure;
mod m20261127_000005_create_funding_award;
mod m20261127_000006_create_training_event;
mod m20261127_000007_create_performance_measure;
mod m20261127_000008_create_audit_event;
mod m20261127_000009_audit_chain;
mod m20261128_000010_create_access_grant;
mod m20261201_000011_seizure_disposition;
mod m20261202_000012_record_keys;
mod m20261202_000013_firearm_records_per_agency;
mod m20261203_000014_data_generations;
mod m20261203_000015_plan_indexes;
mod m20261204_000016_measure_versions;
mod m20261204_000017_link_decisions;
mod m20261205_000018_persisted_operations;
mod m20261205_000019_partition_traces;
mod m20261206_000020_subscription_leases;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_agency::Migration),
            Box::new(m20261127_000002_create_firearm::Migration),
            Box::new(m20261127_000003_create_trace::Migration),
            Box::new(m20261127_000004_create_seizure::Migration),
            Box::new(m20261127_000005_create_funding_award::Migration),
            Box::new(m20261127_000006_create_training_event::Migration),
            Box::new(m20261127_000007_create_performance_measure::Migration),
            Box::new(m20261127_000008_create_audit_event::Migration),
            Box::new(m20261127_000009_audit_chain::Migration),
            Box::new(m20261128_000010_create_access_grant::Migration),
            Box::new(m20261201_000011_seizure_disposition::Migration),
            Box::new(m20261202_000012_record_keys::Migration),
            Box::new(m20261202_000013_firearm_records_per_agency::Migration),
            Box::new(m20261203_000014_data_generations::Migration),
            Box::new(m20261203_000015_plan_indexes::Migration),
            Box::new(m20261204_000016_measure_versions::Migration),
            Box::new(m20261204_000017_link_decisions::Migration),
            Box::new(m20261205_000018_persisted_operations::Migration),
            Box::new(m20261205_000019_partition_traces::Migration),
            Box::new(m20261206_000020_subscription_leases::Migration),
        ]
    }
}
