//! Link requests (docs/PROTOCOL.md §5.5.1) and the epoch-key lookups of re-wrapping (§7.6).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use super::entities::{device_link, epoch_key};

/// Status of a request waiting for an existing device.
pub(crate) const PENDING: &str = "pending";

/// Stores a new request.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    row: device_link::Model,
) -> Result<device_link::Model, DbErr> {
    device_link::ActiveModel::from(row).insert(db).await
}

/// One request.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<device_link::Model>, DbErr> {
    device_link::Entity::find_by_id(id.to_owned()).one(db).await
}

/// A user's requests still pending at `now_ms`, newest first.
pub(crate) async fn pending_of(
    db: &impl ConnectionTrait,
    user_id: &str,
    now_ms: i64,
) -> Result<Vec<device_link::Model>, DbErr> {
    device_link::Entity::find()
        .filter(device_link::Column::UserId.eq(user_id))
        .filter(device_link::Column::Status.eq(PENDING))
        .filter(device_link::Column::ExpiresAt.gt(now_ms))
        .order_by_desc(device_link::Column::CreatedAt)
        .all(db)
        .await
}

/// Whether a pending request already claims this device id.
pub(crate) async fn device_id_claimed(
    db: &impl ConnectionTrait,
    device_id: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    Ok(device_link::Entity::find()
        .filter(device_link::Column::DeviceId.eq(device_id))
        .filter(device_link::Column::Status.eq(PENDING))
        .filter(device_link::Column::ExpiresAt.gt(now_ms))
        .one(db)
        .await?
        .is_some())
}

/// How many requests a user made since `since_ms`.
pub(crate) async fn made_since(
    db: &impl ConnectionTrait,
    user_id: &str,
    since_ms: i64,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    device_link::Entity::find()
        .filter(device_link::Column::UserId.eq(user_id))
        .filter(device_link::Column::CreatedAt.gt(since_ms))
        .count(db)
        .await
}

/// Forgets a user's requests that expired before `before_ms` (nobody polls them any more).
pub(crate) async fn forget_expired(
    db: &impl ConnectionTrait,
    user_id: &str,
    before_ms: i64,
) -> Result<(), DbErr> {
    device_link::Entity::delete_many()
        .filter(device_link::Column::UserId.eq(user_id))
        .filter(device_link::Column::ExpiresAt.lt(before_ms))
        .exec(db)
        .await?;
    Ok(())
}

/// Closes a pending request; false when it was no longer pending (a race, or a replay).
pub(crate) async fn close(
    db: &impl ConnectionTrait,
    id: &str,
    status: &str,
) -> Result<bool, DbErr> {
    let result = device_link::Entity::update_many()
        .col_expr(device_link::Column::Status, Expr::value(status))
        .filter(device_link::Column::Id.eq(id))
        .filter(device_link::Column::Status.eq(PENDING))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Closes every pending request of a user (a new request replaces them); returns them.
pub(crate) async fn close_all_pending(
    db: &impl ConnectionTrait,
    user_id: &str,
    status: &str,
) -> Result<Vec<device_link::Model>, DbErr> {
    let pending = device_link::Entity::find()
        .filter(device_link::Column::UserId.eq(user_id))
        .filter(device_link::Column::Status.eq(PENDING))
        .all(db)
        .await?;
    let mut closed = Vec::new();
    for row in pending {
        if close(db, &row.id, status).await? {
            closed.push(row);
        }
    }
    Ok(closed)
}

/// One stored wrap of a channel's epoch (any recipient): its commitment is the epoch's.
pub(crate) async fn any_wrap_of_epoch(
    db: &impl ConnectionTrait,
    channel_id: &str,
    epoch: i64,
) -> Result<Option<epoch_key::Model>, DbErr> {
    epoch_key::Entity::find()
        .filter(epoch_key::Column::ChannelId.eq(channel_id))
        .filter(epoch_key::Column::Epoch.eq(epoch))
        .one(db)
        .await
}

/// The (channel, epoch) pairs a device already holds a wrap for.
pub(crate) async fn wraps_held_by(
    db: &impl ConnectionTrait,
    device_id: &str,
) -> Result<Vec<(String, i64)>, DbErr> {
    Ok(epoch_key::Entity::find()
        .filter(epoch_key::Column::RecipientDevice.eq(device_id))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.channel_id, row.epoch))
        .collect())
}
