//! Meetings of the cellule de veille and of the programmes' groups (issue 21, item 2): a
//! meeting of a working group, its agenda of cases with the decisions, and the envelopes
//! (notes, minutes) sealed for the group, which the server never reads.

use sea_orm_migration::prelude::*;

use crate::columns::{big, big_null, fk, id, string_null, text};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0017_meetings"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("meetings"))
                .col(id("id").primary_key())
                .col(id("group_id"))
                .col(id("organiser_id"))
                .col(big("scheduled_at"))
                .col(id("status"))
                .col(big("created_at"))
                .col(big("updated_at"))
                // The account ids of the members present (JSON array).
                .col(text("attendees"))
                // The sealed minutes (JSON envelope): opaque to the server.
                .col(ColumnDef::new(Alias::new("minutes")).text().null())
                .col(string_null("minutes_by"))
                .col(big_null("held_at"))
                .col(string_null("held_by"))
                .foreign_key(&mut fk("meetings", "group_id", "channels"))
                .to_owned(),
        )
        .await?;
        // The same meeting scheduled twice (a replayed request) is refused.
        m.create_index(
            Index::create()
                .name("idx_meetings_group_time")
                .table(Alias::new("meetings"))
                .col(Alias::new("group_id"))
                .col(Alias::new("scheduled_at"))
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("meeting_items"))
                .col(id("meeting_id"))
                .col(id("case_id"))
                .col(big("position"))
                .col(string_null("decision"))
                // The sealed note (JSON envelope): opaque to the server.
                .col(ColumnDef::new(Alias::new("note")).text().null())
                .col(big_null("next_review_at"))
                .col(string_null("decided_by"))
                .col(big_null("decided_at"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("meeting_id"))
                        .col(Alias::new("case_id")),
                )
                .foreign_key(&mut fk("meeting_items", "meeting_id", "meetings"))
                .foreign_key(&mut fk("meeting_items", "case_id", "channels"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_meeting_items_case")
                .table(Alias::new("meeting_items"))
                .col(Alias::new("case_id"))
                .to_owned(),
        )
        .await?;
        // Every envelope a meeting received, by sender device and message id: a replayed
        // note or minutes is refused, and the history purge keeps the epochs they use.
        m.create_table(
            Table::create()
                .table(Alias::new("meeting_envelopes"))
                .col(id("sender_device"))
                .col(id("client_msg_id"))
                .col(id("meeting_id"))
                .col(big("epoch"))
                .primary_key(
                    Index::create()
                        .col(Alias::new("sender_device"))
                        .col(Alias::new("client_msg_id")),
                )
                .foreign_key(&mut fk("meeting_envelopes", "meeting_id", "meetings"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_meeting_envelopes_meeting")
                .table(Alias::new("meeting_envelopes"))
                .col(Alias::new("meeting_id"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["meeting_envelopes", "meeting_items", "meetings"] {
            m.drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
