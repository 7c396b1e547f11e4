//! Reading wishes: a community's wall (and the street's and a unit's, over several
//! communities), the caller's own wishes and claims, and a wish's share code.
//!
//! The wall's first pages are served from short-lived read copies (`state.reads.walls`, made
//! by the wall's handler); every service that changes a wish calls [`forget_walls`] once its
//! change has committed.

use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::auth::access::CurrentUser;
use crate::entities::{wish, wish_claim};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::pagination::Keyset;
use crate::state::AppState;
use crate::wishes::standing::{load, state_of};
use crate::wishes::state::WishState;

/// A wish changed (its state, its text, its beneficiary's details): this process's copies of
/// wall pages go, so the next read of a wall asks the database.
pub fn forget_walls(state: &AppState) {
    state.reads.walls.clear();
}

/// How the wall is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WallOrder {
    Newest,
    SoonestDue,
}

/// One page of a community's wall: wishes in `states`, optionally of one category.
/// Newest pages by id; soonest-due pages by (due_at, id), continuing after the cursor's wish.
pub async fn wall(
    state: &AppState,
    communities: &[i64],
    states: &[WishState],
    category: Option<&str>,
    order: WallOrder,
    page: Keyset,
) -> AppResult<Vec<wish::Model>> {
    let after_due = match (order, page.after) {
        (WallOrder::SoonestDue, Some(after)) => wish::Entity::find_by_id(after)
            .filter(wish::Column::CommunityId.is_in(communities.iter().copied()))
            .one(&state.db)
            .await?
            .map(|w| w.due_at),
        _ => None,
    };
    let mut query = wish::Entity::find()
        .filter(wish::Column::CommunityId.is_in(communities.iter().copied()))
        .filter(wish::Column::State.is_in(states.iter().map(|s| s.as_str())));
    if let Some(c) = category {
        query = query.filter(wish::Column::Category.eq(c));
    }
    match order {
        WallOrder::Newest => {
            if let Some(after) = page.after {
                query = query.filter(wish::Column::Id.lt(after));
            }
            query = query.order_by_desc(wish::Column::Id);
        }
        WallOrder::SoonestDue => {
            if let (Some(after), Some(due)) = (page.after, after_due) {
                query = query.filter(
                    wish::Column::DueAt
                        .gt(due)
                        .or(wish::Column::DueAt.eq(due).and(wish::Column::Id.gt(after))),
                );
            }
            query = query
                .order_by_asc(wish::Column::DueAt)
                .order_by_asc(wish::Column::Id);
        }
    }
    Ok(query.limit(page.limit + 1).all(&state.db).await?)
}

/// The caller's own wishes: posted by them, or for them.
pub async fn mine(
    state: &AppState,
    current: &CurrentUser,
    page: Keyset,
) -> AppResult<Vec<wish::Model>> {
    let query = wish::Entity::find().filter(
        wish::Column::PosterId
            .eq(current.id())
            .or(wish::Column::BeneficiaryId.eq(current.id())),
    );
    Ok(page
        .descending(query, wish::Column::Id)
        .all(&state.db)
        .await?)
}

/// The caller's claims, newest first: their record as 圆梦使者.
pub async fn my_claims(
    state: &AppState,
    current: &CurrentUser,
    page: Keyset,
) -> AppResult<Vec<(wish_claim::Model, Option<wish::Model>)>> {
    let query = wish_claim::Entity::find().filter(wish_claim::Column::ClaimerId.eq(current.id()));
    let claims = page
        .descending(query, wish_claim::Column::Id)
        .all(&state.db)
        .await?;
    let wishes = wish::Entity::find()
        .filter(wish::Column::Id.is_in(claims.iter().map(|c| c.wish_id)))
        .all(&state.db)
        .await?;
    Ok(claims
        .into_iter()
        .map(|c| {
            let w = wishes.iter().find(|w| w.id == c.wish_id).cloned();
            (c, w)
        })
        .collect())
}

/// The wish's share code (a mini-program code of its public page), made once.
pub async fn share_code(
    state: &AppState,
    current: &CurrentUser,
    wish_id: i64,
) -> AppResult<crate::entities::qr_code::Model> {
    let (w, _) = load(state, current, wish_id).await?;
    if state_of(&w)? != WishState::Published {
        return Err(AppError::new(
            ErrorCode::WishStateConflict,
            "只有墙上待认领的心愿可以分享",
        ));
    }
    crate::codes::service::for_wish(state, current.id(), w.community_id, w.id).await
}
