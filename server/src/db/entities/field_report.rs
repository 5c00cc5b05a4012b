//! `field_reports`: mediators' field reports; the description and answer are sealed
//! envelopes (JSON), opaque to the server.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "field_reports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub group_id: String,
    pub author_id: String,
    pub category: String,
    pub place: String,
    pub observed_at: i64,
    pub filed_at: i64,
    pub status: String,
    pub description: String,
    pub description_device: String,
    pub description_msg_id: String,
    pub epoch: i64,
    pub answer_epoch: Option<i64>,
    pub handled_by: Option<String>,
    pub handled_at: Option<i64>,
    pub answer: Option<String>,
    pub answered_by: Option<String>,
    pub answered_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
