//! The charter and internal rules with their acceptances, cases, archive access, and the
//! channels' lifecycle columns (practice-session times, end of follow-up, destruction).

use sea_orm_migration::prelude::*;

use crate::columns::{big, big_null, fk, id, string_null, text};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_charter_and_cases"
    }
}

/// Columns added to `channels`, nullable: one `ALTER` each (SQLite takes one at a time).
const CHANNEL_COLUMNS: [(&str, bool); 6] = [
    ("group_id", false),
    ("starts_at", true),
    ("ends_at", true),
    ("ended_at", true),
    ("destroy_by", true),
    ("destroyed_at", true),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (column, is_time) in CHANNEL_COLUMNS {
            let mut definition = if is_time {
                big_null(column)
            } else {
                string_null(column)
            };
            m.alter_table(
                Table::alter()
                    .table(Alias::new("channels"))
                    .add_column(&mut definition)
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("idx_channels_destroy_by")
                .table(Alias::new("channels"))
                .col(Alias::new("destroy_by"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_channels_group")
                .table(Alias::new("channels"))
                .col(Alias::new("group_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("charters"))
                .col(big("version").primary_key())
                .col(text("text"))
                .col(id("published_by"))
                .col(big("published_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("charter_acceptances"))
                .col(id("user_id"))
                .col(big("version"))
                .col(big("accepted_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("user_id"))
                        .col(Alias::new("version")),
                )
                .foreign_key(&mut fk("charter_acceptances", "user_id", "users"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("channel_rules"))
                .col(id("channel_id"))
                .col(big("version"))
                .col(text("text"))
                .col(id("published_by"))
                .col(big("published_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("channel_id"))
                        .col(Alias::new("version")),
                )
                .foreign_key(&mut fk("channel_rules", "channel_id", "channels"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("rules_acceptances"))
                .col(id("channel_id"))
                .col(id("user_id"))
                .col(big("version"))
                .col(big("accepted_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("channel_id"))
                        .col(Alias::new("user_id"))
                        .col(Alias::new("version")),
                )
                .foreign_key(&mut fk("rules_acceptances", "channel_id", "channels"))
                .foreign_key(&mut fk("rules_acceptances", "user_id", "users"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("cases"))
                .col(id("channel_id").primary_key())
                .col(id("programme"))
                .col(id("reporting_institution"))
                .col(id("follow_up_status"))
                .col(string_null("referent_user_id"))
                .col(big_null("destroy_limit"))
                .col(string_null("info_outcome"))
                .col(big_null("info_at"))
                .col(string_null("info_method"))
                .col(string_null("info_party"))
                .col(string_null("info_by"))
                .col(string_null("not_informed_reason"))
                .col(
                    ColumnDef::new(Alias::new("not_informed_note"))
                        .text()
                        .null(),
                )
                .col(string_null("info_recorded_by"))
                .col(big_null("info_recorded_at"))
                .col(big("created_at"))
                .col(big("updated_at"))
                .foreign_key(&mut fk("cases", "channel_id", "channels"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("archive_accesses"))
                .col(id("channel_id"))
                .col(id("user_id"))
                .col(big("granted_at"))
                .col(big("expires_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("channel_id"))
                        .col(Alias::new("user_id")),
                )
                .foreign_key(&mut fk("archive_accesses", "channel_id", "channels"))
                .foreign_key(&mut fk("archive_accesses", "user_id", "users"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "archive_accesses",
            "cases",
            "rules_acceptances",
            "channel_rules",
            "charter_acceptances",
            "charters",
        ] {
            m.drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        for index in ["idx_channels_group", "idx_channels_destroy_by"] {
            m.drop_index(
                Index::drop()
                    .name(index)
                    .table(Alias::new("channels"))
                    .to_owned(),
            )
            .await?;
        }
        for (column, _) in CHANNEL_COLUMNS.iter().rev() {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("channels"))
                    .drop_column(Alias::new(*column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
