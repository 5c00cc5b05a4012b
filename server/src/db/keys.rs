//! The key directory: identity keys, devices, key backups.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::{device, identity_key, key_backup, key_backup_page, user};

/// A user's identity key row.
pub(crate) async fn find_identity(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Option<identity_key::Model>, DbErr> {
    identity_key::Entity::find_by_id(user_id.to_owned())
        .one(db)
        .await
}

/// Sets a user's identity key, bumping its version when it replaces another.
pub(crate) async fn put_identity(
    db: &impl ConnectionTrait,
    user_id: &str,
    public_key: String,
    now_ms: i64,
) -> Result<identity_key::Model, DbErr> {
    let existing = find_identity(db, user_id).await?;
    // Every new identity key enters the transparency log, in this transaction (§25).
    if existing.as_ref().is_none_or(|e| e.public_key != public_key) {
        super::key_log::log_identity(db, user_id, &public_key, now_ms).await?;
    }
    match existing {
        Some(existing) => {
            let mut active: identity_key::ActiveModel = existing.clone().into();
            active.public_key = Set(public_key);
            active.version = Set(existing.version + 1);
            active.updated_at = Set(now_ms);
            active.update(db).await
        }
        None => {
            identity_key::ActiveModel {
                user_id: Set(user_id.to_owned()),
                public_key: Set(public_key),
                version: Set(0),
                updated_at: Set(now_ms),
            }
            .insert(db)
            .await
        }
    }
}

/// One device.
pub(crate) async fn find_device(
    db: &impl ConnectionTrait,
    device_id: &str,
) -> Result<Option<device::Model>, DbErr> {
    device::Entity::find_by_id(device_id.to_owned())
        .one(db)
        .await
}

/// A user's devices, revoked included, oldest first.
pub(crate) async fn devices_of(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<device::Model>, DbErr> {
    device::Entity::find()
        .filter(device::Column::UserId.eq(user_id))
        .order_by_asc(device::Column::CreatedAt)
        .all(db)
        .await
}

/// The devices that receive the epoch keys of channels these users belong to: the live
/// devices of the accounts that are not disabled (CHARTER.md C3: a disabled account's
/// devices leave key distribution at once, and come back if it is enabled again).
pub(crate) async fn key_recipients(
    db: &impl ConnectionTrait,
    user_ids: Vec<String>,
) -> Result<Vec<device::Model>, DbErr> {
    let enabled: Vec<String> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Id.is_in(user_ids))
        .filter(user::Column::Disabled.eq(false))
        .into_tuple()
        .all(db)
        .await?;
    device::Entity::find()
        .filter(device::Column::UserId.is_in(enabled))
        .filter(device::Column::RevokedAt.is_null())
        .order_by_asc(device::Column::Id)
        .all(db)
        .await
}

/// Inserts a device.
pub(crate) async fn insert_device(
    db: &impl ConnectionTrait,
    model: device::Model,
) -> Result<device::Model, DbErr> {
    let model = device::ActiveModel::from(model).insert(db).await?;
    // Logged in the same transaction as the device row (§25).
    super::key_log::log_device_added(db, &model, model.created_at).await?;
    Ok(model)
}

/// Revokes a live device; returns whether it was live.
pub(crate) async fn revoke_device(
    db: &impl ConnectionTrait,
    device_id: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let result = device::Entity::update_many()
        .col_expr(device::Column::RevokedAt, Expr::value(now_ms))
        .filter(device::Column::Id.eq(device_id))
        .filter(device::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    let revoked = result.rows_affected == 1;
    if revoked {
        super::key_log::log_device_revoked(db, device_id, now_ms).await?;
    }
    Ok(revoked)
}

/// A user's key backup.
pub(crate) async fn find_backup(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Option<key_backup::Model>, DbErr> {
    key_backup::Entity::find_by_id(user_id.to_owned())
        .one(db)
        .await
}

/// Writes a key backup if its current version is `expected` (`None`: no backup yet).
/// Returns the new version, or `None` when another device wrote first.
pub(crate) async fn put_backup(
    db: &impl ConnectionTrait,
    user_id: &str,
    expected: Option<i64>,
    data: String,
    now_ms: i64,
) -> Result<Option<i64>, DbErr> {
    match expected {
        None => {
            if find_backup(db, user_id).await?.is_some() {
                return Ok(None);
            }
            key_backup::ActiveModel {
                user_id: Set(user_id.to_owned()),
                version: Set(1),
                data: Set(data),
                updated_at: Set(now_ms),
            }
            .insert(db)
            .await?;
            Ok(Some(1))
        }
        Some(version) => {
            // Compare-and-set in one statement: two devices cannot both win.
            let result = key_backup::Entity::update_many()
                .col_expr(key_backup::Column::Version, Expr::value(version + 1))
                .col_expr(key_backup::Column::Data, Expr::value(data))
                .col_expr(key_backup::Column::UpdatedAt, Expr::value(now_ms))
                .filter(key_backup::Column::UserId.eq(user_id))
                .filter(key_backup::Column::Version.eq(version))
                .exec(db)
                .await?;
            Ok((result.rows_affected == 1).then_some(version + 1))
        }
    }
}

/// Replaces a user's key backup whatever its version (an identity reset: the old backup
/// is sealed under a code the user lost). Returns the new version, one above the old.
pub(crate) async fn replace_backup(
    db: &impl ConnectionTrait,
    user_id: &str,
    data: String,
    now_ms: i64,
) -> Result<i64, DbErr> {
    match find_backup(db, user_id).await? {
        Some(existing) => {
            let version = existing.version + 1;
            let mut active: key_backup::ActiveModel = existing.into();
            active.version = Set(version);
            active.data = Set(data);
            active.updated_at = Set(now_ms);
            active.update(db).await?;
            Ok(version)
        }
        None => {
            key_backup::ActiveModel {
                user_id: Set(user_id.to_owned()),
                version: Set(1),
                data: Set(data),
                updated_at: Set(now_ms),
            }
            .insert(db)
            .await?;
            Ok(1)
        }
    }
}

/// The pages stored for a user's paged key backup: hash and size, without their data.
pub(crate) async fn backup_pages_of(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<(String, i64)>, DbErr> {
    key_backup_page::Entity::find()
        .select_only()
        .column(key_backup_page::Column::Hash)
        .column(key_backup_page::Column::Bytes)
        .filter(key_backup_page::Column::UserId.eq(user_id))
        .into_tuple()
        .all(db)
        .await
}

/// One page of a user's paged key backup.
pub(crate) async fn find_backup_page(
    db: &impl ConnectionTrait,
    user_id: &str,
    hash: &str,
) -> Result<Option<key_backup_page::Model>, DbErr> {
    key_backup_page::Entity::find_by_id((user_id.to_owned(), hash.to_owned()))
        .one(db)
        .await
}

/// Stores a page under its hash; a page already there (the same bytes, since the hash
/// names them) is left as it is.
pub(crate) async fn insert_backup_page(
    db: &impl ConnectionTrait,
    page: key_backup_page::Model,
) -> Result<(), DbErr> {
    let active: key_backup_page::ActiveModel = page.into();
    key_backup_page::Entity::insert(active)
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                key_backup_page::Column::UserId,
                key_backup_page::Column::Hash,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Deletes the user's pages whose hash is not in `keep` (those no head names after a
/// swap); every page when `keep` is empty. Returns how many went.
pub(crate) async fn delete_backup_pages_except(
    db: &impl ConnectionTrait,
    user_id: &str,
    keep: &[String],
) -> Result<u64, DbErr> {
    let mut query =
        key_backup_page::Entity::delete_many().filter(key_backup_page::Column::UserId.eq(user_id));
    if !keep.is_empty() {
        query = query.filter(key_backup_page::Column::Hash.is_not_in(keep.iter().cloned()));
    }
    Ok(query.exec(db).await?.rows_affected)
}

/// These sending devices (those that exist, revoked or not): the writer checks in its
/// transaction that each sender's device is still live.
pub(crate) async fn sending_devices(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<super::entities::device::Model>, DbErr> {
    use super::entities::device;
    let mut found = Vec::new();
    for chunk in ids.chunks(super::LOOKUP_CHUNK) {
        found.extend(
            device::Entity::find()
                .filter(device::Column::Id.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}
