//! The local scheme a referral's case will be followed under (issue 21, items 1 and 4): an
//! ACTE referral names the school, the days of the exclusion and the host structure. Kept
//! as the JSON of `LocalScheme` (dates and institution ids only, never the pupil): the
//! referral carries it unchanged to the case its acceptance opens.

use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0021_referral_schemes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("referrals"))
                .add_column(ColumnDef::new(Alias::new("scheme")).text().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("referrals"))
                .drop_column(Alias::new("scheme"))
                .to_owned(),
        )
        .await
    }
}
