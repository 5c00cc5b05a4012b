//! The access log's own schema (CHARTER.md C12: the log is stored apart from messages).
//!
//! It runs against the audit database — its own SQLite file on the embedded default, the
//! `audit` schema on PostgreSQL — never against the main one, so it has its own
//! [`Migrator`] and its own migration-history table. Tables are named by string so that
//! these migrations never depend on today's code.

use sea_orm_migration::prelude::*;

mod m0001_audit_log;
mod m0002_merkle_log;

/// The migrations of the audit database, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_audit_log::Migration),
            Box::new(m0002_merkle_log::Migration),
        ]
    }

    /// A name of its own, so that even an audit log pointed by mistake at the main
    /// database keeps a history apart from the main migrations.
    fn migration_table_name() -> DynIden {
        Alias::new("audit_seaql_migrations").into_iden()
    }
}
