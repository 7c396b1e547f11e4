//! 对账: a merchant's monthly statement — redemptions per offer and per day, reversals, the
//! beans to settle — and settling it, which moves those beans from the merchant's account to
//! the community's settlement account.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::calendar::{cst, month_bounds};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::audit::{self, AuditKind, Entry, ObjectType};
use crate::auth::access::CurrentUser;
use crate::entities::{ledger_account, merchant, offer, redemption, settlement};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::merchants::service::{managed, staffed};
use crate::points::ledger::{self, AccountKind, Leg, NewTransaction, Posted, TxKind};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct OfferLine {
    /// None for redemptions by amount.
    pub offer_id: Option<i64>,
    pub offer_name: String,
    pub count: i64,
    pub beans: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayLine {
    /// YYYY-MM-DD, China Standard Time.
    pub day: String,
    pub count: i64,
    pub beans: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommunityLine {
    /// The community whose residents' beans these were (and whose books hold them).
    pub community_id: i64,
    pub count: i64,
    pub beans: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Settled {
    pub amount: i64,
    pub settled_by: i64,
    pub settled_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Statement {
    pub merchant_id: i64,
    pub merchant_name: String,
    pub month: String,
    /// Redemptions that stand (not reversed), per offer and per day.
    pub by_offer: Vec<OfferLine>,
    pub by_day: Vec<DayLine>,
    /// Per community served (one line for a merchant of one community).
    pub by_community: Vec<CommunityLine>,
    pub redeemed_count: i64,
    pub redeemed_beans: i64,
    /// Redemptions of the month that were reversed (not counted above).
    pub reversed_count: i64,
    pub reversed_beans: i64,
    /// The beans to settle for the month.
    pub net_beans: i64,
    pub settled: Option<Settled>,
}

pub async fn statement(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
    month: &str,
) -> AppResult<Statement> {
    let shop = staffed(state, current, merchant_id).await?;
    let bounds = month_bounds(month)?;
    read_statement(&state.db, shop, month, bounds).await
}

/// The month's statement as `db` sees it (a settlement reads it in its own transaction).
async fn read_statement(
    db: &impl ConnectionTrait,
    shop: merchant::Model,
    month: &str,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> AppResult<Statement> {
    let rows = redemption::Entity::find()
        .filter(redemption::Column::MerchantId.eq(shop.id))
        .filter(redemption::Column::CreatedAt.gte(start))
        .filter(redemption::Column::CreatedAt.lt(end))
        .order_by_asc(redemption::Column::Id)
        .all(db)
        .await?;
    let offers = offer::Entity::find()
        .filter(offer::Column::MerchantId.eq(shop.id))
        .all(db)
        .await?;
    let mut by_offer: BTreeMap<Option<i64>, (i64, i64)> = BTreeMap::new();
    let mut by_day: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut by_community: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let (mut reversed_count, mut reversed_beans) = (0, 0);
    for r in &rows {
        if r.status == "reversed" {
            reversed_count += 1;
            reversed_beans += r.amount;
            continue;
        }
        let o = by_offer.entry(r.offer_id).or_default();
        o.0 += 1;
        o.1 += r.amount;
        let day = r
            .created_at
            .with_timezone(&cst())
            .format("%Y-%m-%d")
            .to_string();
        let d = by_day.entry(day).or_default();
        d.0 += 1;
        d.1 += r.amount;
        let c = by_community.entry(r.community_id).or_default();
        c.0 += 1;
        c.1 += r.amount;
    }
    let redeemed_count = by_offer.values().map(|v| v.0).sum();
    let redeemed_beans: i64 = by_offer.values().map(|v| v.1).sum();
    let settled = settlement::Entity::find()
        .filter(settlement::Column::MerchantId.eq(shop.id))
        .filter(settlement::Column::Month.eq(month))
        .one(db)
        .await?
        .map(|s| Settled {
            amount: s.amount,
            settled_by: s.settled_by,
            settled_at: s.created_at,
        });
    Ok(Statement {
        merchant_id: shop.id,
        merchant_name: shop.name,
        month: month.to_owned(),
        by_offer: by_offer
            .into_iter()
            .map(|(id, (count, beans))| OfferLine {
                offer_id: id,
                offer_name: id
                    .and_then(|id| offers.iter().find(|o| o.id == id))
                    .map(|o| o.name.clone())
                    .unwrap_or_else(|| "按金额兑换".to_owned()),
                count,
                beans,
            })
            .collect(),
        by_day: by_day
            .into_iter()
            .map(|(day, (count, beans))| DayLine { day, count, beans })
            .collect(),
        by_community: by_community
            .into_iter()
            .map(|(community_id, (count, beans))| CommunityLine {
                community_id,
                count,
                beans,
            })
            .collect(),
        redeemed_count,
        redeemed_beans,
        reversed_count,
        reversed_beans,
        net_beans: redeemed_beans,
        settled,
    })
}

fn settled_already() -> AppError {
    AppError::new(ErrorCode::SettlementNotAllowed, "该月份已结算")
}

/// Settles a finished month (the merchant's community admins), once.
pub async fn settle(
    state: &AppState,
    current: &CurrentUser,
    merchant_id: i64,
    month: &str,
) -> AppResult<Statement> {
    let shop = managed(state, current, merchant_id).await?;
    let bounds = month_bounds(month)?;
    if bounds.1 > Utc::now() {
        return Err(AppError::new(
            ErrorCode::SettlementNotAllowed,
            "只能结算已经结束的月份",
        ));
    }
    crate::db::retry_conflicts(|| settle_once(state, current.id(), &shop, month, bounds)).await
}

/// The settlement's database transaction; the statement it answers with is read and settled
/// in it. Locks in the ledger's order: the settlement accounts opened (step 2), then every
/// till shard of the shop and those settlement accounts together, by ascending id (step 6),
/// before the month is read — so the tills' balances cannot change under it.
async fn settle_once(
    state: &AppState,
    admin_id: i64,
    shop: &merchant::Model,
    month: &str,
    bounds: (DateTime<Utc>, DateTime<Utc>),
) -> AppResult<Statement> {
    let txn = crate::db::begin_write(&state.db).await?;
    let tills = ledger_account::Entity::find()
        .filter(ledger_account::Column::Kind.eq(AccountKind::Merchant.as_str()))
        .filter(ledger_account::Column::OwnerId.eq(shop.id))
        .all(&txn)
        .await?;
    let mut ids: Vec<i64> = tills.iter().map(|t| t.id).collect();
    let mut settlements = BTreeMap::new();
    for community_id in tills.iter().map(|t| t.community_id) {
        if let std::collections::btree_map::Entry::Vacant(slot) = settlements.entry(community_id) {
            let account = ledger::account(&txn, community_id, AccountKind::Settlement, 0).await?;
            ids.push(account.id);
            slot.insert(account);
        }
    }
    let locked = ledger::lock_accounts(&txn, ids).await?;
    let mut statement = read_statement(&txn, shop.clone(), month, bounds).await?;
    if statement.settled.is_some() {
        return Err(settled_already());
    }
    // Each community's beans settle in that community's books, one transaction each.
    let mut tx_id = None;
    for line in statement.by_community.iter().filter(|l| l.beans > 0) {
        let tills: Vec<&ledger_account::Model> = locked
            .iter()
            .filter(|a| a.kind == AccountKind::Merchant.as_str())
            .filter(|a| a.community_id == line.community_id)
            .collect();
        let into = settlements
            .get(&line.community_id)
            .cloned()
            .ok_or_else(|| {
                AppError::new(
                    ErrorCode::SettlementNotAllowed,
                    "商户账户余额不足以结算该月",
                )
            })?;
        let tx = settle_community(&txn, admin_id, shop, month, line, &tills, into).await?;
        if tx_id.is_none() || line.community_id == shop.community_id {
            tx_id = Some(tx);
        }
    }
    let row = settlement::ActiveModel {
        merchant_id: Set(shop.id),
        month: Set(month.to_owned()),
        amount: Set(statement.net_beans),
        transaction_id: Set(tx_id),
        settled_by: Set(admin_id),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        if crate::error::is_unique_violation(&e) {
            settled_already()
        } else {
            e.into()
        }
    })?;
    let communities: Vec<i64> = statement
        .by_community
        .iter()
        .map(|l| l.community_id)
        .collect();
    let entry = Entry::new(AuditKind::SettlementSettled, ObjectType::Settlement, row.id)
        .by(admin_id)
        .in_community(shop.community_id)
        .detail(json!({
            "merchant_id": shop.id, "month": month, "amount": row.amount,
            "transaction_id": row.transaction_id, "communities": communities,
        }));
    audit::record(&txn, entry).await?;
    txn.commit().await?;
    // The answer is the statement this transaction read and settled, not a read after commit.
    statement.settled = Some(Settled {
        amount: row.amount,
        settled_by: row.settled_by,
        settled_at: row.created_at,
    });
    Ok(statement)
}

/// Moves one community's share of the month from the merchant's till shards (already locked,
/// in id order) to that community's settlement account.
async fn settle_community(
    txn: &DatabaseTransaction,
    admin_id: i64,
    shop: &merchant::Model,
    month: &str,
    line: &CommunityLine,
    tills: &[&ledger_account::Model],
    into: ledger_account::Model,
) -> AppResult<i64> {
    let mut legs = Vec::new();
    let mut left = line.beans;
    for till in tills {
        let take = std::cmp::min(left, till.balance);
        if take > 0 {
            legs.push(Leg {
                account: (*till).clone(),
                amount: -take,
            });
            left -= take;
        }
    }
    if left > 0 {
        return Err(AppError::new(
            ErrorCode::SettlementNotAllowed,
            "商户账户余额不足以结算该月",
        ));
    }
    legs.push(Leg {
        account: into,
        amount: line.beans,
    });
    let key = format!("settle:{}:{month}", shop.id);
    let reason = format!("{} {month} 结算", shop.name);
    let posted = ledger::post(
        txn,
        NewTransaction {
            community_id: line.community_id,
            kind: TxKind::Settlement,
            key: &key,
            request_hash: ledger::request_hash(&serde_json::json!({"net": line.beans})),
            reason: &reason,
            ref_type: Some("merchant"),
            ref_id: Some(shop.id),
            created_by: Some(admin_id),
            reverses_id: None,
            legs,
        },
    )
    .await?;
    match posted {
        Posted::New(tx) => Ok(tx.id),
        Posted::Replay(_) => Err(settled_already()),
    }
}

/// The statement as CSV (UTF-8 with a byte-order mark, so spreadsheet programs show Chinese).
pub fn to_csv(s: &Statement) -> String {
    use crate::csv::{Cell, Sheet};
    let mut sheet = Sheet::new();
    sheet.row(&["商户".into(), Cell::from(&s.merchant_name)]);
    sheet.row(&["月份".into(), Cell::from(&s.month)]);
    sheet.blank();
    sheet.row(&["商品".into(), "笔数".into(), "金豆".into()]);
    for l in &s.by_offer {
        sheet.row(&[Cell::from(&l.offer_name), l.count.into(), l.beans.into()]);
    }
    sheet.blank();
    sheet.row(&["日期".into(), "笔数".into(), "金豆".into()]);
    for d in &s.by_day {
        sheet.row(&[Cell::from(&d.day), d.count.into(), d.beans.into()]);
    }
    if s.by_community.len() > 1 {
        sheet.blank();
        sheet.row(&["社区编号".into(), "笔数".into(), "金豆".into()]);
        for c in &s.by_community {
            sheet.row(&[c.community_id.into(), c.count.into(), c.beans.into()]);
        }
    }
    sheet.blank();
    let totals: [(&str, Cell<'_>); 6] = [
        ("兑换笔数", s.redeemed_count.into()),
        ("兑换金豆", s.redeemed_beans.into()),
        ("撤销笔数", s.reversed_count.into()),
        ("撤销金豆", s.reversed_beans.into()),
        ("应结算金豆", s.net_beans.into()),
        (
            "已结算",
            if s.settled.is_some() { "是" } else { "否" }.into(),
        ),
    ];
    for (label, value) in totals {
        sheet.row(&[label.into(), value]);
    }
    sheet.finish()
}

/// The statement as an Excel workbook: the same sections as the CSV, on one sheet. Text is
/// written as text, so nothing a merchant typed can run as a formula.
pub fn to_xlsx(s: &Statement) -> anyhow::Result<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet();
    sheet.set_name("对账单")?;
    sheet.set_column_width(0, 24)?;
    sheet.set_column_width(1, 12)?;
    sheet.set_column_width(2, 12)?;
    let mut row = 0u32;
    sheet.write_string_with_format(row, 0, "商户", &bold)?;
    sheet.write_string(row, 1, &s.merchant_name)?;
    row += 1;
    sheet.write_string_with_format(row, 0, "月份", &bold)?;
    sheet.write_string(row, 1, &s.month)?;
    row += 2;
    let mut table = |row: &mut u32, head: [&str; 3], lines: Vec<(String, i64, i64)>| {
        for (col, h) in (0u16..).zip(head) {
            sheet.write_string_with_format(*row, col, h, &bold)?;
        }
        *row += 1;
        for (label, count, beans) in lines {
            sheet.write_string(*row, 0, &label)?;
            sheet.write_number(*row, 1, count as f64)?;
            sheet.write_number(*row, 2, beans as f64)?;
            *row += 1;
        }
        *row += 1;
        Ok::<(), rust_xlsxwriter::XlsxError>(())
    };
    table(
        &mut row,
        ["商品", "笔数", "金豆"],
        s.by_offer
            .iter()
            .map(|l| (l.offer_name.clone(), l.count, l.beans))
            .collect(),
    )?;
    table(
        &mut row,
        ["日期", "笔数", "金豆"],
        s.by_day
            .iter()
            .map(|d| (d.day.clone(), d.count, d.beans))
            .collect(),
    )?;
    if s.by_community.len() > 1 {
        table(
            &mut row,
            ["社区编号", "笔数", "金豆"],
            s.by_community
                .iter()
                .map(|c| (c.community_id.to_string(), c.count, c.beans))
                .collect(),
        )?;
    }
    for (label, value) in [
        ("兑换笔数", s.redeemed_count),
        ("兑换金豆", s.redeemed_beans),
        ("撤销笔数", s.reversed_count),
        ("撤销金豆", s.reversed_beans),
        ("应结算金豆", s.net_beans),
    ] {
        sheet.write_string_with_format(row, 0, label, &bold)?;
        sheet.write_number(row, 1, value as f64)?;
        row += 1;
    }
    sheet.write_string_with_format(row, 0, "已结算", &bold)?;
    sheet.write_string(row, 1, if s.settled.is_some() { "是" } else { "否" })?;
    Ok(book.save_to_buffer()?)
}
