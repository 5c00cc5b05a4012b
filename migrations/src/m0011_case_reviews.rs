//! Case reviews (CHARTER.md C11): every active case has a next review date; a case not
//! reviewed in time is proposed for closing, then archived, so that nothing lives for ever.

use sea_orm_migration::prelude::*;

use crate::columns::big_null;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0011_case_reviews"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in ["next_review_at", "closing_proposed_at"] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("cases"))
                    .add_column(big_null(column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in ["closing_proposed_at", "next_review_at"] {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("cases"))
                    .drop_column(Alias::new(column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
