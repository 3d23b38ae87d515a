//! firearms-hub: one GraphQL API over firearms traces, seizures, training and funding, where ATF,
//! ICE, CBP and State each see exactly their permitted slice. See `ARCHITECTURE.md`.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod import;
pub mod policy;
pub mod server;
pub mod store;
pub(crate) mod telemetry;
