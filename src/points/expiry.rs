//! Bean expiry: a periodic job that moves beans past their lot's expiry from wallets to the
//! community's expiry account (one ledger transaction per wallet), and tells residents ahead
//! of time (through the outbox) which beans will expire. Safe with several processes: each
//! wallet is locked while its lots are read and spent, and each lot is noticed once.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{FixedOffset, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entities::{bean_lot, community, ledger_account, ledger_posting};
use crate::error::AppResult;
use crate::notifications::outbox::{self, Event};
use crate::points::ledger::{self, AccountKind, Leg, NewTransaction, Posted, TxKind};
use crate::state::AppState;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Wallets whose expired beans were moved.
    pub wallets_expired: usize,
    pub beans_expired: i64,
    /// Residents told about beans expiring soon.
    pub notices: usize,
}

/// One pass: expire what is due (up to 200 wallets), then send due notices.
pub async fn run_once(state: &AppState) -> AppResult<Pass> {
    let mut pass = Pass::default();
    let now = Utc::now();
    let due: Vec<i64> = bean_lot::Entity::find()
        .select_only()
        .column(bean_lot::Column::AccountId)
        .filter(bean_lot::Column::ExpiresAt.lte(now))
        .filter(bean_lot::Column::Remaining.gt(0))
        .group_by(bean_lot::Column::AccountId)
        .limit(200)
        .into_tuple()
        .all(&state.db)
        .await?;
    for wallet_id in due {
        let moved = crate::db::retry_conflicts(|| expire_wallet(state, wallet_id)).await?;
        if moved > 0 {
            pass.wallets_expired += 1;
            pass.beans_expired += moved;
        }
    }
    pass.notices = notify_soon(state).await?;
    Ok(pass)
}

/// Locks (see the lock order in `points::ledger`): the expiry account opened (step 2), the
/// wallet (step 3) with its lots, the expiry account (step 6).
async fn expire_wallet(state: &AppState, wallet_id: i64) -> AppResult<i64> {
    let txn = crate::db::begin_write(&state.db).await?;
    let Some(wallet) = ledger_account::Entity::find_by_id(wallet_id)
        .one(&txn)
        .await?
    else {
        return Ok(0);
    };
    let expiry = ledger::account(&txn, wallet.community_id, AccountKind::Expiry, 0).await?;
    ledger::lock_account(&txn, wallet_id).await?;
    let now = Utc::now();
    let lots = bean_lot::Entity::find()
        .filter(bean_lot::Column::AccountId.eq(wallet_id))
        .filter(bean_lot::Column::ExpiresAt.lte(now))
        .filter(bean_lot::Column::Remaining.gt(0))
        .order_by_asc(bean_lot::Column::Id)
        .all(&txn)
        .await?;
    let total: i64 = lots.iter().map(|l| l.remaining).sum();
    if total == 0 {
        return Ok(0);
    }
    // The wallet is locked, so its latest posting names the state it is in: a pass over the
    // same state replays, and a lot that holds beans again after a reversal put them back is
    // swept under a key of its own.
    let latest = ledger_posting::Entity::find()
        .filter(ledger_posting::Column::AccountId.eq(wallet_id))
        .order_by_desc(ledger_posting::Column::Id)
        .one(&txn)
        .await?
        .map_or(0, |p| p.id);
    let key = format!("expire:{wallet_id}:{latest}");
    // Spending takes the soonest-expiring lots first, which are exactly these.
    let posted = ledger::post(
        &txn,
        NewTransaction {
            community_id: wallet.community_id,
            kind: TxKind::Expiry,
            key: &key,
            request_hash: ledger::request_hash(
                &serde_json::json!({"wallet": wallet_id, "total": total}),
            ),
            reason: "金豆过期",
            ref_type: Some("lots"),
            ref_id: lots.first().map(|l| l.id),
            created_by: None,
            reverses_id: None,
            legs: vec![
                Leg {
                    account: wallet,
                    amount: -total,
                },
                Leg {
                    account: expiry,
                    amount: total,
                },
            ],
        },
    )
    .await?;
    if let Posted::Replay(_) = posted {
        return Ok(0);
    }
    txn.commit().await?;
    Ok(total)
}

/// Tells residents, once per lot, about beans that expire within the notice period.
async fn notify_soon(state: &AppState) -> AppResult<usize> {
    let now = Utc::now();
    let horizon = now + chrono::Duration::days(state.settings.points.expiry_notice_days);
    let lots = bean_lot::Entity::find()
        .filter(bean_lot::Column::ExpiresAt.gt(now))
        .filter(bean_lot::Column::ExpiresAt.lte(horizon))
        .filter(bean_lot::Column::Remaining.gt(0))
        .filter(bean_lot::Column::NotifiedAt.is_null())
        .order_by_asc(bean_lot::Column::Id)
        .limit(1000)
        .all(&state.db)
        .await?;
    let mut by_wallet: BTreeMap<i64, Vec<bean_lot::Model>> = BTreeMap::new();
    for lot in lots {
        by_wallet.entry(lot.account_id).or_default().push(lot);
    }
    let mut sent = 0;
    for (wallet_id, lots) in by_wallet {
        let Some(wallet) = ledger_account::Entity::find_by_id(wallet_id)
            .one(&state.db)
            .await?
        else {
            continue;
        };
        let txn = crate::db::begin_write(&state.db).await?;
        // Claim the lots' notice; another process that got there first claims nothing.
        let claimed = bean_lot::Entity::update_many()
            .col_expr(bean_lot::Column::NotifiedAt, Expr::value(now))
            .filter(bean_lot::Column::Id.is_in(lots.iter().map(|l| l.id)))
            .filter(bean_lot::Column::NotifiedAt.is_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 0 {
            continue;
        }
        let amount: i64 = lots.iter().map(|l| l.remaining).sum();
        let soonest = lots.iter().map(|l| l.expires_at).min().unwrap_or(now);
        let cst = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
        let name = community::Entity::find_by_id(wallet.community_id)
            .one(&txn)
            .await?
            .map(|c| c.name)
            .unwrap_or_default();
        let fields = BTreeMap::from([
            ("amount", amount.to_string()),
            (
                "expires_on",
                soonest.with_timezone(&cst).format("%Y-%m-%d").to_string(),
            ),
            ("community_name", name),
        ]);
        outbox::enqueue(
            &txn,
            &state.settings.notifications,
            Event::BeansExpiring,
            wallet.owner_id,
            Some(wallet.community_id),
            &fields,
        )
        .await?;
        txn.commit().await?;
        sent += 1;
    }
    Ok(sent)
}

use chrono::Offset;

/// Runs passes until told to stop.
pub async fn run(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let interval = Duration::from_secs(state.settings.points.expiry_interval_secs.max(10));
    loop {
        let started = std::time::Instant::now();
        let pass = run_once(&state).await;
        state
            .metrics
            .job_run("bean_expiry", pass.is_ok(), started.elapsed());
        match pass {
            Ok(pass) if pass != Pass::default() => tracing::info!(
                wallets = pass.wallets_expired,
                beans = pass.beans_expired,
                notices = pass.notices,
                "bean expiry pass"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "bean expiry pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
