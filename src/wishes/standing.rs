//! Who the caller is to a wish: whether they may see it at all ([`load`]: 404 for callers
//! with no tie to it), and their standing (poster, beneficiary, claimer, staff), which the
//! operations and the detail view decide by.

use sea_orm::EntityTrait;

use crate::auth::access::{Admin, CommunityAccess, CommunityGuard, CurrentUser, Reviewer};
use crate::entities::{community, wish};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::state::AppState;
use crate::wishes::state::WishState;
use crate::wishes::units;

/// A wish and the caller's standing in its community; 404 for callers with no tie to it.
pub async fn load(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
) -> AppResult<(wish::Model, CommunityAccess)> {
    let w = wish::Entity::find_by_id(wish_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let access = match CommunityAccess::load(&state.db, current, w.community_id).await {
        Ok(access) => access,
        Err(e) if e.code() == ErrorCode::NotFound => {
            // A member of a paired unit serving the community sees its wall, as a visitor.
            if !units::serves_member(&state.db, current.id(), w.community_id).await? {
                return Err(e);
            }
            visitor(state, w.community_id).await?
        }
        Err(e) => return Err(e),
    };
    let is_party = w.poster_id == current.id() || w.beneficiary_id == Some(current.id());
    let visible = matches!(
        state_of(&w)?,
        WishState::Published
            | WishState::Claimed
            | WishState::Fulfilled
            | WishState::Confirmed
            | WishState::Disputed
    );
    if !(visible || is_party || Reviewer::allows(&access) || w.claimer_id == Some(current.id())) {
        return Err(AppError::not_found());
    }
    Ok((w, access))
}

/// The standing of a paired unit's member in a community they do not belong to: no roles.
async fn visitor(state: &AppState, community_id: i64) -> AppResult<CommunityAccess> {
    let community = community::Entity::find_by_id(community_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(CommunityAccess {
        community,
        membership: None,
        roles: Vec::new(),
        is_oversight: false,
    })
}

pub fn state_of(w: &wish::Model) -> AppResult<WishState> {
    WishState::parse(&w.state)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("wish {} in unknown state", w.id)))
}

/// Who is the caller to this wish.
pub struct Standing {
    pub is_poster: bool,
    pub is_beneficiary: bool,
    pub is_claimer: bool,
    /// Grid workers and admins of the community (and above).
    pub is_staff: bool,
    pub is_admin: bool,
}

pub fn standing(w: &wish::Model, current: &CurrentUser, access: &CommunityAccess) -> Standing {
    Standing {
        is_poster: w.poster_id == current.id(),
        is_beneficiary: w.beneficiary_id == Some(current.id()),
        // The claimer needs the beneficiary's details while the claim is live, not after.
        is_claimer: w.claimer_id == Some(current.id())
            && matches!(
                WishState::parse(&w.state),
                Some(WishState::Claimed | WishState::Fulfilled | WishState::Disputed)
            ),
        is_staff: Reviewer::allows(access),
        is_admin: Admin::allows(access),
    }
}
