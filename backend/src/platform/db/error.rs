//! The data layer's own error: what went wrong talking to Postgres, with the cause kept. The HTTP
//! edge maps it to `ApiError` (constraint names to the contract's 400s, outages to 503) and jobs
//! keep it, cause chain included, as their failure.

/// A failed database call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unique or check constraint refused the write; `constraint` names it.
    #[error("constraint {constraint} violated")]
    Constraint {
        constraint: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server, the pooler or the pool is unreachable or shutting down: safe to retry later.
    #[error("database unavailable")]
    Unavailable(#[source] BoxError),
    /// The statement ran past the per-query timeout.
    #[error("database statement timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// A row did not have the column or type its row type expects.
    #[error("reading a row")]
    Decode(#[source] tokio_postgres::Error),
    /// The statement returned another number of rows than the caller expects.
    #[error("expected one row, got {0}")]
    RowCount(usize),
    /// Anything else the server refused (a bug in the statement, most likely).
    #[error("database query failed")]
    Query(#[source] tokio_postgres::Error),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The violated constraint's name, if that is what went wrong.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Self::Constraint { constraint, .. } => Some(constraint),
            _ => None,
        }
    }

    /// Whether retrying later may succeed (an outage or a timeout, not a wrong statement).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Timeout(_))
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(err: tokio_postgres::Error) -> Self {
        if let Some(constraint) = err.as_db_error().and_then(|db| db.constraint()) {
            return Self::Constraint { constraint: constraint.to_owned(), source: err };
        }
        if is_connection_failure(&err) {
            return Self::Unavailable(Box::new(err));
        }
        Self::Query(err)
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        Self::Unavailable(Box::new(err))
    }
}

/// Whether an error means "this server is unreachable", as opposed to "this query is wrong":
/// a broken socket, or a connection-class error, which is how PgBouncer reports a dead server
/// (SQLSTATE class 08, e.g. 08P01 "server login has been failing") or a shutting-down one (57P0x).
pub(super) fn is_connection_failure(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    match err.as_db_error() {
        None => true,
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || code.starts_with("57P0")
        }
    }
}
