//! `channels`: channels with their sequence and epoch counters.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channels")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    pub name: String,
    pub regime: String,
    pub status: String,
    pub created_by: String,
    pub created_at: i64,
    pub last_seq: i64,
    pub epoch: i64,
    pub epoch_started_at: i64,
    pub epoch_messages: i64,
    pub rotation_required: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
