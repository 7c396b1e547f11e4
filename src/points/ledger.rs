//! The one place beans move: accounts, `post` and `verify`.
//!
//! # Lock order
//!
//! Every database transaction that moves beans takes its row locks in this one order, so two
//! of them never wait on each other in a cycle (a deadlock, which PostgreSQL breaks by failing
//! one of them). Other modules refer to these steps by number ("lock order, step 3").
//!
//! 1. **The request's own rows**, which only a retry of the same request also wants: the row
//!    acted on (the pay code a sale uses up, the redemption a reversal flips) and the
//!    idempotency key, claimed by inserting its `ledger_transactions` or `earning_awards` row.
//!    Each kind of key (`adjust:`, `redeem:`, `counter:`, `reverse:`, `earn:`, …) is claimed
//!    at the same step by every request that can carry it, so two requests with one key meet
//!    there in the same order; an earning award claims its keys under the wallet (step 3),
//!    because its caps are counted there.
//! 2. **Accounts opened on first use** ([`account`], [`till_for`]): found, or inserted, which
//!    makes a second opener of the same new account wait for the first to commit. Every
//!    account a transaction will touch is opened before step 3, so an opener holds nothing of
//!    steps 3–6 while it waits.
//! 3. **The wallet** ([`lock_account`], or its balance update in [`apply`]): the resident's
//!    account, with its lots (`bean_lots`, `bean_lot_spends`), which are only touched while it
//!    is held. A transaction moves one wallet; were there several, by ascending account id.
//! 4. **The resident's user row** (an offer's per-resident limit, counted across communities).
//! 5. **The offer's stock row.**
//! 6. **Shared accounts** — a merchant's till shards, the community's issuing, settlement and
//!    expiry accounts — by ascending account id, last, just before commit: many requests want
//!    them, so they are held for the shortest time. A debit of a till (a reversal, a
//!    settlement) is taken here too, in id order; its covering check is the conditional update.
//!
//! A counter sale on PostgreSQL runs as one call to `linli_sale`
//! (`migrations/src/sql/sale_v1.sql`), which takes the same steps in the same order. A
//! transaction that loses a deadlock anyway (or a serialization conflict) is run again a few
//! times by [`crate::db::retry_conflicts`]; that is a safety net, not the rule.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    Set, Statement,
};
use sha2::{Digest, Sha256};

use crate::entities::{bean_lot, ledger_account, ledger_posting, ledger_transaction};
use crate::error::{AppError, AppResult, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// A resident's beans in one community.
    Wallet,
    /// The community's source of beans: it goes negative by what has been issued.
    Issuing,
    /// What a merchant has taken in and not yet settled.
    Merchant,
    /// Where settled beans go: the community has paid the merchant for them.
    Settlement,
    /// Where expired beans go.
    Expiry,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Wallet => "wallet",
            AccountKind::Issuing => "issuing",
            AccountKind::Merchant => "merchant",
            AccountKind::Settlement => "settlement",
            AccountKind::Expiry => "expiry",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKind {
    /// Earned through a rule (wish fulfilled, approved service hours, …).
    Award,
    ManualAward,
    ManualDeduct,
    /// Spent at a merchant's counter.
    Redemption,
    /// Undoes an earlier transaction; `reverses_id` points at it.
    Reversal,
    /// A merchant's month settled.
    Settlement,
    /// Beans past their lot's expiry, moved out of a wallet.
    Expiry,
}

impl TxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TxKind::Award => "award",
            TxKind::ManualAward => "manual_award",
            TxKind::ManualDeduct => "manual_deduct",
            TxKind::Redemption => "redemption",
            TxKind::Reversal => "reversal",
            TxKind::Settlement => "settlement",
            TxKind::Expiry => "expiry",
        }
    }
}

/// A merchant's till is split into this many shards (see the ledger migration).
pub const TILL_SHARDS: i64 = 16;

/// Finds an account, opening it on first use. Safe when two requests open it at once.
pub async fn account(
    db: &impl ConnectionTrait,
    community_id: i64,
    kind: AccountKind,
    owner_id: i64,
) -> AppResult<ledger_account::Model> {
    account_shard(db, community_id, kind, owner_id, 0).await
}

/// The shard of a merchant's till that a sale from `wallet_id` goes to.
pub async fn till_for(
    db: &impl ConnectionTrait,
    community_id: i64,
    merchant_id: i64,
    wallet_id: i64,
) -> AppResult<ledger_account::Model> {
    let shard = till_shard(wallet_id);
    account_shard(db, community_id, AccountKind::Merchant, merchant_id, shard).await
}

fn till_shard(wallet_id: i64) -> i32 {
    wallet_id.rem_euclid(TILL_SHARDS) as i32
}

/// Locks several accounts (lock order, step 6: ascending account id) and reads them as they
/// are under the lock: for a settlement, whose amounts come from the tills' balances.
pub async fn lock_accounts(
    db: &impl ConnectionTrait,
    mut ids: Vec<i64>,
) -> AppResult<Vec<ledger_account::Model>> {
    ids.sort_unstable();
    ids.dedup();
    for id in &ids {
        lock_account(db, *id).await?;
    }
    Ok(ledger_account::Entity::find()
        .filter(ledger_account::Column::Id.is_in(ids))
        .order_by_asc(ledger_account::Column::Id)
        .all(db)
        .await?)
}

async fn account_shard(
    db: &impl ConnectionTrait,
    community_id: i64,
    kind: AccountKind,
    owner_id: i64,
    shard: i32,
) -> AppResult<ledger_account::Model> {
    let find = || {
        ledger_account::Entity::find()
            .filter(ledger_account::Column::CommunityId.eq(community_id))
            .filter(ledger_account::Column::Kind.eq(kind.as_str()))
            .filter(ledger_account::Column::OwnerId.eq(owner_id))
            .filter(ledger_account::Column::Shard.eq(shard))
    };
    if let Some(found) = find().one(db).await? {
        return Ok(found);
    }
    ledger_account::Entity::insert(ledger_account::ActiveModel {
        community_id: Set(community_id),
        kind: Set(kind.as_str().to_owned()),
        owner_id: Set(owner_id),
        shard: Set(shard),
        balance: Set(0),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            ledger_account::Column::CommunityId,
            ledger_account::Column::Kind,
            ledger_account::Column::OwnerId,
            ledger_account::Column::Shard,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    find()
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("account vanished after opening")))
}

/// What names an account: community, kind, owner, shard.
type AccountName = (i64, &'static str, i64, i32);

/// Accounts known to exist, so that a hot path (a sale at the counter) can skip looking them
/// up. An account row is never deleted and what names it never changes, so once an account
/// is committed its id and kind stay right for the life of the process. Only accounts read
/// in a transaction that then committed are remembered — never one a rolled-back
/// transaction opened. The balance in a remembered row is stale and must not be read: the
/// ledger only reads a leg's id and kind.
pub struct KnownAccounts {
    map: std::sync::Mutex<std::collections::HashMap<AccountName, ledger_account::Model>>,
}

/// Enough for every wallet and till of a large street; past it the map starts again.
const KNOWN_ACCOUNTS_MAX: usize = 100_000;

impl Default for KnownAccounts {
    fn default() -> Self {
        Self {
            map: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }
}

impl KnownAccounts {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<AccountName, ledger_account::Model>>
    {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, name: &AccountName) -> Option<ledger_account::Model> {
        self.lock().get(name).cloned()
    }

    /// Call after the transaction that read these accounts has committed.
    pub fn remember(&self, accounts: &[&ledger_account::Model]) {
        let mut map = self.lock();
        if map.len() + accounts.len() > KNOWN_ACCOUNTS_MAX {
            map.clear();
        }
        for a in accounts {
            if let Some(kind) = kind_name(&a.kind) {
                map.insert((a.community_id, kind, a.owner_id, a.shard), (*a).clone());
            }
        }
    }

    /// A resident's wallet and the till shard a sale from it goes to: remembered, or looked
    /// up (and opened on first use) in `db`.
    pub async fn wallet_and_till(
        &self,
        db: &impl ConnectionTrait,
        community_id: i64,
        user_id: i64,
        merchant_id: i64,
    ) -> AppResult<(ledger_account::Model, ledger_account::Model)> {
        let wallet_name = (community_id, AccountKind::Wallet.as_str(), user_id, 0);
        let wallet = match self.get(&wallet_name) {
            Some(w) => w,
            None => account(db, community_id, AccountKind::Wallet, user_id).await?,
        };
        let shard = till_shard(wallet.id);
        let till_name = (
            community_id,
            AccountKind::Merchant.as_str(),
            merchant_id,
            shard,
        );
        let till = match self.get(&till_name) {
            Some(t) => t,
            None => {
                account_shard(db, community_id, AccountKind::Merchant, merchant_id, shard).await?
            }
        };
        Ok((wallet, till))
    }
}

fn kind_name(kind: &str) -> Option<&'static str> {
    [
        AccountKind::Wallet,
        AccountKind::Issuing,
        AccountKind::Merchant,
        AccountKind::Settlement,
        AccountKind::Expiry,
    ]
    .into_iter()
    .map(AccountKind::as_str)
    .find(|k| *k == kind)
}

/// Beans earned now expire at the end of the next calendar year (China Standard Time).
pub fn lot_expiry(now: DateTime<Utc>) -> DateTime<Utc> {
    let Some(cst) = chrono::FixedOffset::east_opt(8 * 3600) else {
        return now + chrono::Duration::days(730);
    };
    let local_year = now.with_timezone(&cst).year();
    cst.with_ymd_and_hms(local_year + 2, 1, 1, 0, 0, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now + chrono::Duration::days(730))
}

/// A hash of what a request asked, to tell a retry from a different request under one key.
pub fn request_hash(value: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

pub struct Leg {
    pub account: ledger_account::Model,
    pub amount: i64,
}

pub struct NewTransaction<'a> {
    pub community_id: i64,
    pub kind: TxKind,
    pub key: &'a str,
    pub request_hash: String,
    pub reason: &'a str,
    pub ref_type: Option<&'a str>,
    pub ref_id: Option<i64>,
    pub created_by: Option<i64>,
    /// For a reversal: the transaction it undoes (at most one reversal each).
    pub reverses_id: Option<i64>,
    pub legs: Vec<Leg>,
}

pub enum Posted {
    /// Beans moved; the caller keeps its answer (with [`store_response`], or in its own
    /// rows) before committing, so a retry gets it again.
    New(ledger_transaction::Model),
    /// This key already moved beans: here is that transaction (its stored answer included).
    Replay(ledger_transaction::Model),
}

pub fn insufficient() -> AppError {
    AppError::new(ErrorCode::InsufficientBeans, "金豆余额不足")
}

/// The key was used for a different request.
pub fn key_reused() -> AppError {
    AppError::new(
        ErrorCode::IdempotencyKeyReused,
        "该请求编号已用于另一笔不同的操作",
    )
}

fn check_balanced(legs: &[Leg]) -> AppResult<()> {
    let sum: i64 = legs.iter().map(|l| l.amount).sum();
    if legs.len() < 2 || sum != 0 || legs.iter().any(|l| l.amount == 0) {
        return Err(AppError::Internal(anyhow::anyhow!(
            "unbalanced transaction: {} legs summing to {sum}",
            legs.len()
        )));
    }
    Ok(())
}

/// Posts one transaction inside the caller's database transaction: [`claim`] then [`apply`].
pub async fn post(db: &impl ConnectionTrait, new: NewTransaction<'_>) -> AppResult<Posted> {
    check_balanced(&new.legs)?;
    match claim(db, &new).await? {
        Posted::New(tx) => {
            apply(db, &tx, &new.legs).await?;
            Ok(Posted::New(tx))
        }
        replay => Ok(replay),
    }
}

/// Claims the transaction's idempotency key by writing its header row. A concurrent request
/// with the same key waits here until the first commits (PostgreSQL) or queues behind it
/// (SQLite), then finds the key taken: a replay if it asked the same, refused if not.
/// The legs are not applied: call [`apply`] (or use [`post`]).
pub async fn claim(db: &impl ConnectionTrait, new: &NewTransaction<'_>) -> AppResult<Posted> {
    // One round trip for a new key: the insert returns the row it wrote.
    let inserted = ledger_transaction::Entity::insert(ledger_transaction::ActiveModel {
        community_id: Set(new.community_id),
        kind: Set(new.kind.as_str().to_owned()),
        idempotency_key: Set(new.key.to_owned()),
        request_hash: Set(new.request_hash.clone()),
        reverses_id: Set(new.reverses_id),
        reason: Set(new.reason.to_owned()),
        ref_type: Set(new.ref_type.map(str::to_owned)),
        ref_id: Set(new.ref_id),
        created_by: Set(new.created_by),
        response: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            ledger_transaction::Column::CommunityId,
            ledger_transaction::Column::IdempotencyKey,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_with_returning(db)
    .await;
    match inserted {
        Ok(tx) => Ok(Posted::New(tx)),
        // The key was taken: sea-orm says so as "not inserted" or, when the database returns
        // rows, as "no row returned".
        Err(DbErr::RecordNotInserted | DbErr::RecordNotFound(_)) => {
            let tx = ledger_transaction::Entity::find()
                .filter(ledger_transaction::Column::CommunityId.eq(new.community_id))
                .filter(ledger_transaction::Column::IdempotencyKey.eq(new.key))
                .one(db)
                .await?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("transaction vanished")))?;
            if tx.request_hash != new.request_hash {
                return Err(key_reused());
            }
            Ok(Posted::Replay(tx))
        }
        Err(e) => Err(e.into()),
    }
}

fn is_guarded(leg: &Leg) -> bool {
    leg.amount < 0 && matches!(leg.account.kind.as_str(), "wallet" | "merchant")
}

async fn move_balance(db: &impl ConnectionTrait, leg: &Leg) -> AppResult<()> {
    let mut update = ledger_account::Entity::update_many()
        .col_expr(
            ledger_account::Column::Balance,
            Expr::col(ledger_account::Column::Balance).add(leg.amount),
        )
        .filter(ledger_account::Column::Id.eq(leg.account.id));
    if is_guarded(leg) {
        update = update.filter(ledger_account::Column::Balance.gte(-leg.amount));
    }
    if update.exec(db).await?.rows_affected != 1 {
        return Err(insufficient());
    }
    Ok(())
}

/// Applies a claimed transaction's legs: balances, postings and lots, in the lock order at
/// the top of this module.
///
/// The wallet goes first (step 3), credit or debit: a debit is a conditional update, and the
/// row count says whether the balance covered it. The shared accounts — a merchant's till, the
/// community's issuing, settlement or expiry account — go last (step 6), in ascending account
/// id, whichever way each moves: an award (issuing debited, wallet credited) and a deduction
/// (wallet debited, issuing credited) then take the two rows in the same order.
pub async fn apply(
    db: &impl ConnectionTrait,
    tx: &ledger_transaction::Model,
    legs: &[Leg],
) -> AppResult<()> {
    check_balanced(legs)?;
    let now = Utc::now();
    let (mut wallets, mut shared): (Vec<&Leg>, Vec<&Leg>) = legs.iter().partition(|l| is_wallet(l));
    wallets.sort_by_key(|l| l.account.id);
    shared.sort_by_key(|l| l.account.id);
    for leg in &wallets {
        move_balance(db, leg).await?;
    }
    ledger_posting::Entity::insert_many(legs.iter().map(|leg| ledger_posting::ActiveModel {
        transaction_id: Set(tx.id),
        account_id: Set(leg.account.id),
        amount: Set(leg.amount),
        created_at: Set(now),
        ..Default::default()
    }))
    .exec_without_returning(db)
    .await?;
    for leg in &wallets {
        if leg.amount < 0 {
            take_from_lots(db, tx.id, leg.account.id, -leg.amount).await?;
            continue;
        }
        let restored = match tx.reverses_id {
            Some(original) => restore_lots(db, original, leg).await?,
            None => false,
        };
        if !restored {
            bean_lot::Entity::insert(bean_lot::ActiveModel {
                account_id: Set(leg.account.id),
                transaction_id: Set(tx.id),
                amount: Set(leg.amount),
                remaining: Set(leg.amount),
                expires_at: Set(lot_expiry(now)),
                notified_at: Set(None),
                created_at: Set(now),
                ..Default::default()
            })
            .exec_without_returning(db)
            .await?;
        }
    }
    for leg in shared {
        move_balance(db, leg).await?;
    }
    Ok(())
}

fn is_wallet(leg: &Leg) -> bool {
    leg.account.kind == AccountKind::Wallet.as_str()
}

/// Locks an account row for the rest of the database transaction (a no-op update). For a
/// wallet (lock order, step 3): work that must see one person's movements one at a time —
/// caps, per-person limits, reversals — is serialised per wallet, before any shared row.
pub async fn lock_account(db: &impl ConnectionTrait, account_id: i64) -> AppResult<()> {
    ledger_account::Entity::update_many()
        .col_expr(
            ledger_account::Column::Balance,
            Expr::col(ledger_account::Column::Balance),
        )
        .filter(ledger_account::Column::Id.eq(account_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Spends `amount` from a wallet's lots, the soonest to expire first, and keeps what each lot
/// gave (`bean_lot_spends`) for a reversal. The wallet row is already locked by the balance
/// update, so no other spend interleaves.
///
/// Each lot before the one that completes the amount is emptied; that one gives what is left.
/// If the lots hold less than the balance (which `verify` reports as a broken book), the last
/// lot is asked for more than it has and the lots' check constraint refuses the whole sale.
///
/// A counter sale on PostgreSQL does the same in one statement inside `linli_sale`
/// (`migrations/src/sql/sale_v1.sql`); the two must stay alike.
async fn take_from_lots(
    db: &impl ConnectionTrait,
    tx_id: i64,
    account_id: i64,
    amount: i64,
) -> AppResult<()> {
    const RECORD: &str = "INSERT INTO bean_lot_spends (transaction_id, lot_id, amount) \
        SELECT $3, id, CAST(CASE WHEN run >= $2 OR run = total THEN $2 - (run - remaining) \
                                 ELSE remaining END AS BIGINT) \
        FROM (SELECT id, remaining, \
                     SUM(remaining) OVER (ORDER BY expires_at, id) AS run, \
                     SUM(remaining) OVER () AS total \
              FROM bean_lots WHERE account_id = $1 AND remaining > 0) AS w \
        WHERE run - remaining < $2";
    const TAKE: &str = "UPDATE bean_lots SET remaining = bean_lots.remaining - s.amount \
        FROM bean_lot_spends s \
        WHERE s.transaction_id = $1 AND s.lot_id = bean_lots.id AND bean_lots.account_id = $2";
    let backend = db.get_database_backend();
    let recorded = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            RECORD,
            [account_id.into(), amount.into(), tx_id.into()],
        ))
        .await?;
    if recorded.rows_affected() == 0 {
        return Err(AppError::Internal(anyhow::anyhow!(
            "wallet {account_id}: no lots hold the {amount} beans its balance covers"
        )));
    }
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        TAKE,
        [tx_id.into(), account_id.into()],
    ))
    .await
    .map_err(|e| {
        // The database error stays the source: a lost deadlock is still recognised as one.
        AppError::Internal(anyhow::Error::new(e).context(format!(
            "wallet {account_id}: its lots hold fewer beans than its balance"
        )))
    })?;
    Ok(())
}

/// Puts a reversed spend's beans back into the lots it took them from, each with its own
/// expiry (an expired one is swept again by the expiry job). `false` if the spend kept no
/// record of its lots (it was made before they were kept): the caller opens a new lot.
async fn restore_lots(db: &impl ConnectionTrait, original_tx: i64, leg: &Leg) -> AppResult<bool> {
    #[derive(FromQueryResult)]
    struct Kept {
        beans: Option<i64>,
    }
    let backend = db.get_database_backend();
    let kept = Kept::find_by_statement(Statement::from_sql_and_values(
        backend,
        "SELECT CAST(SUM(s.amount) AS BIGINT) AS beans FROM bean_lot_spends s \
         JOIN bean_lots l ON l.id = s.lot_id \
         WHERE s.transaction_id = $1 AND l.account_id = $2",
        [original_tx.into(), leg.account.id.into()],
    ))
    .one(db)
    .await?
    .and_then(|k| k.beans)
    .unwrap_or(0);
    if kept == 0 {
        return Ok(false);
    }
    if kept != leg.amount {
        return Err(AppError::Internal(anyhow::anyhow!(
            "transaction {original_tx} took {kept} beans from wallet {} but {} come back",
            leg.account.id,
            leg.amount
        )));
    }
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "UPDATE bean_lots SET remaining = bean_lots.remaining + s.amount \
         FROM bean_lot_spends s \
         WHERE s.transaction_id = $1 AND s.lot_id = bean_lots.id AND bean_lots.account_id = $2",
        [original_tx.into(), leg.account.id.into()],
    ))
    .await?;
    Ok(true)
}

/// Saves the answer given for a new transaction, so a retry gets the same one.
pub async fn store_response(
    db: &impl ConnectionTrait,
    tx_id: i64,
    response: &serde_json::Value,
) -> AppResult<()> {
    ledger_transaction::Entity::update_many()
        .col_expr(
            ledger_transaction::Column::Response,
            Expr::value(response.to_string()),
        )
        .filter(ledger_transaction::Column::Id.eq(tx_id))
        .exec(db)
        .await?;
    Ok(())
}

#[derive(Debug, FromQueryResult)]
struct Mismatch {
    id: i64,
    stored: i64,
    computed: i64,
}

async fn mismatches(db: &impl ConnectionTrait, sql: &str) -> anyhow::Result<Vec<Mismatch>> {
    let backend = db.get_database_backend();
    Ok(
        Mismatch::find_by_statement(Statement::from_string(backend, sql))
            .all(db)
            .await?,
    )
}

/// Checks the books: every stored balance equals the sum of its postings, every transaction
/// sums to zero with at least two postings, every wallet's lots hold its balance, and what a
/// spend records taking from a wallet's lots is what it debited.
/// Returns what is wrong, one line each; empty means the books are right.
pub async fn verify(db: &impl ConnectionTrait) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    for m in mismatches(
        db,
        "SELECT a.id AS id, a.balance AS stored, CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) AS computed \
         FROM ledger_accounts a LEFT JOIN ledger_postings p ON p.account_id = a.id \
         GROUP BY a.id, a.balance HAVING a.balance <> COALESCE(SUM(p.amount), 0)",
    )
    .await?
    {
        problems.push(format!(
            "account {}: stored balance {} but postings sum to {}",
            m.id, m.stored, m.computed
        ));
    }
    for m in mismatches(
        db,
        "SELECT t.id AS id, CAST(COUNT(p.id) AS BIGINT) AS stored, CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) AS computed \
         FROM ledger_transactions t LEFT JOIN ledger_postings p ON p.transaction_id = t.id \
         GROUP BY t.id HAVING COUNT(p.id) < 2 OR COALESCE(SUM(p.amount), 0) <> 0",
    )
    .await?
    {
        problems.push(format!(
            "transaction {}: {} postings summing to {}",
            m.id, m.stored, m.computed
        ));
    }
    for m in mismatches(
        db,
        "SELECT a.id AS id, a.balance AS stored, CAST(COALESCE(SUM(l.remaining), 0) AS BIGINT) AS computed \
         FROM ledger_accounts a LEFT JOIN bean_lots l ON l.account_id = a.id \
         WHERE a.kind = 'wallet' \
         GROUP BY a.id, a.balance HAVING a.balance <> COALESCE(SUM(l.remaining), 0)",
    )
    .await?
    {
        problems.push(format!(
            "wallet {}: balance {} but its lots hold {}",
            m.id, m.stored, m.computed
        ));
    }
    for m in mismatches(
        db,
        "SELECT s.transaction_id AS id, CAST(SUM(s.amount) AS BIGINT) AS stored, \
           CAST(-(SELECT COALESCE(SUM(p.amount), 0) FROM ledger_postings p \
                  WHERE p.transaction_id = s.transaction_id AND p.account_id = l.account_id) \
                AS BIGINT) AS computed \
         FROM bean_lot_spends s JOIN bean_lots l ON l.id = s.lot_id \
         GROUP BY s.transaction_id, l.account_id \
         HAVING SUM(s.amount) <> -(SELECT COALESCE(SUM(p.amount), 0) FROM ledger_postings p \
                WHERE p.transaction_id = s.transaction_id AND p.account_id = l.account_id)",
    )
    .await?
    {
        problems.push(format!(
            "transaction {}: its lots record {} beans taken from a wallet it debited by {}",
            m.id, m.stored, m.computed
        ));
    }
    if problems.is_empty() {
        // A wallet below zero cannot pass the check constraint, but say so if one ever did.
        let negative = ledger_account::Entity::find()
            .filter(ledger_account::Column::Kind.is_in(["wallet", "merchant"]))
            .filter(ledger_account::Column::Balance.lt(0))
            .all(db)
            .await?;
        for a in negative {
            problems.push(format!("account {}: negative balance {}", a.id, a.balance));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lots_expire_at_the_end_of_next_year_in_china_time() {
        let mid = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        assert_eq!(
            lot_expiry(mid),
            Utc.with_ymd_and_hms(2027, 12, 31, 16, 0, 0).unwrap()
        );
        // 31 Dec 2026 20:00 UTC is already 2027 in Beijing.
        let late = Utc.with_ymd_and_hms(2026, 12, 31, 20, 0, 0).unwrap();
        assert_eq!(
            lot_expiry(late),
            Utc.with_ymd_and_hms(2028, 12, 31, 16, 0, 0).unwrap()
        );
    }
}
