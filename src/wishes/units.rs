//! Paired units (结对单位): a street pairs a work unit with some of its communities; the unit's
//! members claim wishes there on the unit's behalf, up to an annual quota, and the unit's
//! fulfilled wishes are reported under it.

use chrono::{DateTime, Datelike, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::audit::{self, AuditKind, Entry, ObjectType};
use crate::auth::access::CurrentUser;
use crate::calendar::{cst, month_bounds};
use crate::entities::{
    community, pair_unit, pair_unit_community, pair_unit_member, user, wish, wish_claim,
};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::state::AppState;
use crate::validate;

/// Claim statuses that use up quota: taken on, and not given back.
pub const COUNTED: [&str; 3] = ["active", "fulfilled", "confirmed"];

pub struct NewUnit<'a> {
    pub name: &'a str,
    pub contact: &'a str,
    pub annual_quota: i64,
    pub community_ids: &'a [i64],
}

/// A street admin pairs a unit with communities of the street.
pub async fn create(
    state: &AppState,
    current: &CurrentUser,
    street_id: i64,
    u: NewUnit<'_>,
) -> AppResult<(pair_unit::Model, Vec<i64>)> {
    if !current.is_street_admin(street_id) {
        return Err(AppError::not_found());
    }
    let name = validate::text("name", u.name, 64)?;
    let contact = validate::text("contact", u.contact, 64)?;
    if !(0..=1000).contains(&u.annual_quota) {
        return Err(AppError::validation(
            "annual_quota",
            "年度认领数须在 0 到 1000 之间",
        ));
    }
    let mut ids: Vec<i64> = Vec::new();
    for id in u.community_ids {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    let found = community::Entity::find()
        .filter(community::Column::Id.is_in(ids.clone()))
        .filter(community::Column::StreetId.eq(street_id))
        .count(&state.db)
        .await?;
    if ids.is_empty() || ids.len() > 100 || found as usize != ids.len() {
        return Err(AppError::validation(
            "community_ids",
            "请选择 1 到 100 个本街道的社区",
        ));
    }
    let txn = crate::db::begin_write(&state.db).await?;
    let unit = pair_unit::ActiveModel {
        street_id: Set(street_id),
        name: Set(name),
        contact: Set(contact),
        annual_quota: Set(u.annual_quota as i32),
        created_by: Set(current.id()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    pair_unit_community::Entity::insert_many(ids.iter().map(|c| {
        pair_unit_community::ActiveModel {
            unit_id: Set(unit.id),
            community_id: Set(*c),
        }
    }))
    .exec_without_returning(&txn)
    .await?;
    let entry = Entry::new(AuditKind::PairUnitCreated, ObjectType::PairUnit, unit.id)
        .by(current.id())
        .in_street(street_id)
        .detail(json!({"annual_quota": unit.annual_quota, "community_ids": ids}));
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    Ok((unit, ids))
}

async fn find(state: &AppState, unit_id: i64) -> AppResult<pair_unit::Model> {
    pair_unit::Entity::find_by_id(unit_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)
}

/// A unit its street's admins manage; others get 404.
async fn managed(
    state: &AppState,
    current: &CurrentUser,
    unit_id: i64,
) -> AppResult<pair_unit::Model> {
    let unit = find(state, unit_id).await?;
    if !current.is_street_admin(unit.street_id) {
        return Err(AppError::not_found());
    }
    Ok(unit)
}

pub async fn is_member(db: &impl ConnectionTrait, unit_id: i64, user_id: i64) -> AppResult<bool> {
    Ok(pair_unit_member::Entity::find_by_id((unit_id, user_id))
        .one(db)
        .await?
        .is_some())
}

/// A unit seen by its members or its street's admins; others get 404.
pub async fn visible(
    state: &AppState,
    current: &CurrentUser,
    unit_id: i64,
) -> AppResult<pair_unit::Model> {
    let unit = find(state, unit_id).await?;
    if current.is_street_admin(unit.street_id)
        || is_member(&state.db, unit.id, current.id()).await?
    {
        return Ok(unit);
    }
    Err(AppError::not_found())
}

pub async fn communities(db: &impl ConnectionTrait, unit_id: i64) -> AppResult<Vec<i64>> {
    Ok(pair_unit_community::Entity::find()
        .filter(pair_unit_community::Column::UnitId.eq(unit_id))
        .order_by_asc(pair_unit_community::Column::CommunityId)
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.community_id)
        .collect())
}

/// Whether the caller belongs to a unit that serves `community_id` (they may then see its
/// wall and claim for the unit, without living there).
pub async fn serves_member(
    db: &impl ConnectionTrait,
    user_id: i64,
    community_id: i64,
) -> AppResult<bool> {
    let units: Vec<i64> = pair_unit_member::Entity::find()
        .filter(pair_unit_member::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.unit_id)
        .collect();
    if units.is_empty() {
        return Ok(false);
    }
    Ok(pair_unit_community::Entity::find()
        .filter(pair_unit_community::Column::UnitId.is_in(units))
        .filter(pair_unit_community::Column::CommunityId.eq(community_id))
        .count(db)
        .await?
        > 0)
}

pub async fn add_member(
    state: &AppState,
    current: &CurrentUser,
    unit_id: i64,
    user_id: i64,
) -> AppResult<()> {
    let unit = managed(state, current, unit_id).await?;
    let exists = user::Entity::find_by_id(user_id)
        .one(&state.db)
        .await?
        .is_some_and(|u| u.deleted_at.is_none());
    if !exists {
        return Err(AppError::validation("user_id", "没有这个用户"));
    }
    let txn = crate::db::begin_write(&state.db).await?;
    let added = pair_unit_member::Entity::insert(pair_unit_member::ActiveModel {
        unit_id: Set(unit.id),
        user_id: Set(user_id),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::columns([
            pair_unit_member::Column::UnitId,
            pair_unit_member::Column::UserId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    // Adding someone already a member changes nothing and records nothing.
    if added == 1 {
        member_entry(
            &txn,
            AuditKind::PairUnitMemberAdded,
            current,
            &unit,
            user_id,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// A membership change of a unit is its street's action.
async fn member_entry(
    db: &impl ConnectionTrait,
    kind: AuditKind,
    current: &CurrentUser,
    unit: &pair_unit::Model,
    user_id: i64,
) -> AppResult<()> {
    let entry = Entry::new(kind, ObjectType::PairUnit, unit.id)
        .by(current.id())
        .in_street(unit.street_id)
        .detail(json!({"user_id": user_id}));
    audit::record(db, entry).await
}

pub async fn remove_member(
    state: &AppState,
    current: &CurrentUser,
    unit_id: i64,
    user_id: i64,
) -> AppResult<()> {
    let unit = managed(state, current, unit_id).await?;
    let txn = crate::db::begin_write(&state.db).await?;
    let removed = pair_unit_member::Entity::delete_many()
        .filter(pair_unit_member::Column::UnitId.eq(unit.id))
        .filter(pair_unit_member::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    // Someone who is not a member (or no user at all) names nothing to remove.
    if removed.rows_affected == 0 {
        return Err(AppError::not_found());
    }
    member_entry(
        &txn,
        AuditKind::PairUnitMemberRemoved,
        current,
        &unit,
        user_id,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The first instant of `year` and of the year after, China time.
pub fn year_bounds(year: i32) -> AppResult<(DateTime<Utc>, DateTime<Utc>)> {
    let (start, _) = month_bounds(&format!("{year:04}-01"))?;
    // The year after ends where December ends, so 2100, the last year a month may name,
    // still has an end.
    let (_, end) = month_bounds(&format!("{year:04}-12"))?;
    Ok((start, end))
}

pub fn this_year() -> i32 {
    Utc::now().with_timezone(&cst()).year()
}

/// Claims made for the unit this year that use up its quota. Called with the unit's row
/// locked, so two members claiming at once are counted one after the other.
pub async fn used_quota(db: &impl ConnectionTrait, unit_id: i64) -> AppResult<u64> {
    let (start, end) = year_bounds(this_year())?;
    Ok(wish_claim::Entity::find()
        .filter(wish_claim::Column::UnitId.eq(unit_id))
        .filter(wish_claim::Column::Status.is_in(COUNTED))
        .filter(wish_claim::Column::CreatedAt.gte(start))
        .filter(wish_claim::Column::CreatedAt.lt(end))
        .count(db)
        .await?)
}

/// Takes the unit's row lock for the rest of the transaction (a no-op update), then refuses
/// the claim if the year's quota is used up.
pub async fn reserve(db: &impl ConnectionTrait, unit: &pair_unit::Model) -> AppResult<()> {
    pair_unit::Entity::update_many()
        .col_expr(
            pair_unit::Column::AnnualQuota,
            Expr::col(pair_unit::Column::AnnualQuota),
        )
        .filter(pair_unit::Column::Id.eq(unit.id))
        .exec(db)
        .await?;
    if used_quota(db, unit.id).await? >= unit.annual_quota.max(0) as u64 {
        return Err(AppError::new(
            ErrorCode::UnitQuotaReached,
            "本单位今年的认领名额已用完",
        ));
    }
    Ok(())
}

/// Checks that `current` may claim for `unit_id` in `community_id`, and returns the unit.
pub async fn for_claim(
    state: &AppState,
    current: &CurrentUser,
    unit_id: i64,
    community_id: i64,
) -> AppResult<pair_unit::Model> {
    let unit = find(state, unit_id).await?;
    if !is_member(&state.db, unit.id, current.id()).await? {
        return Err(AppError::validation("unit_id", "您不是该结对单位的成员"));
    }
    if !communities(&state.db, unit.id)
        .await?
        .contains(&community_id)
    {
        return Err(AppError::validation("unit_id", "该结对单位不服务这个社区"));
    }
    Ok(unit)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitWish {
    pub wish_id: i64,
    pub community_id: i64,
    pub title: String,
    /// The claim's status: active, fulfilled, confirmed, released, expired or rejected.
    pub status: String,
    pub claimer_id: i64,
    pub claimed_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitReport {
    pub unit_id: i64,
    pub name: String,
    pub year: i32,
    pub annual_quota: i32,
    /// Claims this year that use up quota.
    pub quota_used: u64,
    /// Wishes confirmed fulfilled under the unit this year.
    pub fulfilled: u64,
    pub community_ids: Vec<i64>,
    /// The year's claims, newest first (at most 500).
    pub wishes: Vec<UnitWish>,
}

/// The unit's year: quota, use, and its wishes (members and street admins).
pub async fn report(
    state: &AppState,
    current: &CurrentUser,
    unit_id: i64,
    year: Option<i32>,
) -> AppResult<UnitReport> {
    let unit = visible(state, current, unit_id).await?;
    let year = year.unwrap_or_else(this_year);
    let (start, end) = year_bounds(year)?;
    let claims = wish_claim::Entity::find()
        .filter(wish_claim::Column::UnitId.eq(unit.id))
        .filter(wish_claim::Column::CreatedAt.gte(start))
        .filter(wish_claim::Column::CreatedAt.lt(end))
        .order_by_desc(wish_claim::Column::Id)
        .all(&state.db)
        .await?;
    let wishes = wish::Entity::find()
        .filter(wish::Column::Id.is_in(claims.iter().map(|c| c.wish_id)))
        .all(&state.db)
        .await?;
    let lines: Vec<UnitWish> = claims
        .iter()
        .take(500)
        .filter_map(|c| {
            let w = wishes.iter().find(|w| w.id == c.wish_id)?;
            Some(UnitWish {
                wish_id: w.id,
                community_id: w.community_id,
                title: w.title.clone(),
                status: c.status.clone(),
                claimer_id: c.claimer_id,
                claimed_at: c.created_at,
            })
        })
        .collect();
    Ok(UnitReport {
        unit_id: unit.id,
        name: unit.name.clone(),
        year,
        annual_quota: unit.annual_quota,
        quota_used: claims
            .iter()
            .filter(|c| COUNTED.contains(&c.status.as_str()))
            .count() as u64,
        fulfilled: claims.iter().filter(|c| c.status == "confirmed").count() as u64,
        community_ids: communities(&state.db, unit.id).await?,
        wishes: lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn years_follow_china_time() {
        let (start, end) = year_bounds(2027).unwrap();
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2027, 12, 31, 16, 0, 0).unwrap());
    }
}
