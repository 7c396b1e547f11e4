//! Who is a verified resident of a community: the membership states, and the one query every
//! capability asks ("is this user a verified resident here?"). Knows nothing of HTTP or of the
//! caller, so the access rules (`auth::access`) and the services both build on it.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Select};

use crate::entities::membership;
use crate::error::AppResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Verified,
    Rejected,
    Left,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Verified => "verified",
            Status::Rejected => "rejected",
            Status::Left => "left",
        }
    }
}

/// The verified memberships of `user_id`.
fn verified_of(user_id: i64) -> Select<membership::Entity> {
    membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .filter(membership::Column::Status.eq(Status::Verified.as_str()))
}

/// The verified membership of `user_id` in `community_id`, or `None` when they are not (or
/// not yet, or no longer) a resident there.
pub async fn verified_resident(
    db: &impl ConnectionTrait,
    community_id: i64,
    user_id: i64,
) -> AppResult<Option<membership::Model>> {
    Ok(verified_of(user_id)
        .filter(membership::Column::CommunityId.eq(community_id))
        .one(db)
        .await?)
}

/// The verified memberships of `user_id` among `community_ids`.
pub async fn verified_in(
    db: &impl ConnectionTrait,
    user_id: i64,
    community_ids: &[i64],
) -> AppResult<Vec<membership::Model>> {
    Ok(verified_of(user_id)
        .filter(membership::Column::CommunityId.is_in(community_ids.iter().copied()))
        .all(db)
        .await?)
}

/// The communities where `user_id` is a verified resident.
pub async fn communities_of(db: &impl ConnectionTrait, user_id: i64) -> AppResult<Vec<i64>> {
    Ok(verified_of(user_id)
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.community_id)
        .collect())
}
