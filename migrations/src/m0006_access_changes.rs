//! Exclusion (CHARTER.md C3): the durable feed of access changes that every node applies
//! to its live connections, and the device a login session is bound to.
//!
//! The feed is what makes an exclusion reach every node whatever the cluster bus did:
//! pub/sub only wakes the nodes up; each node reads the rows after its position.

use sea_orm_migration::prelude::*;

use crate::columns::{big, id, string_null};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_access_changes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("access_changes"))
                .col(
                    ColumnDef::new(Alias::new("id"))
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(id("scope"))
                .col(id("reason"))
                .col(id("user_id"))
                .col(string_null("target"))
                .col(big("created_at"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("sessions"))
                .add_column(string_null("device_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_sessions_device")
                .table(Alias::new("sessions"))
                .col(Alias::new("device_id"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_sessions_device")
                .table(Alias::new("sessions"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("sessions"))
                .drop_column(Alias::new("device_id"))
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(Alias::new("access_changes")).to_owned())
            .await
    }
}
