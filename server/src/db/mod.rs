//! The main database: connection, migrations and the queries, one file per table family.
//!
//! Every query is a function taking `&impl ConnectionTrait`, so that the same function
//! works on the pool and inside a transaction. Handlers never build queries.

pub(crate) mod access;
pub(crate) mod accounts;
pub(crate) mod attachments;
pub(crate) mod case_identities;
pub(crate) mod cases;
pub(crate) mod channels;
pub(crate) mod charter;
pub(crate) mod entities;
pub(crate) mod epoch_keys;
pub(crate) mod field_reports;
pub(crate) mod group_coordinators;
pub(crate) mod invitations;
pub(crate) mod key_log;
pub(crate) mod keys;
pub(crate) mod links;
pub(crate) mod lockouts;
pub(crate) mod meetings;
pub(crate) mod members;
pub(crate) mod membership_events;
pub(crate) mod membership_log;
pub(crate) mod messages;
pub(crate) mod notices;
pub(crate) mod prekeys;
pub(crate) mod referrals;
pub(crate) mod reports;
pub(crate) mod retention;
pub(crate) mod sessions;
pub(crate) mod webauthn;

/// Largest number of keys one batch lookup binds per statement (two bound values per key
/// at most, well under SQLite's and PostgreSQL's limits on bound parameters): the
/// writer's batch queries cut their key lists into chunks of this size.
pub(crate) const LOOKUP_CHUNK: usize = 400;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use passerelle_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, Statement, TransactionTrait,
};

/// The SQLite URL of a file in the data directory, created if missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Opens a database: SQLite (WAL, `synchronous=FULL`, foreign keys, busy timeout,
/// `secure_delete`) or PostgreSQL, chosen by the URL's scheme.
///
/// `secure_delete` makes SQLite overwrite what it deletes or replaces with zeros instead
/// of leaving it in free space: a destroyed case, a purged history or a name replaced by
/// its sealed form must not stay readable in the file (see [`shred_files`]).
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        // One writer at a time is SQLite's rule; a few readers beside it are plenty.
        options.max_connections(8).min_connections(1);
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
                .pragma("secure_delete", "ON")
        });
    } else {
        options.max_connections(16).min_connections(1);
    }
    Database::connect(options)
        .await
        .context("cannot open the database")
}

/// Opens the database and brings its schema up to date.
pub async fn connect_and_migrate(url: &str) -> anyhow::Result<DatabaseConnection> {
    let db = connect(url).await?;
    migrate(&db).await?;
    Ok(db)
}

/// Runs every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("database migration failed")
}

/// Removes from the database's files what was deleted since the last call. On SQLite,
/// `secure_delete` (see [`connect`]) has zeroed deleted rows in the pages written since,
/// but the write-ahead log still holds earlier images of those pages: a `TRUNCATE`
/// checkpoint copies the zeroed pages into the database file and empties the log. It
/// waits for readers to finish (the busy timeout), so the retention job calls it once per
/// pass rather than after each deletion. PostgreSQL reclaims dead rows by autovacuum
/// (docs/OPERATIONS.md).
pub async fn shred_files(db: &DatabaseConnection) -> anyhow::Result<()> {
    if is_sqlite(db) {
        let row = db
            .query_one(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA wal_checkpoint(TRUNCATE)",
            ))
            .await
            .context("WAL checkpoint")?;
        // The first column says whether a reader or writer kept it from completing.
        let busy: i64 = match row {
            Some(row) => row.try_get_by_index(0).context("WAL checkpoint's answer")?,
            None => 0,
        };
        anyhow::ensure!(
            busy == 0,
            "the WAL checkpoint could not complete (database busy)"
        );
    }
    Ok(())
}

/// Begins a transaction that will write. On SQLite it takes the write lock with its
/// first statement, in effect `BEGIN IMMEDIATE`: a transaction that reads first and
/// writes later holds a read snapshot, and if another connection commits in between, its
/// first write fails at once with `SQLITE_BUSY` ("database is locked"), without waiting
/// for the busy timeout. Enrolments of several accounts at once failed so (issue 22's
/// benchmark, `concurrency::accounts_enrol_their_first_devices_all_at_once`). Taken
/// first, the lock is waited for and the reads see the latest state. On PostgreSQL a plain
/// `BEGIN`: its row locks queue writers.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    if is_sqlite(db) {
        // An update that matches no row: it changes nothing and fires no trigger, but
        // starts the write transaction.
        txn.execute_unprepared("UPDATE channels SET id = id WHERE 0")
            .await?;
    }
    Ok(txn)
}

/// Whether the backend is SQLite (some statements differ).
pub fn is_sqlite(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Sqlite
}
