//! The coordinators a working group names among its members (CHARTER.md C1).

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::entities::group_coordinator;

/// The coordinators of a group.
pub(crate) async fn of_group(
    db: &impl ConnectionTrait,
    group_id: &str,
) -> Result<Vec<group_coordinator::Model>, DbErr> {
    group_coordinator::Entity::find()
        .filter(group_coordinator::Column::GroupId.eq(group_id))
        .all(db)
        .await
}

/// The working groups `user_id` is named coordinator of.
pub(crate) async fn groups_of(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<String>, DbErr> {
    Ok(group_coordinator::Entity::find()
        .filter(group_coordinator::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.group_id)
        .collect())
}

/// Whether `user_id` is named coordinator of `group_id`.
pub(crate) async fn is_coordinator(
    db: &impl ConnectionTrait,
    group_id: &str,
    user_id: &str,
) -> Result<bool, DbErr> {
    Ok(
        group_coordinator::Entity::find_by_id((group_id.to_owned(), user_id.to_owned()))
            .one(db)
            .await?
            .is_some(),
    )
}

/// Replaces the list of a group's coordinators.
pub(crate) async fn replace(
    db: &impl ConnectionTrait,
    group_id: &str,
    coordinators: Vec<group_coordinator::Model>,
) -> Result<(), DbErr> {
    delete(db, group_id).await?;
    for coordinator in coordinators {
        group_coordinator::ActiveModel::from(coordinator)
            .insert(db)
            .await?;
    }
    Ok(())
}

/// Removes one person from a group's coordinators (they left the group).
pub(crate) async fn remove(
    db: &impl ConnectionTrait,
    group_id: &str,
    user_id: &str,
) -> Result<(), DbErr> {
    group_coordinator::Entity::delete_many()
        .filter(group_coordinator::Column::GroupId.eq(group_id))
        .filter(group_coordinator::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes a group's coordinators (destruction of the group).
pub(crate) async fn delete(db: &impl ConnectionTrait, group_id: &str) -> Result<(), DbErr> {
    group_coordinator::Entity::delete_many()
        .filter(group_coordinator::Column::GroupId.eq(group_id))
        .exec(db)
        .await?;
    Ok(())
}
