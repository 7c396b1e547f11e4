//! Pay codes (付款码): issued to a verified resident for one minute and one sale, and at the
//! counter turned into whose wallet pays — used up in the sale's own transaction, and only
//! at a shop that serves the code's community.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, FromQueryResult, QueryFilter,
    QuerySelect, Set,
};

use crate::auth::access::CurrentUser;
use crate::entities::{merchant_community, pay_code};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::state::AppState;

pub(super) const PAY_CODE_DIGITS: usize = 18;

/// A fresh pay code for a verified resident of `community_id`.
pub async fn issue_pay_code(
    state: &AppState,
    current: &CurrentUser,
    community_id: i64,
) -> AppResult<(String, DateTime<Utc>)> {
    let resident =
        crate::communities::residents::verified_resident(&state.db, community_id, current.id())
            .await?;
    if resident.is_none() {
        return Err(AppError::not_found());
    }
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(anyhow::anyhow!("random: {e}")))?;
    let code = format!(
        "{:018}",
        u64::from_le_bytes(bytes) % 1_000_000_000_000_000_000
    );
    let now = Utc::now();
    let expires_at = now + chrono::Duration::seconds(state.settings.points.pay_code_ttl_secs);
    pay_code::ActiveModel {
        code_hash: Set(state.crypto.lookup_hash("pay-code", &code)),
        user_id: Set(current.id()),
        community_id: Set(community_id),
        expires_at: Set(expires_at),
        used_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    Ok((code, expires_at))
}

pub(super) fn code_invalid() -> AppError {
    AppError::new(
        ErrorCode::PayCodeInvalid,
        "付款码无效或已过期，请刷新后重试",
    )
}

pub(super) fn not_served() -> AppError {
    AppError::new(
        ErrorCode::CommunityNotServed,
        "该商户不接受您所在社区的金豆",
    )
}

/// Whose wallet pays.
pub(super) enum Payer {
    /// The resident who confirmed at the counter code, from this community's wallet.
    Resident { user_id: i64, community_id: i64 },
    /// Whoever the scanned pay code (by its look-up hash) belongs to; the sale uses it up.
    PayCode { hash: String },
}

/// Whose a pay code is, and whether the shop serves the community it spends from.
#[derive(Debug, FromQueryResult)]
struct CodeAtShop {
    user_id: i64,
    community_id: i64,
    served: bool,
}

/// Whether `merchant_id` serves the community of the pay code row in the outer query.
fn serves_code_community(merchant_id: i64) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from(merchant_community::Entity)
        .and_where(
            Expr::col((
                merchant_community::Entity,
                merchant_community::Column::MerchantId,
            ))
            .eq(merchant_id),
        )
        .and_where(
            Expr::col((
                merchant_community::Entity,
                merchant_community::Column::CommunityId,
            ))
            .equals((pay_code::Entity, pay_code::Column::CommunityId)),
        )
        .to_owned()
}

/// Uses up a live pay code of a community the shop serves, in the sale's transaction: one
/// statement that also says whose it is. `None` if it is unknown, used, expired or from a
/// community the shop does not serve.
async fn use_pay_code(
    txn: &DatabaseTransaction,
    merchant_id: i64,
    hash: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<pay_code::Model>> {
    let mut used = pay_code::Entity::update_many()
        .col_expr(pay_code::Column::UsedAt, Expr::value(now))
        .filter(pay_code::Column::CodeHash.eq(hash))
        .filter(pay_code::Column::UsedAt.is_null())
        .filter(pay_code::Column::ExpiresAt.gt(now))
        .filter(Expr::exists(serves_code_community(merchant_id)))
        .exec_with_returning(txn)
        .await?;
    Ok(used.pop())
}

/// A pay code, and whether the shop serves its community, whatever its state.
async fn code_at_shop(
    txn: &DatabaseTransaction,
    merchant_id: i64,
    hash: &str,
) -> AppResult<Option<CodeAtShop>> {
    Ok(pay_code::Entity::find()
        .select_only()
        .column(pay_code::Column::UserId)
        .column(pay_code::Column::CommunityId)
        .expr_as(Expr::exists(serves_code_community(merchant_id)), "served")
        .filter(pay_code::Column::CodeHash.eq(hash))
        .into_model::<CodeAtShop>()
        .one(txn)
        .await?)
}

/// Whose wallet pays, and whether the pay code (if any) was used up by this sale. A pay code
/// is used up first, in the statement that reads it; if it cannot be (used, expired,
/// unknown), it is read as it is, so the sale can tell a retry of the sale that used it from
/// a stale code.
pub(super) async fn payer(
    txn: &DatabaseTransaction,
    shop_id: i64,
    payer: &Payer,
    now: DateTime<Utc>,
) -> AppResult<(i64, i64, bool)> {
    Ok(match payer {
        Payer::Resident {
            user_id,
            community_id,
        } => (*user_id, *community_id, true),
        Payer::PayCode { hash } => match use_pay_code(txn, shop_id, hash, now).await? {
            Some(code) => (code.user_id, code.community_id, true),
            None => {
                let code = code_at_shop(txn, shop_id, hash)
                    .await?
                    .ok_or_else(code_invalid)?;
                if !code.served {
                    return Err(not_served());
                }
                (code.user_id, code.community_id, false)
            }
        },
    })
}
