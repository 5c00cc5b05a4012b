//! Field reports of the public-tranquillity mediators (issue 21, item 3): non-nominative,
//! addressed to a working group, their description and answer end-to-end encrypted for
//! that group. A report goes with its group when the group is destroyed.

use sea_orm_migration::prelude::*;

use crate::columns::{big, big_null, fk, id, string_null, text};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0014_field_reports"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("field_reports"))
                .col(id("id").primary_key())
                .col(id("group_id"))
                .col(id("author_id"))
                .col(id("category"))
                .col(id("place"))
                .col(big("observed_at"))
                .col(big("filed_at"))
                .col(id("status"))
                // The sealed envelope (JSON): opaque to the server.
                .col(text("description"))
                // The envelope's sender device and message id, unique: a replayed filing
                // is refused instead of stored twice.
                .col(id("description_device"))
                .col(id("description_msg_id"))
                // The epochs the description and the answer are sealed under: the history
                // purge keeps those epochs' keys while the report is kept.
                .col(big("epoch"))
                .col(big_null("answer_epoch"))
                .col(string_null("handled_by"))
                .col(big_null("handled_at"))
                .col(ColumnDef::new(Alias::new("answer")).text().null())
                .col(string_null("answered_by"))
                .col(big_null("answered_at"))
                .foreign_key(&mut fk("field_reports", "group_id", "channels"))
                .foreign_key(&mut fk("field_reports", "author_id", "users"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_field_reports_envelope")
                .table(Alias::new("field_reports"))
                .col(Alias::new("description_device"))
                .col(Alias::new("description_msg_id"))
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_field_reports_group")
                .table(Alias::new("field_reports"))
                .col(Alias::new("group_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_field_reports_author")
                .table(Alias::new("field_reports"))
                .col(Alias::new("author_id"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("field_reports")).to_owned())
            .await
    }
}
