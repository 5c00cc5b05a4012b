//! Offline notices: an optional e-mail address on the account (set by an admin), and per
//! account what the notice job needs to send at most one content-free e-mail per period
//! to someone who is away — whether they opted out, when one of their connections was
//! last seen open on any node, and when they were last notified.

use sea_orm_migration::prelude::*;

use crate::columns::{big_null, fk, id, string_null};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0013_offline_notices"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("users"))
                .add_column(string_null("email"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("offline_notices"))
                .col(id("user_id").primary_key())
                .col(
                    ColumnDef::new(Alias::new("opted_out"))
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(big_null("last_online_at"))
                .col(big_null("notified_at"))
                .foreign_key(&mut fk("offline_notices", "user_id", "users"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("offline_notices"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("users"))
                .drop_column(Alias::new("email"))
                .to_owned(),
        )
        .await
    }
}
