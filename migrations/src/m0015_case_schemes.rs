//! Local schemes on cases (ACTE, chantiers éducatifs): which scheme, its institutions and
//! its dates, so the annual report counts them. Institution ids and dates only.

use sea_orm_migration::prelude::*;

use crate::columns::{big_null, string_null};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0015_case_schemes"
    }
}

const STRINGS: [&str; 3] = ["scheme", "scheme_school", "scheme_host"];
const DATES: [&str; 2] = ["scheme_from", "scheme_until"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let columns = STRINGS
            .iter()
            .map(|c| string_null(c))
            .chain(DATES.iter().map(|c| big_null(c)));
        for column in columns {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("cases"))
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in DATES.iter().rev().chain(STRINGS.iter().rev()) {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("cases"))
                    .drop_column(Alias::new(*column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
