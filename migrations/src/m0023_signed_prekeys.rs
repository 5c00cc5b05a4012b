//! Rotating agreement keys (docs/PROTOCOL.md §23):
//!
//! - `device_prekeys`: each device's current signed prekey, one row per device, replaced
//!   by a prekey with a higher serial;
//! - `epoch_keys.delivered_at`: when the wrap was deleted, because its device
//!   acknowledged it or because it outlived the configured bound. The row stays, with
//!   only the public commitment in `wrapped`, so that the epoch's commitment is still
//!   known for later re-wraps (§7.6) and a replayed re-wrap is still recognised.

use sea_orm_migration::prelude::*;

use crate::columns::{big, big_null, fk, id, text};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0023_signed_prekeys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("device_prekeys"))
                .col(id("device_id").primary_key())
                .col(big("serial"))
                .col(text("prekey"))
                .col(big("published_at"))
                .foreign_key(&mut fk("device_prekeys", "device_id", "devices"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("epoch_keys"))
                .add_column(big_null("delivered_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("epoch_keys"))
                .drop_column(Alias::new("delivered_at"))
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(Alias::new("device_prekeys")).to_owned())
            .await
    }
}
