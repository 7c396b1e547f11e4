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
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, RuntimeErr, Set, Statement,
};

use crate::pagination::Keyset;

use crate::auth::access::CurrentUser;
use crate::entities::{merchant, offer, redemption, user};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::merchants::pay_codes::{PAY_CODE_DIGITS, Payer, code_invalid, not_served, payer};
pub use crate::merchants::receipts::{Channel, Receipt};
use crate::merchants::receipts::{as_issued, issued, replayed};
use crate::points::ledger::{self, Leg, NewTransaction, Posted, TxKind};
use crate::state::AppState;

pub struct RedeemRequest {
    pub merchant_id: i64,
    pub pay_code: String,
    pub offer_id: Option<i64>,
    pub amount: Option<i64>,
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
    let mine: Vec<i64> = crate::communities::residents::communities_of(&state.db, resident.id())
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
    // Whose wallet pays; a pay code that could not be used up is refused after the key's
    // claim, which tells a retry of the sale that used it (its receipt again).
    let (user_id, community_id, code_ok) = payer(&txn, shop.id, &order.payer, now).await?;
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
    let row = record_sale(&txn, sale, user_id, community_id, tx.id, now).await?;
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

/// The redemption row, as the receipt will show it.
async fn record_sale(
    txn: &DatabaseTransaction,
    sale: &Sale<'_>,
    user_id: i64,
    community_id: i64,
    tx_id: i64,
    now: DateTime<Utc>,
) -> AppResult<redemption::Model> {
    let Sale {
        shop,
        offer,
        amount,
        order,
    } = sale;
    Ok(redemption::ActiveModel {
        merchant_id: Set(shop.id),
        offer_id: Set(offer.as_ref().map(|o| o.id)),
        user_id: Set(user_id),
        community_id: Set(community_id),
        amount: Set(*amount),
        staff_id: Set(order.actor),
        transaction_id: Set(tx_id),
        status: Set("completed".into()),
        reversal_transaction_id: Set(None),
        created_at: Set(now),
        channel: Set(order.channel.as_str().to_owned()),
        merchant_name: Set(Some(shop.name.clone())),
        offer_name: Set(offer.as_ref().map(|o| o.name.clone())),
        ..Default::default()
    }
    .insert(txn)
    .await?)
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
    Ok(page
        .descending(query, redemption::Column::Id)
        .all(&state.db)
        .await?)
}
