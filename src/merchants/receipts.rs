//! Receipts: what both sides see of a redemption, as it was issued — rebuilt from the
//! redemption row, or for rows from before the row kept names, the answer stored with the
//! ledger transaction — and the channel a sale came by.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::entities::{ledger_transaction, redemption};
use crate::error::{AppError, AppResult};

/// What both sides see of a redemption.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    pub redemption_id: i64,
    pub transaction_id: i64,
    pub merchant_id: i64,
    pub merchant_name: String,
    pub offer_id: Option<i64>,
    pub offer_name: Option<String>,
    pub user_id: i64,
    /// The community whose beans were spent.
    #[serde(default)]
    pub community_id: i64,
    pub amount: i64,
    /// pay_code (staff scanned the resident's code) or counter_code (the resident scanned
    /// the shop's code).
    #[serde(default = "pay_code_channel")]
    pub channel: String,
    /// completed or reversed.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

fn pay_code_channel() -> String {
    Channel::PayCode.as_str().to_owned()
}

/// How a sale was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Staff scanned the resident's pay code (付款码).
    PayCode,
    /// The resident scanned the shop's counter code (收款码) and confirmed.
    CounterCode,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::PayCode => "pay_code",
            Channel::CounterCode => "counter_code",
        }
    }
}

/// The receipt as it was issued, from the redemption row; `None` for rows from before the
/// row kept the names, whose receipt is the one stored with their ledger transaction.
pub(super) fn issued(r: &redemption::Model) -> Option<Receipt> {
    Some(Receipt {
        redemption_id: r.id,
        transaction_id: r.transaction_id,
        merchant_id: r.merchant_id,
        merchant_name: r.merchant_name.clone()?,
        offer_id: r.offer_id,
        offer_name: r.offer_name.clone(),
        user_id: r.user_id,
        community_id: r.community_id,
        amount: r.amount,
        channel: r.channel.clone(),
        status: "completed".into(),
        created_at: r.created_at,
    })
}

/// The receipt stored with a ledger transaction (redemptions made before the row kept names).
pub(super) fn stored(tx: &ledger_transaction::Model) -> AppResult<Receipt> {
    let body = tx.response.as_deref().ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("transaction {} has no receipt", tx.id))
    })?;
    serde_json::from_str(body).map_err(|e| AppError::Internal(e.into()))
}

/// The receipt a redemption row was issued with: from the row, or for a row from before rows
/// kept names, the one stored with its ledger transaction.
pub(super) async fn as_issued(
    db: &impl ConnectionTrait,
    row: &redemption::Model,
) -> AppResult<Receipt> {
    if let Some(receipt) = issued(row) {
        return Ok(receipt);
    }
    let tx = ledger_transaction::Entity::find_by_id(row.transaction_id)
        .one(db)
        .await?
        .ok_or_else(AppError::not_found)?;
    stored(&tx)
}

/// The first answer again, for a retry whose key already moved beans.
pub(super) async fn replayed(
    db: &impl ConnectionTrait,
    tx: &ledger_transaction::Model,
) -> AppResult<Receipt> {
    let row = redemption::Entity::find()
        .filter(redemption::Column::TransactionId.eq(tx.id))
        .one(db)
        .await?;
    match row.as_ref().and_then(issued) {
        Some(receipt) => Ok(receipt),
        None => stored(tx),
    }
}

/// Redemptions that stand (not reversed), and the beans they spent, across every process
/// (for `/metrics`).
pub async fn totals(db: &impl ConnectionTrait) -> AppResult<(i64, i64)> {
    use sea_orm::QuerySelect;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func};
    let row: Option<(i64, Option<i64>)> = redemption::Entity::find()
        .select_only()
        .column_as(Expr::col(redemption::Column::Id).count(), "n")
        // PostgreSQL sums a BIGINT as NUMERIC: cast back so both backends give an integer.
        .column_as(
            Expr::expr(Func::cast_as(
                Func::sum(Expr::col(redemption::Column::Amount)),
                Alias::new("BIGINT"),
            )),
            "beans",
        )
        .filter(redemption::Column::Status.eq("completed"))
        .into_tuple()
        .one(db)
        .await?;
    let (n, beans) = row.unwrap_or((0, None));
    Ok((n, beans.unwrap_or(0)))
}
