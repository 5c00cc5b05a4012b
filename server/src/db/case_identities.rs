//! The sealed identity of a case's person and its record keys, one per reader device
//! (CHARTER.md C7).

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::entities::{case_identity, case_identity_key};

/// A case's sealed identity, if one was recorded.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    channel_id: &str,
) -> Result<Option<case_identity::Model>, DbErr> {
    case_identity::Entity::find_by_id(channel_id.to_owned())
        .one(db)
        .await
}

/// Stores a new version of the record in place of the previous one, with exactly `keys`:
/// the previous version's keys go with it. `false` if another version was stored since
/// `previous` (a concurrent or replayed upload), and nothing was changed.
pub(crate) async fn replace(
    db: &impl ConnectionTrait,
    previous: Option<i64>,
    record: case_identity::Model,
    keys: Vec<case_identity_key::Model>,
) -> Result<bool, DbErr> {
    let channel_id = record.channel_id.clone();
    match previous {
        None => {
            let inserted = case_identity::Entity::insert(case_identity::ActiveModel::from(record))
                .on_conflict(
                    OnConflict::column(case_identity::Column::ChannelId)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
            if inserted == 0 {
                return Ok(false);
            }
        }
        Some(version) => {
            let updated = case_identity::Entity::update_many()
                // Every column is written: a model converted whole counts as unchanged.
                .set(case_identity::ActiveModel::from(record).reset_all())
                .filter(case_identity::Column::ChannelId.eq(channel_id.clone()))
                .filter(case_identity::Column::Version.eq(version))
                .exec(db)
                .await?;
            if updated.rows_affected == 0 {
                return Ok(false);
            }
        }
    }
    case_identity_key::Entity::delete_many()
        .filter(case_identity_key::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?;
    for key in keys {
        case_identity_key::ActiveModel::from(key).insert(db).await?;
    }
    Ok(true)
}

/// The record key wrapped for `device_id`, if it holds one.
pub(crate) async fn key_for(
    db: &impl ConnectionTrait,
    channel_id: &str,
    device_id: &str,
) -> Result<Option<case_identity_key::Model>, DbErr> {
    case_identity_key::Entity::find_by_id((channel_id.to_owned(), device_id.to_owned()))
        .one(db)
        .await
}

/// Every wrapped key of a case's identity.
pub(crate) async fn keys_of(
    db: &impl ConnectionTrait,
    channel_id: &str,
) -> Result<Vec<case_identity_key::Model>, DbErr> {
    case_identity_key::Entity::find()
        .filter(case_identity_key::Column::ChannelId.eq(channel_id))
        .all(db)
        .await
}

/// Deletes the wrapped keys of every person but `readers`: someone who stops being a
/// coordinator or the referent of the case loses the key at once. Returns how many went.
pub(crate) async fn keep_only_readers(
    db: &impl ConnectionTrait,
    channel_id: &str,
    readers: &[String],
) -> Result<u64, DbErr> {
    let deleted = case_identity_key::Entity::delete_many()
        .filter(case_identity_key::Column::ChannelId.eq(channel_id))
        .filter(case_identity_key::Column::UserId.is_not_in(readers.iter().cloned()))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

/// Deletes a case's identity and its keys (destruction of the case).
pub(crate) async fn delete(db: &impl ConnectionTrait, channel_id: &str) -> Result<(), DbErr> {
    case_identity_key::Entity::delete_many()
        .filter(case_identity_key::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?;
    case_identity::Entity::delete_many()
        .filter(case_identity::Column::ChannelId.eq(channel_id))
        .exec(db)
        .await?;
    Ok(())
}
