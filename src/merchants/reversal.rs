//! Reversing a redemption (撤销兑换): beans back to the wallet, off the merchant's till, one
//! back into stock — once, in one transaction that also builds and stores the answer.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use crate::auth::access::CurrentUser;
use crate::entities::{ledger_transaction, offer, redemption};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::merchants::receipts::{Receipt, as_issued, stored};
use crate::points::ledger::{self, AccountKind, Leg, NewTransaction, Posted, TxKind};
use crate::state::AppState;

fn already_reversed() -> AppError {
    AppError::new(ErrorCode::AlreadyReversed, "该笔兑换已撤销")
}

/// Reverses a redemption: beans back to the wallet, off the merchant's account, one back into
/// stock. Staff within the window, community admins at any time; once.
///
/// The answer is the reversed receipt, built in the reversal's own transaction and stored with
/// it. With an `Idempotency-Key`, a retry by the same person with the same key — a till that
/// heard nothing back — gets that receipt again; any other second reversal is refused.
pub async fn reverse(
    state: &AppState,
    current: &CurrentUser,
    redemption_id: i64,
    client_key: Option<&str>,
) -> AppResult<Receipt> {
    let r = redemption::Entity::find_by_id(redemption_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let is_admin = crate::merchants::service::managed(state, current, r.merchant_id)
        .await
        .is_ok();
    if !is_admin {
        if !current.is_staff_of(r.merchant_id) {
            return Err(AppError::not_found());
        }
        let window = chrono::Duration::minutes(state.settings.points.reversal_window_minutes);
        if Utc::now() - r.created_at > window {
            return Err(AppError::new(
                ErrorCode::ReversalWindowPassed,
                "已超过店员可撤销的时限，请联系社区管理员",
            ));
        }
    }
    // Without a key, every call is a reversal of its own; with one, a retry is told from a
    // second reversal by who sent it and under which key.
    let request_hash = ledger::request_hash(&serde_json::json!({
        "redemption": r.id, "by": current.id(), "key": client_key,
    }));
    crate::db::retry_conflicts(|| {
        reverse_once(state, current, &r, client_key.is_some(), &request_hash)
    })
    .await
}

/// The reversal's database transaction. Locks in the ledger's order: the redemption row and
/// the key (step 1), the wallet (step 3), the offer's stock (step 5), the till (step 6) — the
/// order a sale takes them in, so the two never wait on each other in a cycle.
async fn reverse_once(
    state: &AppState,
    current: &CurrentUser,
    r: &redemption::Model,
    keyed: bool,
    request_hash: &str,
) -> AppResult<Receipt> {
    let key = format!("reverse:{}", r.id);
    let txn = crate::db::begin_write(&state.db).await?;
    let flipped = redemption::Entity::update_many()
        .col_expr(redemption::Column::Status, Expr::value("reversed"))
        .filter(redemption::Column::Id.eq(r.id))
        .filter(redemption::Column::Status.eq("completed"))
        .exec(&txn)
        .await?;
    if flipped.rows_affected != 1 {
        // Reversed already — by this very request, if the till is retrying with its key.
        let first = ledger_transaction::Entity::find()
            .filter(ledger_transaction::Column::CommunityId.eq(r.community_id))
            .filter(ledger_transaction::Column::IdempotencyKey.eq(key.as_str()))
            .one(&txn)
            .await?;
        txn.rollback().await?;
        return match first {
            Some(tx) if keyed && tx.request_hash == request_hash && tx.response.is_some() => {
                stored(&tx)
            }
            _ => Err(already_reversed()),
        };
    }
    let tx = give_back(&txn, current, r, &key, request_hash).await?;
    redemption::Entity::update_many()
        .col_expr(
            redemption::Column::ReversalTransactionId,
            Expr::value(tx.id),
        )
        .filter(redemption::Column::Id.eq(r.id))
        .exec(&txn)
        .await?;
    record(&txn, current, r, tx.id).await?;
    // The answer comes from this transaction, not from a read after commit on another
    // connection: once the reversal is committed, the client is told so.
    let mut receipt = as_issued(&txn, r).await?;
    receipt.status = "reversed".into();
    let json = serde_json::to_value(&receipt).map_err(|e| AppError::Internal(e.into()))?;
    ledger::store_response(&txn, tx.id, &json).await?;
    txn.commit().await?;
    Ok(receipt)
}

/// Under the wallet's lock, the stock back and the beans back: the reversal's ledger
/// transaction, posted under `key`.
async fn give_back(
    txn: &DatabaseTransaction,
    current: &CurrentUser,
    r: &redemption::Model,
    key: &str,
    request_hash: &str,
) -> AppResult<ledger_transaction::Model> {
    let wallet = ledger::account(txn, r.community_id, AccountKind::Wallet, r.user_id).await?;
    let till = ledger::till_for(txn, r.community_id, r.merchant_id, wallet.id).await?;
    ledger::lock_account(txn, wallet.id).await?;
    if let Some(offer_id) = r.offer_id {
        offer::Entity::update_many()
            .col_expr(offer::Column::Stock, Expr::col(offer::Column::Stock).add(1))
            .filter(offer::Column::Id.eq(offer_id))
            .filter(offer::Column::Stock.is_not_null())
            .exec(txn)
            .await?;
    }
    let posted = ledger::post(
        txn,
        NewTransaction {
            community_id: r.community_id,
            kind: TxKind::Reversal,
            key,
            request_hash: request_hash.to_owned(),
            reason: "撤销兑换",
            ref_type: Some("redemption"),
            ref_id: Some(r.id),
            created_by: Some(current.id()),
            reverses_id: Some(r.transaction_id),
            legs: vec![
                Leg {
                    account: till,
                    amount: -r.amount,
                },
                Leg {
                    account: wallet,
                    amount: r.amount,
                },
            ],
        },
    )
    .await?;
    match posted {
        Posted::New(tx) => Ok(tx),
        Posted::Replay(_) => Err(already_reversed()),
    }
}

/// The reversal in the audit trail.
async fn record(
    txn: &DatabaseTransaction,
    current: &CurrentUser,
    r: &redemption::Model,
    tx_id: i64,
) -> AppResult<()> {
    crate::audit::record(
        txn,
        crate::audit::Entry::new(
            crate::audit::AuditKind::RedemptionReversed,
            crate::audit::ObjectType::Redemption,
            r.id,
        )
        .by(current.id())
        .in_community(r.community_id)
        .detail(serde_json::json!({
            "merchant_id": r.merchant_id, "user_id": r.user_id, "amount": r.amount,
            "before": "completed", "after": "reversed",
            "transaction_id": tx_id, "reverses_transaction_id": r.transaction_id,
        })),
    )
    .await
}
