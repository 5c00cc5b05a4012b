//! `case_identities`: the person's identity on a case, sealed (JSON envelope) under a
//! record key only the case's coordinators and referent hold (CHARTER.md C7).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "case_identities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel_id: String,
    pub version: i64,
    pub envelope: String,
    pub sealed_by: String,
    pub sealed_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
