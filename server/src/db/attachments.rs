//! Attachment rows (the encrypted blobs live on disk, see `app::attachments`).

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait};

use super::entities::attachment;

/// Records an attachment.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    model: attachment::Model,
) -> Result<(), DbErr> {
    attachment::ActiveModel::from(model).insert(db).await?;
    Ok(())
}

/// One attachment.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<attachment::Model>, DbErr> {
    attachment::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Deletes an attachment row (an upload that lost a race with the channel's destruction).
pub(crate) async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    attachment::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?;
    Ok(())
}
