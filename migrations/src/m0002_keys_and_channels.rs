//! The key directory, channels, membership, epochs, messages, receipts and attachments.

use sea_orm_migration::prelude::*;

use crate::columns::{big, fk, id, text};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_keys_and_channels"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("identity_keys"))
                .col(id("user_id").primary_key())
                .col(text("public_key"))
                .col(big("version"))
                .col(big("updated_at"))
                .foreign_key(
                    &mut ForeignKey::create()
                        .name("fk_identity_keys_user")
                        .from(Alias::new("identity_keys"), Alias::new("user_id"))
                        .to(Alias::new("users"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("devices"))
                .col(id("id").primary_key())
                .col(id("user_id"))
                .col(text("certificate"))
                .col(text("signing_key"))
                .col(id("name"))
                .col(big("created_at"))
                .col(
                    ColumnDef::new(Alias::new("revoked_at"))
                        .big_integer()
                        .null(),
                )
                .foreign_key(&mut fk("devices", "user_id", "users"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_devices_user")
                .table(Alias::new("devices"))
                .col(Alias::new("user_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("key_backups"))
                .col(id("user_id").primary_key())
                .col(big("version"))
                .col(text("data"))
                .col(big("updated_at"))
                .foreign_key(
                    &mut ForeignKey::create()
                        .name("fk_key_backups_user")
                        .from(Alias::new("key_backups"), Alias::new("user_id"))
                        .to(Alias::new("users"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("channels"))
                .col(id("id").primary_key())
                .col(id("kind"))
                .col(id("name"))
                .col(id("regime"))
                .col(id("status"))
                .col(id("created_by"))
                .col(big("created_at"))
                .col(big("last_seq"))
                .col(big("epoch"))
                .col(big("epoch_started_at"))
                .col(big("epoch_messages"))
                .col(
                    ColumnDef::new(Alias::new("rotation_required"))
                        .boolean()
                        .not_null()
                        .default(true),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("channel_institutions"))
                .col(id("channel_id"))
                .col(id("institution_id"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("channel_id"))
                        .col(Alias::new("institution_id")),
                )
                .foreign_key(&mut fk("channel_institutions", "channel_id", "channels"))
                .foreign_key(&mut fk(
                    "channel_institutions",
                    "institution_id",
                    "institutions",
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("channel_members"))
                .col(id("channel_id"))
                .col(id("user_id"))
                .col(id("added_by"))
                .col(big("added_at"))
                .col(big("joined_seq"))
                .col(big("joined_epoch"))
                .col(
                    ColumnDef::new(Alias::new("read_seq"))
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .primary_key(
                    Index::create()
                        .col(Alias::new("channel_id"))
                        .col(Alias::new("user_id")),
                )
                .foreign_key(&mut fk("channel_members", "channel_id", "channels"))
                .foreign_key(&mut fk("channel_members", "user_id", "users"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_channel_members_user")
                .table(Alias::new("channel_members"))
                .col(Alias::new("user_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("epoch_keys"))
                .col(id("channel_id"))
                .col(big("epoch"))
                .col(id("recipient_device"))
                .col(id("sender_device"))
                .col(text("wrapped"))
                .col(big("created_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("channel_id"))
                        .col(Alias::new("epoch"))
                        .col(Alias::new("recipient_device")),
                )
                .foreign_key(&mut fk("epoch_keys", "channel_id", "channels"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_epoch_keys_recipient")
                .table(Alias::new("epoch_keys"))
                .col(Alias::new("recipient_device"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("messages"))
                .col(id("channel_id"))
                .col(big("seq"))
                .col(id("sender_user"))
                .col(id("sender_device"))
                .col(id("client_msg_id"))
                .col(big("epoch"))
                .col(text("envelope"))
                .col(big("created_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("channel_id"))
                        .col(Alias::new("seq")),
                )
                .foreign_key(&mut fk("messages", "channel_id", "channels"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_messages_idempotency")
                .table(Alias::new("messages"))
                .col(Alias::new("sender_device"))
                .col(Alias::new("client_msg_id"))
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("attachments"))
                .col(id("id").primary_key())
                .col(id("channel_id"))
                .col(id("uploaded_by"))
                .col(big("size"))
                .col(big("created_at"))
                .foreign_key(&mut fk("attachments", "channel_id", "channels"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "attachments",
            "messages",
            "epoch_keys",
            "channel_members",
            "channel_institutions",
            "channels",
            "key_backups",
            "devices",
            "identity_keys",
        ] {
            m.drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
