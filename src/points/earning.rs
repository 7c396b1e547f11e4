//! Earning: the one service other capabilities call to award beans. Each community sets, per
//! kind of event, how many beans it gives (per event, or per service hour) and caps per person
//! per day and per month. An award over a cap is recorded with what was held back, never
//! silently lost; one business key awards once.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::audit::{self, AuditKind, Entry, ObjectType};
use crate::entities::{earning_award, earning_rule, ledger_account};
use crate::error::{AppError, AppResult};
use crate::points::ledger::{self, AccountKind, Leg, NewTransaction, Posted, TxKind};
use crate::state::AppState;

/// What beans are earned for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EarnEvent {
    /// A 微心愿 fulfilled and confirmed: beans per wish.
    WishFulfilled,
    /// Approved volunteer service: beans per hour; units are minutes.
    ActivityHours,
}

impl EarnEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            EarnEvent::WishFulfilled => "wish_fulfilled",
            EarnEvent::ActivityHours => "activity_hours",
        }
    }

    /// Beans before caps for `units` under a rule of `rate`.
    fn beans(self, rate: i64, units: i64) -> i64 {
        match self {
            EarnEvent::WishFulfilled => rate.saturating_mul(units),
            EarnEvent::ActivityHours => rate.saturating_mul(units) / 60,
        }
    }
}

pub struct AwardRequest<'a> {
    pub community_id: i64,
    pub user_id: i64,
    pub event: EarnEvent,
    pub units: i64,
    /// A business key, such as `activity:42:user:7`: the same key never pays twice.
    pub key: &'a str,
    pub ref_type: Option<&'a str>,
    pub ref_id: Option<i64>,
}

async fn granted_since(
    db: &impl ConnectionTrait,
    community_id: i64,
    user_id: i64,
    since: DateTime<Utc>,
) -> AppResult<i64> {
    let sum: Option<Option<i64>> = earning_award::Entity::find()
        .select_only()
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(granted), 0) AS BIGINT)"),
            "total",
        )
        .filter(earning_award::Column::CommunityId.eq(community_id))
        .filter(earning_award::Column::UserId.eq(user_id))
        .filter(earning_award::Column::CreatedAt.gte(since))
        .into_tuple()
        .one(db)
        .await?;
    Ok(sum.flatten().unwrap_or(0))
}

/// Awards beans for an event under the community's rule and caps. Replays return the first
/// award. Runs in its own database transaction (run again if it loses a deadlock).
pub async fn award(state: &AppState, req: AwardRequest<'_>) -> AppResult<earning_award::Model> {
    if req.units <= 0 {
        return Err(AppError::validation("units", "数量须为正整数"));
    }
    crate::db::retry_conflicts(|| award_once(state, &req)).await
}

/// Locks (see the lock order in `points::ledger`): both accounts opened (step 2), the wallet
/// (step 3) and under it the award's keys, then the issuing account (step 6).
async fn award_once(state: &AppState, req: &AwardRequest<'_>) -> AppResult<earning_award::Model> {
    let find = || {
        earning_award::Entity::find()
            .filter(earning_award::Column::CommunityId.eq(req.community_id))
            .filter(earning_award::Column::IdempotencyKey.eq(req.key))
    };
    let txn = crate::db::begin_write(&state.db).await?;
    let wallet = ledger::account(&txn, req.community_id, AccountKind::Wallet, req.user_id).await?;
    let issuing = ledger::account(&txn, req.community_id, AccountKind::Issuing, 0).await?;
    // Lock the wallet first: awards to one person are counted against the caps one at a time.
    ledger::lock_account(&txn, wallet.id).await?;
    if let Some(existing) = find().one(&txn).await? {
        txn.rollback().await?;
        return Ok(existing);
    }
    let now = Utc::now();
    let (requested, granted) = within_caps(&txn, req, now).await?;
    let claimed = earning_award::Entity::insert(earning_award::ActiveModel {
        community_id: Set(req.community_id),
        user_id: Set(req.user_id),
        event_kind: Set(req.event.as_str().to_owned()),
        units: Set(req.units),
        requested: Set(requested),
        granted: Set(granted),
        idempotency_key: Set(req.key.to_owned()),
        transaction_id: Set(None),
        ref_type: Set(req.ref_type.map(str::to_owned)),
        ref_id: Set(req.ref_id),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            earning_award::Column::CommunityId,
            earning_award::Column::IdempotencyKey,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if claimed == 0 {
        // The same key for another person, paid in the meantime: the first award stands.
        // Read here, in this transaction, which sees the row that took the key.
        let first = find()
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("award key taken but not found")));
        txn.rollback().await?;
        return first;
    }
    let mut record = find()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("award vanished")))?;
    if granted > 0 {
        let tx_id = post_award(&txn, req, wallet, issuing, granted).await?;
        earning_award::Entity::update_many()
            .col_expr(earning_award::Column::TransactionId, Expr::value(tx_id))
            .filter(earning_award::Column::Id.eq(record.id))
            .exec(&txn)
            .await?;
        record.transaction_id = Some(tx_id);
    }
    txn.commit().await?;
    state.metrics.beans_awarded(granted);
    crate::points::ranking::record(state, req.community_id, req.user_id, granted, now).await;
    Ok(record)
}

/// What the rule gives for the event (`requested`) and how much of it the person's daily and
/// monthly caps leave room for (`granted`). Runs with their wallet locked, so awards to one
/// person are counted against the caps one at a time.
async fn within_caps(
    txn: &DatabaseTransaction,
    req: &AwardRequest<'_>,
    now: DateTime<Utc>,
) -> AppResult<(i64, i64)> {
    let rule = earning_rule::Entity::find()
        .filter(earning_rule::Column::CommunityId.eq(req.community_id))
        .filter(earning_rule::Column::EventKind.eq(req.event.as_str()))
        .one(txn)
        .await?;
    let requested = rule
        .as_ref()
        .map(|r| req.event.beans(r.beans_per_unit, req.units))
        .unwrap_or(0);
    let (day, month) = crate::calendar::day_and_month_start(now);
    let mut room = requested;
    if let Some(cap) = rule.as_ref().and_then(|r| r.daily_cap) {
        room = room.min(cap - granted_since(txn, req.community_id, req.user_id, day).await?);
    }
    if let Some(cap) = rule.as_ref().and_then(|r| r.monthly_cap) {
        room = room.min(cap - granted_since(txn, req.community_id, req.user_id, month).await?);
    }
    Ok((requested, room.max(0)))
}

/// Posts `granted` beans from the community's issuing account to the wallet, under the
/// award's key; returns the ledger transaction's id.
async fn post_award(
    txn: &DatabaseTransaction,
    req: &AwardRequest<'_>,
    wallet: ledger_account::Model,
    issuing: ledger_account::Model,
    granted: i64,
) -> AppResult<i64> {
    let key = format!("earn:{}", req.key);
    let reason = match req.event {
        EarnEvent::WishFulfilled => "圆梦微心愿".to_owned(),
        EarnEvent::ActivityHours => format!("志愿服务 {} 分钟", req.units),
    };
    let posted = ledger::post(
        txn,
        NewTransaction {
            community_id: req.community_id,
            kind: TxKind::Award,
            key: &key,
            request_hash: ledger::request_hash(&serde_json::json!({
                "user_id": req.user_id, "granted": granted,
            })),
            reason: &reason,
            ref_type: req.ref_type,
            ref_id: req.ref_id,
            created_by: None,
            reverses_id: None,
            legs: vec![
                Leg {
                    account: wallet,
                    amount: granted,
                },
                Leg {
                    account: issuing,
                    amount: -granted,
                },
            ],
        },
    )
    .await?;
    let Posted::New(tx) = posted else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "award key {} already in the ledger without an award row",
            req.key
        )));
    };
    Ok(tx.id)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Rule {
    pub event_kind: EarnEvent,
    /// Beans per event, or per hour of approved service.
    pub beans_per_unit: i64,
    pub daily_cap: Option<i64>,
    pub monthly_cap: Option<i64>,
}

pub async fn rules(state: &AppState, community_id: i64) -> AppResult<Vec<earning_rule::Model>> {
    Ok(earning_rule::Entity::find()
        .filter(earning_rule::Column::CommunityId.eq(community_id))
        .order_by_asc(earning_rule::Column::EventKind)
        .all(&state.db)
        .await?)
}

/// Beans per unit and caps within the bounds an admin may set.
fn check_rule(rule: &Rule) -> AppResult<()> {
    if !(0..=10_000).contains(&rule.beans_per_unit) {
        return Err(AppError::validation(
            "beans_per_unit",
            "每单位金豆须在 0 到 10000 之间",
        ));
    }
    for (field, cap) in [
        ("daily_cap", rule.daily_cap),
        ("monthly_cap", rule.monthly_cap),
    ] {
        if cap.is_some_and(|c| !(0..=1_000_000).contains(&c)) {
            return Err(AppError::validation(field, "上限须在 0 到 1000000 之间"));
        }
    }
    Ok(())
}

pub async fn set_rule(
    state: &AppState,
    admin_id: i64,
    community_id: i64,
    rule: &Rule,
) -> AppResult<earning_rule::Model> {
    check_rule(rule)?;
    let now = Utc::now();
    let this_rule = || {
        Condition::all()
            .add(earning_rule::Column::CommunityId.eq(community_id))
            .add(earning_rule::Column::EventKind.eq(rule.event_kind.as_str()))
    };
    let txn = crate::db::begin_write(&state.db).await?;
    // A no-op update locks the rule being replaced, so the "before" recorded is what this
    // change replaced, not what another change left a moment earlier.
    earning_rule::Entity::update_many()
        .col_expr(
            earning_rule::Column::BeansPerUnit,
            Expr::col(earning_rule::Column::BeansPerUnit),
        )
        .filter(this_rule())
        .exec(&txn)
        .await?;
    let before = earning_rule::Entity::find()
        .filter(this_rule())
        .one(&txn)
        .await?;
    earning_rule::Entity::insert(earning_rule::ActiveModel {
        community_id: Set(community_id),
        event_kind: Set(rule.event_kind.as_str().to_owned()),
        beans_per_unit: Set(rule.beans_per_unit),
        daily_cap: Set(rule.daily_cap),
        monthly_cap: Set(rule.monthly_cap),
        updated_by: Set(Some(admin_id)),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            earning_rule::Column::CommunityId,
            earning_rule::Column::EventKind,
        ])
        .update_columns([
            earning_rule::Column::BeansPerUnit,
            earning_rule::Column::DailyCap,
            earning_rule::Column::MonthlyCap,
            earning_rule::Column::UpdatedBy,
            earning_rule::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let after = earning_rule::Entity::find()
        .filter(this_rule())
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("rule vanished")))?;
    let terms = |r: &earning_rule::Model| json!({"beans_per_unit": r.beans_per_unit, "daily_cap": r.daily_cap, "monthly_cap": r.monthly_cap});
    let entry = Entry::new(
        AuditKind::PointsRulesChanged,
        ObjectType::EarningRule,
        after.id,
    )
    .by(admin_id)
    .in_community(community_id)
    .detail(json!({
        "event_kind": after.event_kind,
        "before": before.as_ref().map(terms),
        "after": terms(&after),
    }));
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beans_per_event_and_per_hour() {
        assert_eq!(EarnEvent::WishFulfilled.beans(20, 1), 20);
        assert_eq!(EarnEvent::ActivityHours.beans(10, 90), 15);
        assert_eq!(EarnEvent::ActivityHours.beans(10, 5), 0);
    }
}
