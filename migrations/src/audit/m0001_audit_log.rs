//! The hash-chained events, the signed checkpoints and the signed retention anchors.
//!
//! `seq` is assigned by the server's single writer (dense, from 1), not by the database,
//! because it is part of what each event's hash covers.

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
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["audit_anchor", "audit_checkpoints", "audit_events"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
