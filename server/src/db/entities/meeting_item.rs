//! `meeting_items`: the situations (cases) of a meeting's agenda and their decisions;
//! `note` is a sealed envelope (JSON), opaque to the server.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "meeting_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub meeting_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub case_id: String,
    pub position: i64,
    pub decision: Option<String>,
    pub note: Option<String>,
    pub next_review_at: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
