//! A channel's signed membership log (docs/PROTOCOL.md §22): appended in the transaction
//! of the change it records, read whole (clients verify it from its first record), and
//! deleted with the channel only (`db::retention`), never aged out.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use super::entities::{channel, membership_log_record};

/// Locks the channel's row until the commit (PostgreSQL; SQLite serialises writers), so
/// that two records checked against the same head cannot both be appended.
pub(crate) async fn lock_channel(db: &impl ConnectionTrait, channel_id: &str) -> Result<(), DbErr> {
    channel::Entity::update_many()
        .col_expr(
            channel::Column::LastSeq,
            Expr::col(channel::Column::LastSeq).into(),
        )
        .filter(channel::Column::Id.eq(channel_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Every record of a channel, in order.
pub(crate) async fn all(
    db: &impl ConnectionTrait,
    channel_id: &str,
) -> Result<Vec<membership_log_record::Model>, DbErr> {
    membership_log_record::Entity::find()
        .filter(membership_log_record::Column::ChannelId.eq(channel_id))
        .order_by_asc(membership_log_record::Column::Seq)
        .all(db)
        .await
}

/// Whether the channel has a log at all.
pub(crate) async fn exists(db: &impl ConnectionTrait, channel_id: &str) -> Result<bool, DbErr> {
    Ok(membership_log_record::Entity::find()
        .filter(membership_log_record::Column::ChannelId.eq(channel_id))
        .one(db)
        .await?
        .is_some())
}

/// Appends a record the caller checked against [`all`], read after [`lock_channel`].
pub(crate) async fn append(
    db: &impl ConnectionTrait,
    channel_id: &str,
    seq: i64,
    record: String,
    now_ms: i64,
) -> Result<(), DbErr> {
    membership_log_record::ActiveModel::from(membership_log_record::Model {
        channel_id: channel_id.to_owned(),
        seq,
        record,
        stored_at: now_ms,
    })
    .insert(db)
    .await?;
    Ok(())
}

/// Deletes a channel's log (the channel is destroyed).
pub(crate) async fn delete(db: &impl ConnectionTrait, channel_id: &str) -> Result<u64, DbErr> {
    Ok(membership_log_record::Entity::delete_many()
        .filter(membership_log_record::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?
        .rows_affected)
}
