//! The hash-chained events, the signed checkpoints, the signed retention anchors, and the
//! one-row table whose row lock serialises appends.
//!
//! `seq` is assigned by the writer (dense, from 1), not by the database, because it is part
//! of what each event's hash covers. Several processes may append — server nodes sharing
//! PostgreSQL, or `passerelle admin` beside a running server — so every append transaction
//! first updates the `audit_writer` row: that takes SQLite's write lock or PostgreSQL's row
//! lock, and the writer then reads the chain's head under it, so the chain cannot fork.

use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_audit_log"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let events = || Alias::new("audit_events");
        manager
            .create_table(
                Table::create()
                    .table(events())
                    .col(
                        ColumnDef::new(Alias::new("seq"))
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("time_ms"))
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Alias::new("actor_user_id")).string().null())
                    .col(ColumnDef::new(Alias::new("actor_login")).string().null())
                    .col(
                        ColumnDef::new(Alias::new("actor_institution_id"))
                            .string()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("actor_session_id"))
                            .string()
                            .null(),
                    )
                    .col(ColumnDef::new(Alias::new("actor_ip")).string().null())
                    .col(ColumnDef::new(Alias::new("action")).string().not_null())
                    .col(ColumnDef::new(Alias::new("target")).string().null())
                    .col(ColumnDef::new(Alias::new("outcome")).string().not_null())
                    .col(ColumnDef::new(Alias::new("details")).text().not_null())
                    .col(ColumnDef::new(Alias::new("prev_hash")).string().not_null())
                    .col(ColumnDef::new(Alias::new("hash")).string().not_null())
                    .to_owned(),
            )
            .await?;
        // The auditors' filters: by period, person, institution, target and action.
        for (name, column) in [
            ("idx_audit_events_time", "time_ms"),
            ("idx_audit_events_user", "actor_user_id"),
            ("idx_audit_events_login", "actor_login"),
            ("idx_audit_events_institution", "actor_institution_id"),
            ("idx_audit_events_target", "target"),
            ("idx_audit_events_action", "action"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(events())
                        .col(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("audit_checkpoints"))
                    .col(
                        ColumnDef::new(Alias::new("seq"))
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Alias::new("hash")).string().not_null())
                    .col(
                        ColumnDef::new(Alias::new("time_ms"))
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Alias::new("key_id")).string().not_null())
                    .col(ColumnDef::new(Alias::new("signature")).string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("audit_anchor"))
                    .col(
                        ColumnDef::new(Alias::new("seq"))
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Alias::new("hash")).string().not_null())
                    .col(
                        ColumnDef::new(Alias::new("time_ms"))
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Alias::new("key_id")).string().not_null())
                    .col(ColumnDef::new(Alias::new("signature")).string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("audit_writer"))
                    .col(
                        ColumnDef::new(Alias::new("id"))
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("generation"))
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        let mut seed = Query::insert();
        seed.into_table(Alias::new("audit_writer"))
            .columns([Alias::new("id"), Alias::new("generation")]);
        seed.values([1.into(), 0.into()])
            .map_err(|err| DbErr::Custom(err.to_string()))?;
        manager.exec_stmt(seed).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "audit_writer",
            "audit_anchor",
            "audit_checkpoints",
            "audit_events",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
