//! Referrals of the intervenant social au commissariat (issue 21, item 1): closed-list
//! values, dates and account ids only; the notes are sealed envelopes (JSON), opaque to
//! the server. The case an acceptance opens is named by id without a foreign key, so that
//! destroying the case (CHARTER.md C11) never waits on a referral.

use sea_orm_migration::prelude::*;

use crate::columns::{big, big_null, fk, id, string_null};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0016_referrals"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("referrals"))
                .col(id("id").primary_key())
                // The client's id, unique: a replayed opening is refused, not stored twice.
                .col(id("client_id"))
                .col(id("referrer_id"))
                .col(id("target_institution"))
                .col(id("reason"))
                .col(id("consent_outcome"))
                .col(id("consent_method"))
                .col(string_null("consent_reason"))
                .col(id("programme"))
                .col(big_null("destroy_limit"))
                .col(string_null("proposed_referent"))
                .col(ColumnDef::new(Alias::new("note")).text().null())
                .col(id("status"))
                .col(big("opened_at"))
                .col(string_null("decided_by"))
                .col(big_null("decided_at"))
                .col(string_null("decline_reason"))
                .col(ColumnDef::new(Alias::new("decline_note")).text().null())
                .col(string_null("case_id"))
                .col(string_null("referent_id"))
                .col(big_null("followed_at"))
                .col(big_null("closed_at"))
                .foreign_key(&mut fk("referrals", "referrer_id", "users"))
                .foreign_key(&mut fk("referrals", "target_institution", "institutions"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_referrals_client_id")
                .table(Alias::new("referrals"))
                .col(Alias::new("client_id"))
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_referrals_target")
                .table(Alias::new("referrals"))
                .col(Alias::new("target_institution"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_referrals_referrer")
                .table(Alias::new("referrals"))
                .col(Alias::new("referrer_id"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("referrals")).to_owned())
            .await
    }
}
