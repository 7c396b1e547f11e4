//! 志愿之星: each community's monthly ranking of top earners — beans earned through the
//! earning rules (volunteer hours, fulfilled wishes) in a calendar month, China time. Manual
//! awards, redemptions and reversals do not count.
//!
//! The ranking is served from a sorted set in the cache. The ledger is the source of truth:
//! a missing set is rebuilt from the month's `award` postings, every set lives at most
//! `ranking_refresh_secs`, and each award adds to a set that exists. With the cache down the
//! ranking is computed straight from the ledger.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, JoinType, QueryFilter, QuerySelect, RelationTrait,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::cache::Scored;
use crate::calendar::{month_bounds, month_of};
use crate::entities::{ledger_account, ledger_posting, ledger_transaction, user};
use crate::error::{AppError, AppResult};
use crate::points::ledger::TxKind;
use crate::state::AppState;

pub const MAX_LIMIT: u64 = 50;

fn key(community_id: i64, month: &str) -> String {
    format!("rank:{community_id}:{month}")
}

/// Adds a fresh award to the month's ranking, if the ranking is in the cache. Best effort:
/// the award is already in the ledger, and the next rebuild counts it.
pub async fn record(
    state: &AppState,
    community_id: i64,
    user_id: i64,
    beans: i64,
    at: DateTime<Utc>,
) {
    if beans <= 0 {
        return;
    }
    let key = key(community_id, &month_of(at));
    if let Err(e) = state
        .cache
        .zincr_existing(&key, &user_id.to_string(), beans)
        .await
    {
        tracing::warn!(community_id, error = %e, "ranking not updated; the next rebuild counts the award");
    }
}

#[derive(Debug, FromQueryResult)]
struct Earned {
    user_id: i64,
    beans: i64,
}

/// Beans each resident earned in the month, from the ledger.
async fn from_ledger(state: &AppState, community_id: i64, month: &str) -> AppResult<Vec<Scored>> {
    let (start, end) = month_bounds(month)?;
    let rows = ledger_posting::Entity::find()
        .select_only()
        .column_as(ledger_account::Column::OwnerId, "user_id")
        .column_as(
            Expr::cust("CAST(SUM(ledger_postings.amount) AS BIGINT)"),
            "beans",
        )
        .join(
            JoinType::InnerJoin,
            ledger_posting::Relation::Transaction.def(),
        )
        .join(JoinType::InnerJoin, ledger_posting::Relation::Account.def())
        .filter(ledger_transaction::Column::CommunityId.eq(community_id))
        .filter(ledger_transaction::Column::Kind.eq(TxKind::Award.as_str()))
        .filter(ledger_transaction::Column::CreatedAt.gte(start))
        .filter(ledger_transaction::Column::CreatedAt.lt(end))
        .filter(ledger_account::Column::Kind.eq("wallet"))
        .group_by(ledger_account::Column::OwnerId)
        .into_model::<Earned>()
        .all(&state.db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.beans > 0)
        .map(|r| (r.user_id.to_string(), r.beans))
        .collect())
}

/// Rebuilds the month's ranking in the cache from the ledger, and returns it.
pub async fn rebuild(state: &AppState, community_id: i64, month: &str) -> AppResult<Vec<Scored>> {
    let earned = from_ledger(state, community_id, month).await?;
    let ttl = Duration::from_secs(state.settings.points.ranking_refresh_secs.max(1));
    if let Err(e) = state
        .cache
        .zreplace(&key(community_id, month), &earned, ttl)
        .await
    {
        tracing::warn!(community_id, error = %e, "ranking computed but not cached");
    }
    Ok(earned)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Star {
    /// 1 for the top earner.
    pub rank: u64,
    pub user_id: i64,
    pub nickname: Option<String>,
    pub beans: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ranking {
    pub community_id: i64,
    /// YYYY-MM, China time.
    pub month: String,
    pub stars: Vec<Star>,
    /// The caller's own place, if they earned beans that month.
    pub me: Option<Star>,
}

/// Highest first; equal beans by the greater member first, the order the cache keeps.
fn ordered(mut all: Vec<Scored>) -> Vec<Scored> {
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    all
}

/// A ranking's length as asked for: 1 to [`MAX_LIMIT`], refused otherwise (never clamped
/// silently, as every other list does).
pub fn checked_limit(limit: u64) -> AppResult<usize> {
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::invalid_parameter(
            "limit",
            format!("人数须在 1 到 {MAX_LIMIT} 之间"),
        ));
    }
    Ok(limit as usize)
}

/// The month's top `limit` earners of the community and the caller's own place.
pub async fn ranking(
    state: &AppState,
    community_id: i64,
    month: Option<&str>,
    limit: u64,
    caller: i64,
) -> AppResult<Ranking> {
    let month = match month {
        Some(m) => {
            month_bounds(m)?;
            m.to_owned()
        }
        None => month_of(Utc::now()),
    };
    let limit = checked_limit(limit)?;
    let key = key(community_id, &month);
    let me_key = caller.to_string();
    let (top, mine) = match state.cache.ztop(&key, limit).await {
        Ok(Some(top)) => {
            let mine = state.cache.zplace(&key, &me_key).await.ok().flatten();
            (top, mine)
        }
        Ok(None) | Err(_) => {
            let all = ordered(rebuild(state, community_id, &month).await?);
            let mine = all
                .iter()
                .position(|(m, _)| *m == me_key)
                .map(|i| (i as u64, all[i].1));
            (all.into_iter().take(limit).collect(), mine)
        }
    };
    let mut ids: Vec<i64> = top.iter().filter_map(|(m, _)| m.parse().ok()).collect();
    ids.push(caller);
    let names: HashMap<i64, Option<String>> = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.nickname))
        .collect();
    let star = |place: u64, user_id: i64, beans: i64| Star {
        rank: place + 1,
        user_id,
        nickname: names.get(&user_id).cloned().flatten(),
        beans,
    };
    Ok(Ranking {
        community_id,
        month,
        stars: top
            .iter()
            .enumerate()
            .filter_map(|(i, (m, beans))| Some(star(i as u64, m.parse().ok()?, *beans)))
            .collect(),
        me: mine.map(|(place, beans)| star(place, caller, beans)),
    })
}
