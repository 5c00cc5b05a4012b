//! The pages of a paged key backup (docs/PROTOCOL.md §10.8, issue 18 item 4): each page
//! is stored under the SHA-256 of its ciphertext, opaque to the server; the head that
//! names them stays in `key_backups.data`, so the version a writer swaps with `If-Match`
//! is the same one whatever the format. `bytes` is the page's size, summed against the
//! account's `max_backup_total_bytes`.

use sea_orm_migration::prelude::*;

use crate::columns::{big, id, text};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0030_key_backup_pages"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("key_backup_pages"))
                .col(id("user_id"))
                .col(id("hash"))
                .col(text("data"))
                .col(big("bytes"))
                .col(big("created_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("user_id"))
                        .col(Alias::new("hash")),
                )
                .foreign_key(
                    &mut ForeignKey::create()
                        .name("fk_key_backup_pages_user")
                        .from(Alias::new("key_backup_pages"), Alias::new("user_id"))
                        .to(Alias::new("users"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(Alias::new("key_backup_pages"))
                .to_owned(),
        )
        .await
    }
}
