//! Redemption at the counter: the resident shows a one-minute, single-use pay code and staff
//! scan it with the offer (or an amount) and an Idempotency-Key — or the resident scans the
//! shop's counter code and confirms what to pay. One short database transaction
//! debits the wallet, credits the merchant, takes one from stock and marks the code used —
//! or, if anything is refused, writes nothing.
//!
//! On PostgreSQL that transaction is one call to the database function `linli_sale`
//! (`migrations/src/sql/sale_v1.sql`): one round trip instead of one per statement, which is
//! what the counter's throughput is bound by. On SQLite, which has no stored functions,
//! [`complete`] runs the same steps as separate statements. The two are kept step for step
//! alike, and every redemption test runs against both.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, RuntimeErr,
    Set, Statement,
};

use crate::pagination::Keyset;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::access::CurrentUser;
use crate::communities::residents;
use crate::entities::{
    ledger_transaction, merchant, merchant_community, offer, pay_code, redemption, user,
};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::points::ledger::{self, AccountKind, Leg, NewTransaction, Posted, TxKind};
use crate::state::AppState;

const PAY_CODE_DIGITS: usize = 18;

/// A fresh pay code for a verified resident of `community_id`.
pub async fn issue_pay_code(
    state: &AppState,
    current: &CurrentUser,
    community_id: i64,
) -> AppResult<(String, DateTime<Utc>)> {
    if residents::verified_resident(&state.db, community_id, current.id())
        .await?
        .is_none()
    {
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

pub struct RedeemRequest {
    pub merchant_id: i64,
    pub pay_code: String,
    pub offer_id: Option<i64>,
    pub amount: Option<i64>,
}

fn code_invalid() -> AppError {
    AppError::new(
        ErrorCode::PayCodeInvalid,
        "付款码无效或已过期，请刷新后重试",
    )
}

fn not_served() -> AppError {
    AppError::new(
        ErrorCode::CommunityNotServed,
        "该商户不接受您所在社区的金豆",
    )
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

/// A merchant that is open for redemptions.
async fn open_shop(state: &AppState, merchant_id: i64) -> AppResult<merchant::Model> {
    let shop = merchant::Entity::find_by_id(merchant_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    if shop.status != "active" {
        return Err(suspended());
    }
    Ok(shop)
}

/// What is bought, as asked: one of the shop's offers, or an amount of beans.
#[derive(Debug, Clone, Copy)]
enum Item {
    Offer(i64),
    Amount(i64),
}

impl Item {
    fn asked(offer_id: Option<i64>, amount: Option<i64>) -> AppResult<Item> {
        match (offer_id, amount) {
            (Some(id), None) => Ok(Item::Offer(id)),
            (None, Some(amount)) if (1..=100_000).contains(&amount) => Ok(Item::Amount(amount)),
            (None, Some(_)) => Err(AppError::validation(
                "amount",
                "金额须在 1 到 100000 金豆之间",
            )),
            _ => Err(AppError::validation(
                "offer_id",
                "请选择商品或填写金额（二选一）",
            )),
        }
    }
}

fn offer_not_at_shop() -> AppError {
    AppError::validation("offer_id", "该商户没有这个商品")
}

fn suspended() -> AppError {
    AppError::new(ErrorCode::MerchantSuspended, "该商户已暂停兑换")
}

fn offer_unavailable() -> AppError {
    AppError::new(ErrorCode::OfferUnavailable, "该商品已下架或不在兑换期内")
}

fn limit_reached() -> AppError {
    AppError::new(ErrorCode::OfferLimitReached, "已达到该商品的每人兑换上限")
}

fn out_of_stock() -> AppError {
    AppError::new(ErrorCode::OutOfStock, "该商品已兑完")
}

/// The offer and its price, or the amount.
async fn item(
    state: &AppState,
    shop: &merchant::Model,
    item: Item,
) -> AppResult<(Option<offer::Model>, i64)> {
    match item {
        Item::Offer(id) => {
            let o = offer::Entity::find_by_id(id)
                .filter(offer::Column::MerchantId.eq(shop.id))
                .one(&state.db)
                .await?
                .ok_or_else(offer_not_at_shop)?;
            let price = o.price;
            Ok((Some(o), price))
        }
        Item::Amount(amount) => Ok((None, amount)),
    }
}

/// A sale as asked for, before anything is read: at which shop, who pays, for what, under
/// which key.
struct Order {
    merchant_id: i64,
    payer: Payer,
    item: Item,
    key: String,
    request_hash: String,
    /// The staff member who scanned, or the resident who paid at the counter code.
    actor: i64,
    channel: Channel,
}

/// A sale with its shop and item read (the statement-by-statement path).
struct Sale<'a> {
    shop: &'a merchant::Model,
    offer: Option<offer::Model>,
    amount: i64,
    order: Order,
}

/// Whose wallet pays.
enum Payer {
    /// The resident who confirmed at the counter code, from this community's wallet.
    Resident { user_id: i64, community_id: i64 },
    /// Whoever the scanned pay code (by its look-up hash) belongs to; the sale uses it up.
    PayCode { hash: String },
}

/// Staff scan a resident's pay code.
pub async fn redeem(
    state: &AppState,
    staff: &CurrentUser,
    req: RedeemRequest,
    client_key: &str,
) -> AppResult<Receipt> {
    if !staff.is_staff_of(req.merchant_id) {
        return Err(AppError::new(
            ErrorCode::NotMerchantStaff,
            "您不是该商户的店员",
        ));
    }
    if req.pay_code.len() != PAY_CODE_DIGITS || !req.pay_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::validation("pay_code", "付款码须为 18 位数字"));
    }
    let item = Item::asked(req.offer_id, req.amount)?;
    let request_hash = ledger::request_hash(&serde_json::json!({
        "merchant_id": req.merchant_id, "pay_code": req.pay_code, "offer_id": req.offer_id, "amount": req.amount,
    }));
    sell(
        state,
        Order {
            merchant_id: req.merchant_id,
            payer: Payer::PayCode {
                hash: state.crypto.lookup_hash("pay-code", &req.pay_code),
            },
            item,
            key: format!("redeem:{}:{client_key}", req.merchant_id),
            request_hash,
            actor: staff.id(),
            channel: Channel::PayCode,
        },
    )
    .await
}

/// Runs a sale: on PostgreSQL as one call to the database function `linli_sale`, elsewhere
/// statement by statement. Both take the same steps in the same order under the same locks
/// (the lock order in `points::ledger`), and are held to the same tests. A sale that loses a
/// deadlock anyway is run again: all it wrote, the pay code's use included, was rolled back.
async fn sell(state: &AppState, order: Order) -> AppResult<Receipt> {
    if state.db.get_database_backend() == DbBackend::Postgres {
        return crate::db::retry_conflicts(|| sell_in_one_call(state, &order)).await;
    }
    let shop = open_shop(state, order.merchant_id).await?;
    let (offer, amount) = item(state, &shop, order.item).await?;
    let sale = Sale {
        shop: &shop,
        offer,
        amount,
        order,
    };
    crate::db::retry_conflicts(|| complete(state, &sale)).await
}

/// The sale as one database round trip (see `migrations/src/sql/sale_v1.sql`).
async fn sell_in_one_call(state: &AppState, order: &Order) -> AppResult<Receipt> {
    let (code_hash, user_id, community_id) = match &order.payer {
        Payer::PayCode { hash } => (Some(hash.clone()), None, None),
        Payer::Resident {
            user_id,
            community_id,
        } => (None, Some(*user_id), Some(*community_id)),
    };
    let (offer_id, amount) = match order.item {
        Item::Offer(id) => (Some(id), None),
        Item::Amount(amount) => (None, Some(amount)),
    };
    let call = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT * FROM linli_sale($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        [
            order.merchant_id.into(),
            code_hash.into(),
            user_id.into(),
            community_id.into(),
            offer_id.into(),
            amount.into(),
            order.key.clone().into(),
            order.request_hash.clone().into(),
            order.actor.into(),
            order.channel.as_str().into(),
            Utc::now().into(),
            (ledger::TILL_SHARDS as i32).into(),
        ],
    );
    let row = match redemption::Entity::find()
        .from_raw_sql(call)
        .one(&state.db)
        .await
    {
        Ok(Some(row)) => row,
        Ok(None) => {
            return Err(AppError::Internal(anyhow::anyhow!(
                "linli_sale returned no row"
            )));
        }
        Err(e) => return Err(refusal(&e).unwrap_or_else(|| e.into())),
    };
    // A new sale's receipt is the row the call returned; only a retry of a sale from before
    // rows kept names reads its stored receipt (nothing was written by this call then).
    as_issued(&state.db, &row).await
}

/// The refusal `linli_sale` raised (SQLSTATE LN001, the refusal's code as the message), as
/// the error the statement-by-statement path gives for it.
fn refusal(err: &DbErr) -> Option<AppError> {
    let (DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let db = e.as_database_error()?;
    if db.code().as_deref() != Some("LN001") {
        return None;
    }
    Some(match db.message() {
        "NOT_FOUND" => AppError::not_found(),
        "MERCHANT_SUSPENDED" => suspended(),
        "OFFER_NOT_AT_SHOP" => offer_not_at_shop(),
        "PAY_CODE_INVALID" => code_invalid(),
        "COMMUNITY_NOT_SERVED" => not_served(),
        "IDEMPOTENCY_KEY_REUSED" => ledger::key_reused(),
        "OFFER_UNAVAILABLE" => offer_unavailable(),
        "OFFER_LIMIT_REACHED" => limit_reached(),
        "OUT_OF_STOCK" => out_of_stock(),
        "INSUFFICIENT_BEANS" => ledger::insufficient(),
        _ => return None,
    })
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

pub struct CounterPayment {
    /// The scene of the shop's counter code, as scanned.
    pub scene: String,
    /// Whose beans to spend, when the resident belongs to several communities the shop serves.
    pub community_id: Option<i64>,
    pub offer_id: Option<i64>,
    pub amount: Option<i64>,
}

/// A resident scans the shop's counter code and confirms what to pay.
pub async fn pay_at_counter(
    state: &AppState,
    resident: &CurrentUser,
    req: CounterPayment,
    client_key: &str,
) -> AppResult<Receipt> {
    let (code, _) = crate::codes::service::resolve(state, &req.scene).await?;
    if code.purpose != crate::codes::service::Purpose::MerchantCounter.as_str() {
        return Err(AppError::validation("scene", "这不是商户收款码"));
    }
    let item = Item::asked(req.offer_id, req.amount)?;
    let shop = open_shop(state, code.target_id).await?;
    let served = crate::merchants::service::served(&state.db, &shop).await?;
    let mine: Vec<i64> = residents::communities_of(&state.db, resident.id())
        .await?
        .into_iter()
        .filter(|c| served.contains(c))
        .collect();
    let community_id = match (req.community_id, mine.as_slice()) {
        (Some(c), _) if mine.contains(&c) => c,
        (Some(_), _) | (None, []) => return Err(not_served()),
        (None, [only]) => *only,
        (None, _) => {
            return Err(AppError::validation(
                "community_id",
                "请选择使用哪个社区的金豆",
            ));
        }
    };
    let request_hash = ledger::request_hash(&serde_json::json!({
        "merchant_id": shop.id, "scene": req.scene, "community_id": community_id,
        "offer_id": req.offer_id, "amount": req.amount,
    }));
    sell(
        state,
        Order {
            merchant_id: shop.id,
            payer: Payer::Resident {
                user_id: resident.id(),
                community_id,
            },
            item,
            key: format!("counter:{}:{client_key}", resident.id()),
            request_hash,
            actor: resident.id(),
            channel: Channel::CounterCode,
        },
    )
    .await
}

/// The sale in one short database transaction: the wallet debited, the merchant credited,
/// one taken from stock and the pay code used — or, if anything is refused, nothing written.
/// Locks in the ledger's order: the pay code and the key (step 1), the accounts opened
/// (step 2), the wallet (step 3), the user row (4), the offer's stock (5), the till (6).
async fn complete(state: &AppState, sale: &Sale<'_>) -> AppResult<Receipt> {
    let Sale {
        shop,
        offer,
        amount,
        order,
    } = sale;
    let now = Utc::now();
    let txn = crate::db::begin_write(&state.db).await?;
    // Whose wallet pays. A pay code is used up first, in the statement that reads it; if it
    // cannot be (used, expired, unknown), it is read as it is, and the claim below tells a
    // retry of the sale that used it (its receipt again) from a stale code (refused).
    let (user_id, community_id, code_ok) = match &order.payer {
        Payer::Resident {
            user_id,
            community_id,
        } => (*user_id, *community_id, true),
        Payer::PayCode { hash } => match use_pay_code(&txn, shop.id, hash, now).await? {
            Some(code) => (code.user_id, code.community_id, true),
            None => {
                let code = code_at_shop(&txn, shop.id, hash)
                    .await?
                    .ok_or_else(code_invalid)?;
                if !code.served {
                    return Err(not_served());
                }
                (code.user_id, code.community_id, false)
            }
        },
    };
    let (wallet, till) = state
        .accounts
        .wallet_and_till(&txn, community_id, user_id, shop.id)
        .await?;
    let reason = match offer {
        Some(o) => format!("{} · {}", shop.name, o.name),
        None => format!("{} · 金豆消费", shop.name),
    };
    let new = NewTransaction {
        community_id,
        kind: TxKind::Redemption,
        key: &order.key,
        request_hash: order.request_hash.clone(),
        reason: &reason,
        ref_type: Some("merchant"),
        ref_id: Some(shop.id),
        created_by: Some(order.actor),
        reverses_id: None,
        legs: vec![
            Leg {
                account: wallet,
                amount: -amount,
            },
            Leg {
                account: till,
                amount: *amount,
            },
        ],
    };
    // The key first (a retry replays the first receipt), then this resident's wallet, then
    // the checks; the merchant's till — shared by every sale — is touched last, just before
    // commit, so its lock is held as briefly as possible.
    let tx = match ledger::claim(&txn, &new).await? {
        Posted::Replay(tx) => {
            let first = replayed(&txn, &tx).await;
            txn.rollback().await?;
            return first;
        }
        Posted::New(tx) => tx,
    };
    if !code_ok {
        return Err(code_invalid());
    }
    if offer.is_some() {
        // An offer's stock row is shared, and a reversal takes the wallet before it: take the
        // wallet first here too, which also counts this resident's redemptions one at a time.
        // A sale by amount touches no shared row before its debit locks the wallet.
        ledger::lock_account(&txn, new.legs[0].account.id).await?;
    }
    if let Some(o) = offer {
        take_offer(&txn, o, user_id, now).await?;
    }
    let row = redemption::ActiveModel {
        merchant_id: Set(shop.id),
        offer_id: Set(offer.as_ref().map(|o| o.id)),
        user_id: Set(user_id),
        community_id: Set(community_id),
        amount: Set(*amount),
        staff_id: Set(order.actor),
        transaction_id: Set(tx.id),
        status: Set("completed".into()),
        reversal_transaction_id: Set(None),
        created_at: Set(now),
        channel: Set(order.channel.as_str().to_owned()),
        merchant_name: Set(Some(shop.name.clone())),
        offer_name: Set(offer.as_ref().map(|o| o.name.clone())),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    // The receipt is the row as written, so a retry rebuilt from it gets the same answer.
    let receipt = issued(&row)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("redemption {} has no names", row.id)))?;
    ledger::apply(&txn, &tx, &new.legs).await?;
    txn.commit().await?;
    state
        .accounts
        .remember(&[&new.legs[0].account, &new.legs[1].account]);
    Ok(receipt)
}

/// Checks an offer can be had now by this resident and takes one from its stock. Runs with
/// the resident's wallet locked.
async fn take_offer(
    txn: &DatabaseTransaction,
    o: &offer::Model,
    user_id: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let live =
        o.active && o.valid_from.is_none_or(|t| t <= now) && o.valid_until.is_none_or(|t| t > now);
    if !live {
        return Err(offer_unavailable());
    }
    if let Some(limit) = o.per_resident_limit {
        // The limit counts across every community the resident spends from, so their
        // redemptions of it are counted one at a time under their user row, not a wallet.
        user::Entity::update_many()
            .col_expr(user::Column::Id, Expr::col(user::Column::Id))
            .filter(user::Column::Id.eq(user_id))
            .exec(txn)
            .await?;
        let taken = redemption::Entity::find()
            .filter(redemption::Column::OfferId.eq(o.id))
            .filter(redemption::Column::UserId.eq(user_id))
            .filter(redemption::Column::Status.eq("completed"))
            .count(txn)
            .await?;
        if taken as i64 >= limit {
            return Err(limit_reached());
        }
    }
    if o.stock.is_some() {
        let took = offer::Entity::update_many()
            .col_expr(offer::Column::Stock, Expr::col(offer::Column::Stock).sub(1))
            .filter(offer::Column::Id.eq(o.id))
            .filter(offer::Column::Stock.gt(0))
            .exec(txn)
            .await?;
        if took.rows_affected != 1 {
            return Err(out_of_stock());
        }
    }
    Ok(())
}

/// The receipt as it was issued, from the redemption row; `None` for rows from before the
/// row kept the names, whose receipt is the one stored with their ledger transaction.
fn issued(r: &redemption::Model) -> Option<Receipt> {
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
fn stored(tx: &ledger_transaction::Model) -> AppResult<Receipt> {
    let body = tx.response.as_deref().ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("transaction {} has no receipt", tx.id))
    })?;
    serde_json::from_str(body).map_err(|e| AppError::Internal(e.into()))
}

/// The receipt a redemption row was issued with: from the row, or for a row from before rows
/// kept names, the one stored with its ledger transaction.
async fn as_issued(db: &impl ConnectionTrait, row: &redemption::Model) -> AppResult<Receipt> {
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
async fn replayed(db: &impl ConnectionTrait, tx: &ledger_transaction::Model) -> AppResult<Receipt> {
    let row = redemption::Entity::find()
        .filter(redemption::Column::TransactionId.eq(tx.id))
        .one(db)
        .await?;
    match row.as_ref().and_then(issued) {
        Some(receipt) => Ok(receipt),
        None => stored(tx),
    }
}

/// The receipt as it stands now, for the resident, the merchant's staff or its admins.
pub async fn receipt(
    state: &AppState,
    current: &CurrentUser,
    redemption_id: i64,
) -> AppResult<Receipt> {
    let r = redemption::Entity::find_by_id(redemption_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    if r.user_id != current.id() {
        crate::merchants::service::staffed(state, current, r.merchant_id).await?;
    }
    let mut receipt = as_issued(&state.db, &r).await?;
    receipt.status = r.status;
    Ok(receipt)
}

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
    let wallet = ledger::account(&txn, r.community_id, AccountKind::Wallet, r.user_id).await?;
    let till = ledger::till_for(&txn, r.community_id, r.merchant_id, wallet.id).await?;
    ledger::lock_account(&txn, wallet.id).await?;
    if let Some(offer_id) = r.offer_id {
        offer::Entity::update_many()
            .col_expr(offer::Column::Stock, Expr::col(offer::Column::Stock).add(1))
            .filter(offer::Column::Id.eq(offer_id))
            .filter(offer::Column::Stock.is_not_null())
            .exec(&txn)
            .await?;
    }
    let posted = ledger::post(
        &txn,
        NewTransaction {
            community_id: r.community_id,
            kind: TxKind::Reversal,
            key: &key,
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
    let Posted::New(tx) = posted else {
        return Err(already_reversed());
    };
    redemption::Entity::update_many()
        .col_expr(
            redemption::Column::ReversalTransactionId,
            Expr::value(tx.id),
        )
        .filter(redemption::Column::Id.eq(r.id))
        .exec(&txn)
        .await?;
    crate::audit::record(
        &txn,
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
            "transaction_id": tx.id, "reverses_transaction_id": r.transaction_id,
        })),
    )
    .await?;
    // The answer comes from this transaction, not from a read after commit on another
    // connection: once the reversal is committed, the client is told so.
    let mut receipt = as_issued(&txn, r).await?;
    receipt.status = "reversed".into();
    let json = serde_json::to_value(&receipt).map_err(|e| AppError::Internal(e.into()))?;
    ledger::store_response(&txn, tx.id, &json).await?;
    txn.commit().await?;
    Ok(receipt)
}

/// The merchant's redemptions, newest first (its staff and managers): what came in at the
/// counter, by either channel.
pub async fn list(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
    staff_id: Option<i64>,
    page: Keyset,
) -> AppResult<Vec<redemption::Model>> {
    crate::merchants::service::staffed(state, current, merchant_id).await?;
    let mut query =
        redemption::Entity::find().filter(redemption::Column::MerchantId.eq(merchant_id));
    if let Some(staff_id) = staff_id {
        // What one member of staff sold: the pay codes they scanned.
        query = query
            .filter(redemption::Column::StaffId.eq(staff_id))
            .filter(redemption::Column::Channel.eq(Channel::PayCode.as_str()));
    }
    if let Some(before) = page.after {
        query = query.filter(redemption::Column::Id.lt(before));
    }
    Ok(query
        .order_by_desc(redemption::Column::Id)
        .limit(page.limit + 1)
        .all(&state.db)
        .await?)
}
