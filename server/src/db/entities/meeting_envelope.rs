//! `meeting_envelopes`: every sealed note and minutes a meeting received, by sender
//! device and message id (replays refused), with the epoch it is sealed under.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "meeting_envelopes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub sender_device: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_msg_id: String,
    pub meeting_id: String,
    pub epoch: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
