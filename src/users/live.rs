//! The one write to a user row that every account path shares (login, profile edits, phone
//! binding, erasure itself): it never touches an erased account. A leaf: it knows the user
//! entity and the error contract, nothing of sessions or HTTP, so `auth` and `users` may both
//! call it.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entities::user;
use crate::error::{AppError, AppResult, ErrorCode};

/// Writes changes to a user who has not been erased. If an erasure committed first, the
/// changes are dropped: personal data never comes back onto an erased account.
pub async fn update_live(
    db: &impl ConnectionTrait,
    id: i64,
    changes: user::ActiveModel,
) -> AppResult<user::Model> {
    let changed = user::Entity::update_many()
        .set(changes)
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::DeletedAt.is_null())
        .exec(db)
        .await?;
    let gone = || AppError::new(ErrorCode::TokenInvalid, "账号已注销，请重新登录");
    if changed.rows_affected == 0 {
        return Err(gone());
    }
    user::Entity::find_by_id(id).one(db).await?.ok_or_else(gone)
}
