//! `key_log`: the key transparency log (docs/PROTOCOL.md §25), one row per identity key
//! published and per device certified or revoked, never updated nor deleted; the leaf
//! index is `idx`. `key_log_state` is one row holding the log's size: appending first
//! raises it, so that on PostgreSQL two appends take turns on that row's lock and never
//! claim the same index.
//!
//! The rows are not back-filled here (the entry's bytes are the protocol's business, not
//! the schema's): the server logs the keys registered before this migration when it
//! starts on an empty log.

use sea_orm_migration::prelude::*;

use crate::columns::{big, id, text};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0025_key_log"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("key_log"))
                .col(big("idx").primary_key())
                .col(id("user_id"))
                .col(id("kind"))
                .col(text("entry"))
                .col(big("at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_key_log_user")
                .table(Alias::new("key_log"))
                .col(Alias::new("user_id"))
                .col(Alias::new("idx"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("key_log_state"))
                .col(big("id").primary_key())
                .col(big("size"))
                .to_owned(),
        )
        .await?;
        let insert = Query::insert()
            .into_table(Alias::new("key_log_state"))
            .columns([Alias::new("id"), Alias::new("size")])
            .values_panic([1.into(), 0.into()])
            .to_owned();
        m.exec_stmt(insert).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("key_log_state")).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Alias::new("key_log")).to_owned())
            .await
    }
}
