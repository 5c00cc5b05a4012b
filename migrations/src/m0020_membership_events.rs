//! `membership_events`: a channel's append-only membership history (who was added, removed,
//! left, was named to a role or certified a new device, by whom, and where it falls among
//! the messages), so that
//! clients show the notes in place after a reload and on a newly linked device.
//!
//! The table is laid out for the signed, hash-chained membership log that follows
//! (issue #17 item 1): each row already has its place in a per-channel chain
//! (`channel_id`, `seq`), and that step adds nullable `prev_hash` and `signature` columns
//! without rewriting the rows written before it.

use sea_orm_migration::prelude::*;

use crate::columns::{big, fk, id, string_null};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0020_membership_events"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("membership_events"))
                .col(id("channel_id"))
                .col(big("seq"))
                .col(big("after_seq"))
                .col(id("change"))
                .col(id("member_id"))
                .col(string_null("actor_id"))
                .col(string_null("reason"))
                .col(string_null("role"))
                .col(string_null("device_id"))
                .col(big("at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("channel_id"))
                        .col(Alias::new("seq")),
                )
                .foreign_key(&mut fk("membership_events", "channel_id", "channels"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_membership_events_at")
                .table(Alias::new("membership_events"))
                .col(Alias::new("channel_id"))
                .col(Alias::new("at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("membership_events"))
                .to_owned(),
        )
        .await
    }
}
