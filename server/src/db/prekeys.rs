//! Each device's current signed prekey (docs/PROTOCOL.md §23).

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};

use super::entities::device_prekey;

/// The current prekey of one device.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    device_id: &str,
) -> Result<Option<device_prekey::Model>, DbErr> {
    device_prekey::Entity::find_by_id(device_id.to_owned())
        .one(db)
        .await
}

/// The current prekeys of these devices.
pub(crate) async fn of_devices(
    db: &impl ConnectionTrait,
    device_ids: Vec<String>,
) -> Result<Vec<device_prekey::Model>, DbErr> {
    device_prekey::Entity::find()
        .filter(device_prekey::Column::DeviceId.is_in(device_ids))
        .all(db)
        .await
}

/// Stores `model` as its device's prekey if its serial is above the stored one's.
/// Returns whether it was stored; call it inside a transaction.
pub(crate) async fn replace_if_newer(
    db: &impl ConnectionTrait,
    model: device_prekey::Model,
) -> Result<bool, DbErr> {
    match find(db, &model.device_id).await? {
        Some(current) if current.serial >= model.serial => Ok(false),
        Some(current) => {
            let mut active: device_prekey::ActiveModel = current.into();
            active.serial = Set(model.serial);
            active.prekey = Set(model.prekey);
            active.published_at = Set(model.published_at);
            active.update(db).await?;
            Ok(true)
        }
        None => {
            device_prekey::ActiveModel::from(model).insert(db).await?;
            Ok(true)
        }
    }
}
