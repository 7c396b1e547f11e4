//! What the 金豆 ledger holds about one person, for the export of their own data (PIPL right
//! of access): each wallet's balance and unexpired lots, every posting on their wallets with
//! its transaction's kind and reason, and every award made to them (with what a cap held back).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::entities::{
    bean_lot, earning_award, ledger_account, ledger_posting, ledger_transaction,
};
use crate::error::{AppError, AppResult};
use crate::points::ledger::AccountKind;

#[derive(Debug, Serialize, ToSchema)]
pub struct MyWallet {
    pub community_id: i64,
    pub balance: i64,
    /// Beans not yet spent, by when they expire.
    pub lots: Vec<MyLot>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyLot {
    pub remaining: i64,
    pub expires_at: DateTime<Utc>,
}

/// One movement on one of their wallets.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyBeanLine {
    pub community_id: i64,
    pub transaction_id: i64,
    /// What moved the beans: award, adjustment, redemption, reversal, expiry, …
    pub kind: String,
    /// Positive into the wallet, negative out of it.
    pub amount: i64,
    pub reason: String,
    pub ref_type: Option<String>,
    pub ref_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// An award the earning rules made to them.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyAward {
    pub community_id: i64,
    pub event_kind: String,
    pub units: i64,
    /// What the rule gave before caps.
    pub requested: i64,
    /// What was paid.
    pub granted: i64,
    pub ref_type: Option<String>,
    pub ref_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyBeansData {
    pub wallets: Vec<MyWallet>,
    /// Oldest first.
    pub history: Vec<MyBeanLine>,
    pub awards: Vec<MyAward>,
}

/// Ids per `IN (…)` list: well inside both backends' limits on bound parameters.
const CHUNK: usize = 500;

pub async fn export_of(db: &impl ConnectionTrait, user_id: i64) -> AppResult<MyBeansData> {
    let wallets = ledger_account::Entity::find()
        .filter(ledger_account::Column::Kind.eq(AccountKind::Wallet.as_str()))
        .filter(ledger_account::Column::OwnerId.eq(user_id))
        .order_by_asc(ledger_account::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<i64> = wallets.iter().map(|w| w.id).collect();
    let lots = bean_lot::Entity::find()
        .filter(bean_lot::Column::AccountId.is_in(ids.clone()))
        .filter(bean_lot::Column::Remaining.gt(0))
        .order_by_asc(bean_lot::Column::ExpiresAt)
        .all(db)
        .await?;
    let postings = ledger_posting::Entity::find()
        .filter(ledger_posting::Column::AccountId.is_in(ids))
        .order_by_asc(ledger_posting::Column::Id)
        .all(db)
        .await?;
    let mut txs = HashMap::new();
    let tx_ids: Vec<i64> = postings.iter().map(|p| p.transaction_id).collect();
    for chunk in tx_ids.chunks(CHUNK) {
        let found = ledger_transaction::Entity::find()
            .filter(ledger_transaction::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        txs.extend(found.into_iter().map(|t| (t.id, t)));
    }
    let mut history = Vec::with_capacity(postings.len());
    for p in postings {
        let tx = txs.get(&p.transaction_id).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("posting {} has no transaction", p.id))
        })?;
        history.push(MyBeanLine {
            community_id: tx.community_id,
            transaction_id: tx.id,
            kind: tx.kind.clone(),
            amount: p.amount,
            reason: tx.reason.clone(),
            ref_type: tx.ref_type.clone(),
            ref_id: tx.ref_id,
            created_at: tx.created_at,
        });
    }
    let awards = earning_award::Entity::find()
        .filter(earning_award::Column::UserId.eq(user_id))
        .order_by_asc(earning_award::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|a| MyAward {
            community_id: a.community_id,
            event_kind: a.event_kind,
            units: a.units,
            requested: a.requested,
            granted: a.granted,
            ref_type: a.ref_type,
            ref_id: a.ref_id,
            created_at: a.created_at,
        })
        .collect();
    Ok(MyBeansData {
        wallets: wallets
            .into_iter()
            .map(|w| MyWallet {
                community_id: w.community_id,
                balance: w.balance,
                lots: lots
                    .iter()
                    .filter(|l| l.account_id == w.id)
                    .map(|l| MyLot {
                        remaining: l.remaining,
                        expires_at: l.expires_at,
                    })
                    .collect(),
            })
            .collect(),
        history,
        awards,
    })
}
