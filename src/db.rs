//! The database connection: SQLite (embedded default, a local file) or PostgreSQL.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr,
};

use crate::config::DatabaseSettings;
use crate::error::{AppError, AppResult};

pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.url.trim();
    if let Some(dir) = sqlite_file_path(url).and_then(|p| std::path::Path::new(p).parent())
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display())
        })?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    // Each connection to an in-memory SQLite database is a database of its own.
    let max = if url.contains(":memory:") {
        1
    } else {
        settings.max_connections.max(1)
    };
    options
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms.max(100)))
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .map_err(|e| anyhow::anyhow!("database {} unreachable: {e}", describe_url(url)))?;
    if db.get_database_backend() == DbBackend::Sqlite && !url.contains(":memory:") {
        // WAL lets readers go on while one writer writes.
        db.execute_unprepared("PRAGMA journal_mode=WAL;").await?;
    }
    Ok(db)
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))
}

fn sqlite_file_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then_some(path)
}

/// The URL without credentials, for logs.
pub fn describe_url(url: &str) -> String {
    if let Some(path) = sqlite_file_path(url) {
        return format!("SQLite file {path}");
    }
    if url.contains(":memory:") {
        return "SQLite in memory".into();
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("PostgreSQL {}", &url[at + 1..])
        }
        _ => format!("PostgreSQL {url}"),
    }
}

/// Starts a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of one failing when
/// it upgrades from reading; PostgreSQL ignores the mode.
pub async fn begin_write(
    db: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// The pool as `/metrics` shows it: connections open, idle, at most; and how long getting one
/// takes right now (`None` when none came within `probe`).
pub struct PoolStats {
    pub open: u32,
    pub idle: usize,
    pub acquire: Option<Duration>,
}

pub async fn pool_stats(db: &DatabaseConnection, probe: Duration) -> Option<PoolStats> {
    match db.get_database_backend() {
        DbBackend::Postgres => Some(stats_of(db.get_postgres_connection_pool(), probe).await),
        DbBackend::Sqlite => Some(stats_of(db.get_sqlite_connection_pool(), probe).await),
        _ => None,
    }
}

async fn stats_of<DB: sea_orm::sqlx::Database>(
    pool: &sea_orm::sqlx::Pool<DB>,
    probe: Duration,
) -> PoolStats {
    let started = std::time::Instant::now();
    let acquire = match tokio::time::timeout(probe, pool.acquire()).await {
        Ok(Ok(conn)) => {
            let took = started.elapsed();
            drop(conn);
            Some(took)
        }
        _ => None,
    };
    PoolStats {
        open: pool.size(),
        idle: pool.num_idle(),
        acquire,
    }
}

/// How many times a transaction is run when it keeps losing deadlocks or serialization
/// conflicts.
pub const CONFLICT_ATTEMPTS: u32 = 3;

/// The PostgreSQL SQLSTATEs of a transaction the database gave up so another could go on:
/// `40P01` deadlock detected, `40001` serialization failure. Running it again is safe — all
/// it wrote was rolled back — and usually succeeds.
const CONFLICT_STATES: [&str; 2] = ["40P01", "40001"];

/// True when an error is a database transaction lost to a deadlock or serialization conflict.
pub fn is_conflict(err: &AppError) -> bool {
    let AppError::Internal(cause) = err else {
        return false;
    };
    let Some(db) = cause.downcast_ref::<sea_orm::DbErr>() else {
        return false;
    };
    let (DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e))) = db
    else {
        return false;
    };
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| CONFLICT_STATES.contains(&code.as_ref()))
}

/// Runs a whole database transaction — `run` begins, works and commits — again when the
/// database broke a deadlock or serialization conflict by failing it, up to
/// [`CONFLICT_ATTEMPTS`] times in all, with a short growing pause between. A safety net: the
/// transactions that move beans take their locks in one order (`points::ledger`), so this
/// should not be needed; if it is, the client still gets an answer, not a 500.
pub async fn retry_conflicts<T, F, Fut>(mut run: F) -> AppResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = AppResult<T>>,
{
    let mut attempt = 1;
    loop {
        match run().await {
            Err(e) if attempt < CONFLICT_ATTEMPTS && is_conflict(&e) => {
                tracing::warn!(
                    attempt,
                    error = format!("{e:#}"),
                    "transaction lost a conflict; running it again"
                );
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_without_secrets() {
        assert_eq!(
            describe_url("sqlite://data/linli.db?mode=rwc"),
            "SQLite file data/linli.db"
        );
        assert_eq!(
            describe_url("postgres://u:secret@db:5432/linli"),
            "PostgreSQL db:5432/linli"
        );
    }
}
