//! Invitations: a one-time link that lets a person whose account an admin created choose
//! their own password (then enrol their second factor at the first login), so that no
//! provisional password ever travels. The link's token is stored only as a hash.

use sea_orm_migration::prelude::*;

use crate::columns::{big, big_null, fk, id};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0013_invitations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("invitations"))
                .col(id("id").primary_key())
                .col(id("user_id"))
                .col(id("token_hash").unique_key())
                .col(id("created_by"))
                .col(big("created_at"))
                .col(big("expires_at"))
                .col(big_null("used_at"))
                .foreign_key(&mut fk("invitations", "user_id", "users"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("invitations")).to_owned())
            .await
    }
}
