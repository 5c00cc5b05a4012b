//! Wrapped epoch keys, one per device and epoch, and the epochs a sender withheld from a
//! device.

use passerelle_shared::crypto::from_base64url;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, Set,
};

use super::entities::{epoch_key, withheld_key};

/// Stores wrapped epoch keys.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    rows: Vec<epoch_key::Model>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    epoch_key::Entity::insert_many(rows.into_iter().map(epoch_key::ActiveModel::from))
        .exec(db)
        .await?;
    Ok(())
}

/// A device's wrapped keys of a channel, from `min_epoch` on, that it has not
/// acknowledged yet (docs/PROTOCOL.md §23.3).
pub(crate) async fn for_device(
    db: &impl ConnectionTrait,
    channel_id: &str,
    device_id: &str,
    min_epoch: i64,
) -> Result<Vec<epoch_key::Model>, DbErr> {
    epoch_key::Entity::find()
        .filter(epoch_key::Column::ChannelId.eq(channel_id))
        .filter(epoch_key::Column::RecipientDevice.eq(device_id))
        .filter(epoch_key::Column::Epoch.gte(min_epoch))
        .filter(epoch_key::Column::DeliveredAt.is_null())
        .order_by_asc(epoch_key::Column::Epoch)
        .all(db)
        .await
}

/// The commitment a stored wrap carries, whole or delivered.
pub(crate) fn commitment_of(wrapped: &str) -> Option<[u8; 32]> {
    let value: serde_json::Value = serde_json::from_str(wrapped).ok()?;
    let bytes = from_base64url(value.get("commitment")?.as_str()?).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

/// Deletes the wrap of each row, keeping the public commitment only: what a device key
/// stolen later could open is gone from the database (docs/PROTOCOL.md §23.3).
async fn shred(
    db: &impl ConnectionTrait,
    rows: Vec<epoch_key::Model>,
    now: i64,
) -> Result<u64, DbErr> {
    let mut shredded = 0;
    for row in rows {
        let stub = match commitment_of(&row.wrapped) {
            Some(commitment) => serde_json::json!({
                "commitment": passerelle_shared::crypto::to_base64url(&commitment),
            })
            .to_string(),
            None => "{}".to_owned(),
        };
        let mut active = row.into_active_model();
        active.wrapped = Set(stub);
        active.delivered_at = Set(Some(now));
        active.update(db).await?;
        shredded += 1;
    }
    Ok(shredded)
}

/// Deletes a device's wraps of these epochs of a channel, once it has stored their
/// keys. Wraps already deleted are left as they are (a replayed acknowledgement
/// changes nothing). Returns how many were deleted now.
pub(crate) async fn mark_delivered(
    db: &impl ConnectionTrait,
    channel_id: &str,
    device_id: &str,
    epochs: Vec<i64>,
    now: i64,
) -> Result<u64, DbErr> {
    let rows = epoch_key::Entity::find()
        .filter(epoch_key::Column::ChannelId.eq(channel_id))
        .filter(epoch_key::Column::RecipientDevice.eq(device_id))
        .filter(epoch_key::Column::Epoch.is_in(epochs))
        .filter(epoch_key::Column::DeliveredAt.is_null())
        .all(db)
        .await?;
    shred(db, rows, now).await
}

/// Deletes every wrap made before `before` and never acknowledged.
pub(crate) async fn expire_undelivered(
    db: &impl ConnectionTrait,
    before: i64,
    now: i64,
) -> Result<u64, DbErr> {
    let rows = epoch_key::Entity::find()
        .filter(epoch_key::Column::CreatedAt.lt(before))
        .filter(epoch_key::Column::DeliveredAt.is_null())
        .all(db)
        .await?;
    shred(db, rows, now).await
}

/// Records the devices a sender left out of an epoch.
pub(crate) async fn insert_withheld(
    db: &impl ConnectionTrait,
    rows: Vec<withheld_key::Model>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    withheld_key::Entity::insert_many(rows.into_iter().map(withheld_key::ActiveModel::from))
        .exec(db)
        .await?;
    Ok(())
}

/// The epochs of a channel, from `min_epoch` on, whose key was withheld from a device.
pub(crate) async fn withheld_for(
    db: &impl ConnectionTrait,
    channel_id: &str,
    device_id: &str,
    min_epoch: i64,
) -> Result<Vec<withheld_key::Model>, DbErr> {
    withheld_key::Entity::find()
        .filter(withheld_key::Column::ChannelId.eq(channel_id))
        .filter(withheld_key::Column::DeviceId.eq(device_id))
        .filter(withheld_key::Column::Epoch.gte(min_epoch))
        .order_by_asc(withheld_key::Column::Epoch)
        .all(db)
        .await
}
