//! `membership_log`: a channel's signed, hash-chained membership log (docs/PROTOCOL.md
//! §22). One row per record, in the channel's order; `record` is the record's JSON as the
//! client signed it. Unlike the membership events (m0020) the rows never age out with the
//! messages: a client verifies the log from its first record. They go with the channel.

use sea_orm_migration::prelude::*;

use crate::columns::{big, fk, id, text};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0022_membership_log"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("membership_log"))
                .col(id("channel_id"))
                .col(big("seq"))
                .col(text("record"))
                .col(big("stored_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("channel_id"))
                        .col(Alias::new("seq")),
                )
                .foreign_key(&mut fk("membership_log", "channel_id", "channels"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("membership_log")).to_owned())
            .await
    }
}
