//! The errors services return. The GraphQL edge maps each to an `extensions.code`; the command line
//! prints them.

use std::fmt;

/// One problem with one field of one input row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The database cannot be reached or gave no connection in time; retrying later may succeed.
    #[error("service unavailable: {0}")]
    Unavailable(&'static str),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Invalid {
            field: e.field,
            reason: e.reason,
        }
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        match unavailability(&e) {
            Some(reason) => {
                tracing::warn!(error = %e, "database unavailable");
                Error::Unavailable(reason)
            }
            None => Error::Unexpected(anyhow::Error::new(e)),
        }
    }
}

/// Why a database error means the database is unavailable (rather than that the request or the
/// code is wrong): no free connection in time, no connection at all, a connection lost, or the
/// server refusing or cancelling work. `None` for every other error.
pub fn unavailability(e: &sea_orm::DbErr) -> Option<&'static str> {
    use sea_orm::{DbErr, RuntimeErr};
    match e {
        DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout) => {
            Some("no database connection became free in time")
        }
        DbErr::ConnectionAcquire(_) => Some("the database connection was closed"),
        // Opening a connection failed: whatever the cause, the database cannot be used now.
        DbErr::Conn(_) => Some("the database cannot be reached"),
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_unavailability(e)
        }
        _ => None,
    }
}

fn sqlx_unavailability(e: &sea_orm::sqlx::Error) -> Option<&'static str> {
    use sea_orm::sqlx::Error as E;
    match e {
        E::PoolTimedOut => Some("no database connection became free in time"),
        E::PoolClosed | E::WorkerCrashed => Some("the database connection was closed"),
        E::Io(_) | E::Tls(_) => Some("the connection to the database was lost"),
        E::Database(db) => match db.code().as_deref() {
            // PostgreSQL: connection exceptions, server shutting down or refusing connections,
            // too many connections, and `statement_timeout` cancelling the statement.
            Some(code) if code.starts_with("08") => Some("the connection to the database was lost"),
            Some("57P01" | "57P02" | "57P03" | "53300") => {
                Some("the database is not accepting work")
            }
            Some("57014") => Some("the database did not answer in time"),
            _ => None,
        },
        _ => None,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
