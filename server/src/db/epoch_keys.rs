//! Wrapped epoch keys, one per device and epoch, and the epochs a sender withheld from a
//! device.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

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

/// A device's wrapped keys of a channel, from `min_epoch` on.
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
        .order_by_asc(epoch_key::Column::Epoch)
        .all(db)
        .await
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
