//! The Merkle log over the access log's events (DESIGN.md §7.1, docs/AUDIT.md).
//!
//! `audit_leaves` keeps each event's chain hash — the leaf of the RFC 6962 tree — even
//! after a retention purge removes the event itself, so that the tree (and every head a
//! witness cosigned) can still be recomputed: a hash says nothing about a person.
//! `audit_tree_heads` holds the signed checkpoints (C2SP signed notes) and
//! `audit_cosignatures` the witnesses' cosignatures of them. Existing events are copied
//! into the leaves so that an upgraded log starts its tree at seq 1.

use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_merkle_log"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("audit_leaves"))
                    .col(
                        ColumnDef::new(Alias::new("seq"))
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Alias::new("hash")).string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("audit_tree_heads"))
                    .col(
                        ColumnDef::new(Alias::new("size"))
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Alias::new("root")).string().not_null())
                    .col(
                        ColumnDef::new(Alias::new("time_ms"))
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Alias::new("note")).text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("audit_cosignatures"))
                    .col(ColumnDef::new(Alias::new("size")).big_integer().not_null())
                    .col(ColumnDef::new(Alias::new("witness")).string().not_null())
                    .col(ColumnDef::new(Alias::new("line")).text().not_null())
                    .col(
                        ColumnDef::new(Alias::new("time_ms"))
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(Alias::new("size"))
                            .col(Alias::new("witness")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO audit_leaves (seq, hash) SELECT seq, hash FROM audit_events",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["audit_cosignatures", "audit_tree_heads", "audit_leaves"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
