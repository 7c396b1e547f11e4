//! Joining a community and being verified. A user asks to join (pending); a grid worker or
//! community admin verifies or rejects them and may place them in a household. Only verified
//! residents count as residents (and later as voters). Each transition is one conditional
//! update, so two reviewers acting at once cannot both win.

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use serde_json::json;

use crate::audit::{self, AuditKind, Entry, ObjectType};
use crate::auth::access::CurrentUser;
use crate::entities::{community, household, membership, user};
use crate::error::{AppError, AppResult, ErrorCode, is_unique_violation};
use crate::notifications::outbox::{self, Event, local_time_now};
use crate::pagination::Keyset;
use crate::state::AppState;
use crate::validate;

pub use crate::communities::residents::Status;

fn already_member() -> AppError {
    AppError::new(ErrorCode::AlreadyMember, "您已加入或已申请加入该社区")
}

/// Asks to join a community. Someone rejected or who left may ask again.
pub async fn join(
    state: &AppState,
    current: &CurrentUser,
    community_id: i64,
) -> AppResult<membership::Model> {
    community::Entity::find_by_id(community_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let now = Utc::now();
    let existing = membership::Entity::find()
        .filter(membership::Column::CommunityId.eq(community_id))
        .filter(membership::Column::UserId.eq(current.id()))
        .one(&state.db)
        .await?;
    if let Some(m) = existing {
        let reopened = membership::Entity::update_many()
            .col_expr(
                membership::Column::Status,
                Expr::value(Status::Pending.as_str()),
            )
            .col_expr(
                membership::Column::ReviewedBy,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(
                membership::Column::ReviewedAt,
                Expr::value(Option::<chrono::DateTime<Utc>>::None),
            )
            .col_expr(
                membership::Column::RejectReason,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                membership::Column::HouseholdId,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(membership::Column::UpdatedAt, Expr::value(now))
            .filter(membership::Column::Id.eq(m.id))
            .filter(
                membership::Column::Status
                    .is_in([Status::Rejected.as_str(), Status::Left.as_str()]),
            )
            .exec(&state.db)
            .await?;
        if reopened.rows_affected == 0 {
            return Err(already_member());
        }
        return membership::Entity::find_by_id(m.id)
            .one(&state.db)
            .await?
            .ok_or_else(AppError::not_found);
    }
    membership::ActiveModel {
        community_id: Set(community_id),
        user_id: Set(current.id()),
        status: Set(Status::Pending.as_str().to_owned()),
        household_id: Set(None),
        reviewed_by: Set(None),
        reviewed_at: Set(None),
        reject_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            already_member()
        } else {
            e.into()
        }
    })
}

pub async fn list(
    state: &AppState,
    community_id: i64,
    status: Status,
    page: Keyset,
) -> AppResult<Vec<(membership::Model, Option<user::Model>)>> {
    let mut query = membership::Entity::find()
        .filter(membership::Column::CommunityId.eq(community_id))
        .filter(membership::Column::Status.eq(status.as_str()));
    if let Some(after) = page.after {
        query = query.filter(membership::Column::Id.gt(after));
    }
    Ok(query
        .find_also_related(user::Entity)
        .order_by_asc(membership::Column::Id)
        .limit(page.limit + 1)
        .all(&state.db)
        .await?)
}

/// The outcome a reviewer chooses for a pending membership.
pub enum Decision {
    Verify { household_id: Option<i64> },
    Reject { reason: String },
}

pub async fn review(
    state: &AppState,
    reviewer: &CurrentUser,
    community_id: i64,
    membership_id: i64,
    decision: Decision,
) -> AppResult<membership::Model> {
    // Another community's membership is, from here, one that does not exist.
    let found = membership::Entity::find_by_id(membership_id)
        .filter(membership::Column::CommunityId.eq(community_id))
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let community = community::Entity::find_by_id(community_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let now = Utc::now();
    let mut fields = BTreeMap::from([
        ("community_name", community.name.clone()),
        ("time", local_time_now()),
    ]);
    let event;
    let audit;
    let mut update = membership::Entity::update_many()
        .col_expr(membership::Column::ReviewedBy, Expr::value(reviewer.id()))
        .col_expr(membership::Column::ReviewedAt, Expr::value(now))
        .col_expr(membership::Column::UpdatedAt, Expr::value(now));
    match decision {
        Decision::Verify { household_id } => {
            if let Some(h) = household_id {
                household::Entity::find_by_id(h)
                    .filter(household::Column::CommunityId.eq(community_id))
                    .one(&state.db)
                    .await?
                    .ok_or_else(|| AppError::validation("household_id", "住户不存在"))?;
            }
            update = update
                .col_expr(
                    membership::Column::Status,
                    Expr::value(Status::Verified.as_str()),
                )
                .col_expr(membership::Column::HouseholdId, Expr::value(household_id));
            event = Event::MembershipApproved;
            audit = Entry::new(
                AuditKind::MembershipApproved,
                ObjectType::Membership,
                found.id,
            )
            .detail(json!({
                "user_id": found.user_id, "before": Status::Pending.as_str(),
                "after": Status::Verified.as_str(), "household_id": household_id,
            }));
            fields.insert("result", "审核通过".into());
        }
        Decision::Reject { reason } => {
            let reason = validate::text("reason", &reason, 200)?;
            fields.insert("reason", reason.clone());
            event = Event::MembershipRejected;
            // The reason is text a person typed: it stays on the membership, not in the trail.
            audit = Entry::new(
                AuditKind::MembershipRejected,
                ObjectType::Membership,
                found.id,
            )
            .detail(json!({
                "user_id": found.user_id, "before": Status::Pending.as_str(),
                "after": Status::Rejected.as_str(),
            }));
            fields.insert("result", "未通过".into());
            update = update
                .col_expr(
                    membership::Column::Status,
                    Expr::value(Status::Rejected.as_str()),
                )
                .col_expr(membership::Column::RejectReason, Expr::value(reason));
        }
    }
    // The decision and the applicant's notification are one transaction.
    let txn = crate::db::begin_write(&state.db).await?;
    let changed = update
        .filter(membership::Column::Id.eq(found.id))
        .filter(membership::Column::Status.eq(Status::Pending.as_str()))
        .exec(&txn)
        .await?;
    if changed.rows_affected == 0 {
        return Err(AppError::new(
            ErrorCode::MembershipNotPending,
            "该申请已处理，无需重复审核",
        ));
    }
    outbox::enqueue(
        &txn,
        &state.settings.notifications,
        event,
        found.user_id,
        Some(community_id),
        &fields,
    )
    .await?;
    audit::record(&txn, audit.by(reviewer.id()).in_community(community_id)).await?;
    txn.commit().await?;
    membership::Entity::find_by_id(found.id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)
}

/// Places a verified resident in a household (or moves them); only verified memberships.
pub async fn set_household(
    state: &AppState,
    community_id: i64,
    membership_id: i64,
    household_id: i64,
) -> AppResult<membership::Model> {
    let found = membership::Entity::find_by_id(membership_id)
        .filter(membership::Column::CommunityId.eq(community_id))
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    household::Entity::find_by_id(household_id)
        .filter(household::Column::CommunityId.eq(community_id))
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::validation("household_id", "住户不存在"))?;
    let changed = membership::Entity::update_many()
        .col_expr(membership::Column::HouseholdId, Expr::value(household_id))
        .col_expr(membership::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(membership::Column::Id.eq(found.id))
        .filter(membership::Column::Status.eq(Status::Verified.as_str()))
        .exec(&state.db)
        .await?;
    if changed.rows_affected == 0 {
        return Err(AppError::new(
            ErrorCode::MembershipNotVerified,
            "只有已审核通过的居民才能登记住户",
        ));
    }
    membership::Entity::find_by_id(found.id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)
}
