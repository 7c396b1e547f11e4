//! Beans awarded or deducted by hand by a community admin, with a reason; each one is a ledger
//! transaction that records who made it, and an entry in the audit trail (`crate::audit`)
//! written in the same database transaction.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, AuditKind, Entry, ObjectType};
use crate::auth::access::CurrentUser;
use crate::communities::residents;
use crate::entities::{bean_lot, ledger_posting, ledger_transaction};
use crate::error::{AppError, AppResult};
use crate::pagination::Keyset;
use crate::points::ledger::{self, AccountKind, Leg, NewTransaction, Posted, TxKind};
use crate::state::AppState;
use crate::validate;

/// The most one adjustment may move.
pub const MAX_ADJUSTMENT: i64 = 100_000;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdjustmentReceipt {
    pub transaction_id: i64,
    /// manual_award or manual_deduct.
    pub kind: String,
    pub user_id: i64,
    /// Positive for an award, negative for a deduction.
    pub amount: i64,
    /// The resident's balance right after this adjustment.
    pub balance_after: i64,
    pub reason: String,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
}

pub async fn adjust(
    state: &AppState,
    admin: &CurrentUser,
    community_id: i64,
    user_id: i64,
    amount: i64,
    reason: &str,
    client_key: &str,
) -> AppResult<AdjustmentReceipt> {
    if amount == 0 || amount.abs() > MAX_ADJUSTMENT {
        return Err(AppError::validation(
            "amount",
            format!("调整数量须为非零整数，且不超过 {MAX_ADJUSTMENT} 金豆"),
        ));
    }
    let reason = validate::text("reason", reason, 200)?;
    if residents::verified_resident(&state.db, community_id, user_id)
        .await?
        .is_none()
    {
        return Err(AppError::validation(
            "user_id",
            "该用户不是本社区已认证的居民",
        ));
    }
    let request_hash = ledger::request_hash(&serde_json::json!({
        "user_id": user_id, "amount": amount, "reason": reason,
    }));
    let asked = Asked {
        community_id,
        user_id,
        amount,
        reason,
        // The client's key is scoped to the admin who sent it.
        key: format!("adjust:{}:{client_key}", admin.id()),
        request_hash,
        admin_id: admin.id(),
    };
    crate::db::retry_conflicts(|| post_adjustment(state, &asked)).await
}

/// An adjustment as checked, ready to post.
struct Asked {
    community_id: i64,
    user_id: i64,
    amount: i64,
    reason: String,
    key: String,
    request_hash: String,
    admin_id: i64,
}

/// The adjustment's database transaction; the receipt is built from what it wrote, before
/// commit. Locks (see the lock order in `points::ledger`): the key (step 1), the wallet
/// (step 3), the issuing account (step 6) — the same order for an award and a deduction.
async fn post_adjustment(state: &AppState, asked: &Asked) -> AppResult<AdjustmentReceipt> {
    let Asked {
        community_id,
        user_id,
        amount,
        ..
    } = *asked;
    let kind = if amount > 0 {
        TxKind::ManualAward
    } else {
        TxKind::ManualDeduct
    };
    let txn = crate::db::begin_write(&state.db).await?;
    let wallet = ledger::account(&txn, community_id, AccountKind::Wallet, user_id).await?;
    let issuing = ledger::account(&txn, community_id, AccountKind::Issuing, 0).await?;
    let posted = ledger::post(
        &txn,
        NewTransaction {
            community_id,
            kind,
            key: &asked.key,
            request_hash: asked.request_hash.clone(),
            reason: &asked.reason,
            ref_type: Some("user"),
            ref_id: Some(user_id),
            created_by: Some(asked.admin_id),
            reverses_id: None,
            legs: vec![
                Leg {
                    account: wallet.clone(),
                    amount,
                },
                Leg {
                    account: issuing,
                    amount: -amount,
                },
            ],
        },
    )
    .await?;
    match posted {
        Posted::Replay(tx) => {
            txn.rollback().await?;
            replayed(&tx)
        }
        Posted::New(tx) => {
            // Read inside the transaction, after our update: our own balance, not a stale one.
            let after = ledger::account(&txn, community_id, AccountKind::Wallet, user_id).await?;
            let receipt = AdjustmentReceipt {
                transaction_id: tx.id,
                kind: kind.as_str().to_owned(),
                user_id,
                amount,
                balance_after: after.balance,
                reason: asked.reason.clone(),
                created_by: asked.admin_id,
                created_at: tx.created_at,
            };
            let json = serde_json::to_value(&receipt).map_err(|e| AppError::Internal(e.into()))?;
            ledger::store_response(&txn, tx.id, &json).await?;
            // The reason stays with the ledger transaction (and the list below), not in the
            // trail, which holds no text anyone typed.
            let entry = Entry::new(
                AuditKind::PointsAdjusted,
                ObjectType::LedgerTransaction,
                tx.id,
            )
            .by(asked.admin_id)
            .in_community(community_id)
            .detail(serde_json::json!({
                "user_id": user_id, "amount": amount, "kind": kind.as_str(),
            }));
            audit::record(&txn, entry).await?;
            txn.commit().await?;
            Ok(receipt)
        }
    }
}

fn replayed(tx: &ledger_transaction::Model) -> AppResult<AdjustmentReceipt> {
    let stored = tx.response.as_deref().ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("transaction {} has no answer", tx.id))
    })?;
    serde_json::from_str(stored).map_err(|e| AppError::Internal(e.into()))
}

/// The community's manual adjustments, newest first.
pub async fn list(
    state: &AppState,
    community_id: i64,
    page: Keyset,
) -> AppResult<Vec<(i64, AdjustmentReceipt)>> {
    let query = ledger_transaction::Entity::find()
        .filter(ledger_transaction::Column::CommunityId.eq(community_id))
        .filter(
            ledger_transaction::Column::Kind
                .is_in([TxKind::ManualAward.as_str(), TxKind::ManualDeduct.as_str()]),
        );
    let rows = page
        .descending(query, ledger_transaction::Column::Id)
        .all(&state.db)
        .await?;
    rows.iter().map(|tx| Ok((tx.id, replayed(tx)?))).collect()
}

pub struct Balance {
    pub balance: i64,
    /// (remaining, expires_at) of the lots still holding beans, soonest first.
    pub lots: Vec<(i64, DateTime<Utc>)>,
}

async fn wallet(
    state: &AppState,
    community_id: i64,
    user_id: i64,
) -> AppResult<Option<crate::entities::ledger_account::Model>> {
    use crate::entities::ledger_account::{Column, Entity};
    Ok(Entity::find()
        .filter(Column::CommunityId.eq(community_id))
        .filter(Column::Kind.eq(AccountKind::Wallet.as_str()))
        .filter(Column::OwnerId.eq(user_id))
        .one(&state.db)
        .await?)
}

pub async fn balance(state: &AppState, community_id: i64, user_id: i64) -> AppResult<Balance> {
    let Some(wallet) = wallet(state, community_id, user_id).await? else {
        return Ok(Balance {
            balance: 0,
            lots: Vec::new(),
        });
    };
    let lots = bean_lot::Entity::find()
        .filter(bean_lot::Column::AccountId.eq(wallet.id))
        .filter(bean_lot::Column::Remaining.gt(0))
        .order_by_asc(bean_lot::Column::ExpiresAt)
        .order_by_asc(bean_lot::Column::Id)
        .limit(20)
        .all(&state.db)
        .await?;
    Ok(Balance {
        balance: wallet.balance,
        lots: lots
            .into_iter()
            .map(|l| (l.remaining, l.expires_at))
            .collect(),
    })
}

pub struct HistoryLine {
    pub posting_id: i64,
    pub amount: i64,
    pub tx: ledger_transaction::Model,
}

/// The wallet's postings, newest first, each with the transaction it belongs to.
pub async fn history(
    state: &AppState,
    community_id: i64,
    user_id: i64,
    page: Keyset,
) -> AppResult<Vec<HistoryLine>> {
    let Some(wallet) = wallet(state, community_id, user_id).await? else {
        return Ok(Vec::new());
    };
    let query =
        ledger_posting::Entity::find().filter(ledger_posting::Column::AccountId.eq(wallet.id));
    let postings = page
        .descending(query, ledger_posting::Column::Id)
        .all(&state.db)
        .await?;
    let txs = ledger_transaction::Entity::find()
        .filter(ledger_transaction::Column::Id.is_in(postings.iter().map(|p| p.transaction_id)))
        .all(&state.db)
        .await?;
    postings
        .into_iter()
        .map(|p| {
            let tx = txs
                .iter()
                .find(|t| t.id == p.transaction_id)
                .cloned()
                .ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("posting without transaction"))
                })?;
            Ok(HistoryLine {
                posting_id: p.id,
                amount: p.amount,
                tx,
            })
        })
        .collect()
}
