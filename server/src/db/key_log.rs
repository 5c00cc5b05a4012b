//! The key transparency log (docs/PROTOCOL.md §25): appended in the transaction of each
//! key change, by the functions of [`super::keys`] that make it, so that no path can
//! change a key without logging it.

use passerelle_shared::crypto::{
    DeviceCertificate, IdentityPublicKey, KeyLogEntry, KeyLogKind, LoggedDevice,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};

use super::entities::{device, identity_key, key_log_entry, key_log_state};

fn malformed(what: &str) -> DbErr {
    DbErr::Custom(format!("key log: malformed {what}"))
}

/// The log's size (entries `0..size`).
pub(crate) async fn size(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let row = key_log_state::Entity::find_by_id(1).one(db).await?;
    Ok(row.map_or(0, |r| u64::try_from(r.size).unwrap_or(0)))
}

/// Appends `entry`; answers its index. Raising the size first takes the state row's lock
/// (PostgreSQL), so concurrent appends are numbered one after the other.
pub(crate) async fn append(
    db: &impl ConnectionTrait,
    entry: &KeyLogEntry,
    now_ms: i64,
) -> Result<i64, DbErr> {
    key_log_state::Entity::update_many()
        .col_expr(
            key_log_state::Column::Size,
            Expr::col(key_log_state::Column::Size).add(1),
        )
        .filter(key_log_state::Column::Id.eq(1))
        .exec(db)
        .await?;
    let size = key_log_state::Entity::find_by_id(1)
        .one(db)
        .await?
        .ok_or_else(|| malformed("state"))?
        .size;
    let text = serde_json::to_string(entry).map_err(|_| malformed("entry"))?;
    key_log_entry::Entity::insert(key_log_entry::ActiveModel {
        idx: Set(size - 1),
        user_id: Set(entry.user_id.clone()),
        kind: Set(entry.kind.as_str().to_owned()),
        entry: Set(text),
        at: Set(now_ms),
    })
    .exec(db)
    .await?;
    Ok(size - 1)
}

/// A stored row's entry.
pub(crate) fn parse(row: &key_log_entry::Model) -> Result<KeyLogEntry, DbErr> {
    serde_json::from_str(&row.entry).map_err(|_| malformed("entry"))
}

/// The entries `0..size`, in order.
pub(crate) async fn entries(
    db: &impl ConnectionTrait,
    size: u64,
) -> Result<Vec<key_log_entry::Model>, DbErr> {
    key_log_entry::Entity::find()
        .filter(key_log_entry::Column::Idx.lt(i64::try_from(size).unwrap_or(i64::MAX)))
        .order_by_asc(key_log_entry::Column::Idx)
        .all(db)
        .await
}

/// The entries `start..end`, in order.
pub(crate) async fn entries_between(
    db: &impl ConnectionTrait,
    start: u64,
    end: u64,
) -> Result<Vec<key_log_entry::Model>, DbErr> {
    key_log_entry::Entity::find()
        .filter(key_log_entry::Column::Idx.gte(i64::try_from(start).unwrap_or(i64::MAX)))
        .filter(key_log_entry::Column::Idx.lt(i64::try_from(end).unwrap_or(i64::MAX)))
        .order_by_asc(key_log_entry::Column::Idx)
        .all(db)
        .await
}

/// A user's entries among `0..size`, in order.
pub(crate) async fn entries_of(
    db: &impl ConnectionTrait,
    user_id: &str,
    size: u64,
) -> Result<Vec<key_log_entry::Model>, DbErr> {
    key_log_entry::Entity::find()
        .filter(key_log_entry::Column::UserId.eq(user_id))
        .filter(key_log_entry::Column::Idx.lt(i64::try_from(size).unwrap_or(i64::MAX)))
        .order_by_asc(key_log_entry::Column::Idx)
        .all(db)
        .await
}

/// Logs a user's identity key.
pub(crate) async fn log_identity(
    db: &impl ConnectionTrait,
    user_id: &str,
    public_key: &str,
    now_ms: i64,
) -> Result<(), DbErr> {
    let identity_key =
        IdentityPublicKey::from_base64url(public_key).map_err(|_| malformed("identity key"))?;
    let entry = KeyLogEntry {
        kind: KeyLogKind::Identity,
        user_id: user_id.to_owned(),
        identity_key,
        device: None,
    };
    append(db, &entry, now_ms).await.map(|_| ())
}

fn device_entry(
    kind: KeyLogKind,
    model: &device::Model,
    identity_key: IdentityPublicKey,
) -> Result<KeyLogEntry, DbErr> {
    let certificate: DeviceCertificate =
        serde_json::from_str(&model.certificate).map_err(|_| malformed("certificate"))?;
    Ok(KeyLogEntry {
        kind,
        user_id: model.user_id.clone(),
        identity_key,
        device: Some(LoggedDevice {
            device_id: model.id.clone(),
            keys: certificate.keys,
        }),
    })
}

/// Logs a device certified by its user's current identity key.
pub(crate) async fn log_device_added(
    db: &impl ConnectionTrait,
    model: &device::Model,
    now_ms: i64,
) -> Result<(), DbErr> {
    let identity = identity_key::Entity::find_by_id(model.user_id.clone())
        .one(db)
        .await?
        .ok_or_else(|| malformed("device without identity"))?;
    let identity = IdentityPublicKey::from_base64url(&identity.public_key)
        .map_err(|_| malformed("identity"))?;
    append(
        db,
        &device_entry(KeyLogKind::DeviceAdded, model, identity)?,
        now_ms,
    )
    .await
    .map(|_| ())
}

/// Logs a device's revocation, under the identity its addition was logged with (a device
/// registered before the log existed and never logged is left out).
pub(crate) async fn log_device_revoked(
    db: &impl ConnectionTrait,
    device_id: &str,
    now_ms: i64,
) -> Result<(), DbErr> {
    let Some(model) = device::Entity::find_by_id(device_id.to_owned())
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let added = entries_of(db, &model.user_id, u64::MAX)
        .await?
        .iter()
        .map(parse)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .find(|e| {
            e.kind == KeyLogKind::DeviceAdded
                && e.device.as_ref().is_some_and(|d| d.device_id == device_id)
        });
    let Some(added) = added else {
        return Ok(());
    };
    append(
        db,
        &device_entry(KeyLogKind::DeviceRevoked, &model, added.identity_key)?,
        now_ms,
    )
    .await
    .map(|_| ())
}

/// On a server upgraded to the log, logs the keys registered before it: each user's
/// current identity, then their devices certified by it (and their revocations), once,
/// while the log is empty. Identities replaced before the upgrade are not known any more
/// and stay out (PROTOCOL.md §25.6).
pub(crate) async fn backfill(db: &sea_orm::DatabaseConnection, now_ms: i64) -> Result<u64, DbErr> {
    let txn = db.begin().await?;
    // Taking the state row's lock first: two nodes starting together back-fill once.
    key_log_state::Entity::update_many()
        .col_expr(
            key_log_state::Column::Size,
            Expr::col(key_log_state::Column::Size).into(),
        )
        .filter(key_log_state::Column::Id.eq(1))
        .exec(&txn)
        .await?;
    if size(&txn).await? > 0 {
        txn.rollback().await?;
        return Ok(0);
    }
    let mut logged = 0;
    let identities = identity_key::Entity::find()
        .order_by_asc(identity_key::Column::UserId)
        .all(&txn)
        .await?;
    for identity in identities {
        let Ok(key) = IdentityPublicKey::from_base64url(&identity.public_key) else {
            continue;
        };
        log_identity(&txn, &identity.user_id, &identity.public_key, now_ms).await?;
        logged += 1;
        let devices = device::Entity::find()
            .filter(device::Column::UserId.eq(identity.user_id.clone()))
            .order_by_asc(device::Column::CreatedAt)
            .all(&txn)
            .await?;
        for model in devices {
            let certified = serde_json::from_str::<DeviceCertificate>(&model.certificate)
                .is_ok_and(|c| c.verify(&key).is_ok());
            if !certified {
                continue;
            }
            append(
                &txn,
                &device_entry(KeyLogKind::DeviceAdded, &model, key.clone())?,
                now_ms,
            )
            .await?;
            logged += 1;
            if model.revoked_at.is_some() {
                append(
                    &txn,
                    &device_entry(KeyLogKind::DeviceRevoked, &model, key.clone())?,
                    now_ms,
                )
                .await?;
                logged += 1;
            }
        }
    }
    txn.commit().await?;
    Ok(logged)
}
