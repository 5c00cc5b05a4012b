//! `meetings`: meetings of working groups; `attendees` is a JSON array of account ids,
//! `minutes` a sealed envelope (JSON), opaque to the server.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "meetings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub group_id: String,
    pub organiser_id: String,
    pub scheduled_at: i64,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub attendees: String,
    pub minutes: Option<String>,
    pub minutes_by: Option<String>,
    pub held_at: Option<i64>,
    pub held_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
