//! Every path that moves beans, at the same moment on one wallet: manual awards and
//! deductions, counter sales (by amount, and of an offer in stock), reversals of earlier sales,
//! counter payments, wish payments, earning awards, the expiry job and the settlement of the
//! shop's till. They
//! all take their row locks in the one order written at the top of `src/points/ledger.rs`, so
//! none waits on another in a cycle: no 500, every answer a documented one, the books right,
//! and the balance the sum of what was accepted. And a reversal answers from its own
//! transaction: a till's retry gets the same receipt.

use linli::entities::{bean_lot, ledger_account, ledger_posting, ledger_transaction, redemption};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::support::merchants::{
    Shop, fund, funded_resident, last_month, new_offer, pay_code_for, sell, shop,
};
use crate::support::points::{balance, books_are_right};
use crate::support::wishes::{claim_and_fulfil, post_wish, review, wish_body};

/// What an answer to a shot does to the wallet if the shot was accepted.
#[derive(Clone, Copy, Debug)]
enum Move {
    Award(i64),
    Deduct(i64),
    Sale(i64),
    OfferSale(i64),
    Reversal(i64),
    WishPayment(i64),
    /// Moves the till, not the wallet.
    Settlement,
}

struct Shot {
    path: String,
    token: String,
    key: Option<String>,
    does: Move,
    body: Value,
}

/// The beans an accepted answer moved into (or out of) the wallet; `Err` with the answer when
/// it is not one this route documents for this race.
fn moved(does: Move, r: &Reply) -> Result<i64, String> {
    let status = r.status.as_u16();
    let refused = |codes: &[&str]| status == 409 && codes.contains(&r.code());
    let beans = match does {
        Move::Award(n) if status == 201 => n,
        Move::Deduct(n) if status == 201 => -n,
        Move::Deduct(_) if refused(&["INSUFFICIENT_BEANS"]) => 0,
        Move::Sale(n) if status == 201 => -n,
        Move::Sale(_) if refused(&["INSUFFICIENT_BEANS"]) => 0,
        Move::OfferSale(n) if status == 201 => -n,
        Move::OfferSale(_) if refused(&["INSUFFICIENT_BEANS", "OUT_OF_STOCK"]) => 0,
        Move::Reversal(n) if status == 200 && r.body["status"] == "reversed" => n,
        Move::WishPayment(n) if status == 200 && r.body["state"] == "confirmed" => n,
        Move::Settlement if status == 200 && r.body["settled"].is_object() => 0,
        _ => return Err(format!("{does:?}: {status} {}", r.body)),
    };
    Ok(beans)
}

/// Posts and publishes a wish, which `claimer` claims and marks fulfilled: it waits for the
/// poster's confirmation, which pays the claimer.
async fn fulfilled_wish(app: &TestApp, s: &Shop, poster: &TestUser, claimer: &TestUser) -> i64 {
    let id = post_wish(app, s.w.community_a, poster, wish_body()).await;
    review(app, id, &s.w.admin_a.token, None)
        .await
        .assert_status(200);
    claim_and_fulfil(app, s.w.community_a, id, claimer).await;
    id
}

/// A sale by amount from `resident`'s wallet; its redemption id.
async fn sold(app: &TestApp, s: &Shop, resident: &TestUser, key: &str, amount: i64) -> i64 {
    let a = s.w.community_a;
    sell(app, a, s.merchant_id, &s.staff, resident, key, amount)
        .await
        .assert_status(201)["redemption_id"]
        .as_i64()
        .unwrap()
}

async fn wallet_of(app: &TestApp, s: &Shop, user: &TestUser) -> ledger_account::Model {
    ledger_account::Entity::find()
        .filter(ledger_account::Column::CommunityId.eq(s.w.community_a))
        .filter(ledger_account::Column::Kind.eq("wallet"))
        .filter(ledger_account::Column::OwnerId.eq(user.id))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
}

/// What the expiry job took from the wallet, from its ledger postings.
async fn expired_from(app: &TestApp, wallet_id: i64) -> i64 {
    let expiries: Vec<i64> = ledger_transaction::Entity::find()
        .filter(ledger_transaction::Column::Kind.eq("expiry"))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    ledger_posting::Entity::find()
        .filter(ledger_posting::Column::AccountId.eq(wallet_id))
        .filter(ledger_posting::Column::TransactionId.is_in(expiries))
        .all(&app.state.db)
        .await
        .unwrap()
        .iter()
        .map(|p| -p.amount)
        .sum()
}

#[tokio::test]
async fn every_bean_path_at_once_on_one_wallet_never_deadlocks() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let a = s.w.community_a;
    let admin = s.w.admin_a.token.clone();
    // Someone else is paid first, so the community's issuing account is older (its id lower)
    // than the racer's wallet: an order by account id alone would take the two in opposite
    // orders for an award and a deduction.
    funded_resident(&app, &s.w, "first-earner", 10).await;
    let racer = funded_resident(&app, &s.w, "racer", 300).await;
    let poster = funded_resident(&app, &s.w, "poster", 0).await;
    for rule in [
        json!({"event_kind": "wish_fulfilled", "beans_per_unit": 5}),
        json!({"event_kind": "activity_hours", "beans_per_unit": 10}),
    ] {
        app.call(
            reqwest::Method::PUT,
            &format!("/api/v1/communities/{a}/points/rules"),
            Some(&admin),
            Some(rule),
        )
        .await
        .assert_status(200);
    }
    // Earlier sales: eight to reverse in the race, two from last month to settle in it.
    let mut to_reverse = Vec::new();
    for i in 0..8 {
        to_reverse.push(sold(&app, &s, &racer, &format!("earlier-{i}"), 7).await);
    }
    let (month, in_last_month) = last_month();
    for i in 0..2 {
        let id = sold(&app, &s, &racer, &format!("last-month-{i}"), 11).await;
        let row = redemption::Entity::find_by_id(id)
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        let mut row: redemption::ActiveModel = row.into();
        row.created_at = Set(in_last_month);
        row.update(&app.state.db).await.unwrap();
    }
    // Beans that have just expired, for the expiry job to sweep during the race.
    fund(&app, &s.w, &racer, 40, "fund-expiring").await;
    let wallet = wallet_of(&app, &s, &racer).await;
    let lot = bean_lot::Entity::find()
        .filter(bean_lot::Column::AccountId.eq(wallet.id))
        .filter(bean_lot::Column::Amount.eq(40))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut lot: bean_lot::ActiveModel = lot.into();
    lot.expires_at = Set(chrono::Utc::now() - chrono::Duration::hours(1));
    lot.update(&app.state.db).await.unwrap();
    let soy = new_offer(&app, &s, json!({"name": "酱油", "price": 6, "stock": 3})).await;
    let mut wishes = Vec::new();
    for _ in 0..6 {
        wishes.push(fulfilled_wish(&app, &s, &poster, &racer).await);
    }
    let start = balance(&app, a, &racer).await;
    assert_eq!(start, 300 - 8 * 7 - 2 * 11 + 40);

    let mut groups: Vec<Vec<Shot>> = Vec::new();
    let adjustments = format!("/api/v1/communities/{a}/points/adjustments");
    let manual = |sign: i64, i: usize| Shot {
        path: adjustments.clone(),
        token: admin.clone(),
        key: Some(format!("{}-{i}", if sign > 0 { "award" } else { "deduct" })),
        does: if sign > 0 {
            Move::Award(10)
        } else {
            Move::Deduct(10)
        },
        body: json!({"user_id": racer.id, "amount": sign * 10, "reason": "手工调整"}),
    };
    groups.push((0..12).map(|i| manual(1, i)).collect());
    groups.push((0..12).map(|i| manual(-1, i)).collect());
    let mut sales = Vec::new();
    for i in 0..10 {
        let code = pay_code_for(&app, a, &racer).await;
        sales.push(Shot {
            path: "/api/v1/merchant/redemptions".into(),
            token: s.staff.token.clone(),
            key: Some(format!("sale-{i}")),
            does: Move::Sale(5),
            body: json!({"merchant_id": s.merchant_id, "pay_code": code, "amount": 5}),
        });
    }
    groups.push(sales);
    let mut offer_sales = Vec::new();
    for i in 0..5 {
        let code = pay_code_for(&app, a, &racer).await;
        offer_sales.push(Shot {
            path: "/api/v1/merchant/redemptions".into(),
            token: s.staff.token.clone(),
            key: Some(format!("soy-{i}")),
            does: Move::OfferSale(6),
            body: json!({"merchant_id": s.merchant_id, "pay_code": code, "offer_id": soy}),
        });
    }
    groups.push(offer_sales);
    // The resident pays at the shop's counter code too (the sale path with the resident as
    // payer).
    let made = app
        .post(
            &format!("/api/v1/merchants/{}/counter-codes", s.merchant_id),
            &s.staff.token,
            json!({}),
        )
        .await;
    let scene = made.assert_status(201)["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    groups.push(
        (0..4)
            .map(|i| Shot {
                path: "/api/v1/me/counter-payments".into(),
                token: racer.token.clone(),
                key: Some(format!("counter-{i}")),
                does: Move::Sale(4),
                body: json!({"scene": scene, "amount": 4}),
            })
            .collect(),
    );
    groups.push(
        to_reverse
            .iter()
            .map(|id| Shot {
                path: format!("/api/v1/redemptions/{id}/reverse"),
                token: s.staff.token.clone(),
                key: None,
                does: Move::Reversal(7),
                body: json!({}),
            })
            .collect(),
    );
    groups.push(
        wishes
            .iter()
            .map(|id| Shot {
                path: format!("/api/v1/wishes/{id}/confirm"),
                token: poster.token.clone(),
                key: None,
                does: Move::WishPayment(5),
                body: json!({}),
            })
            .collect(),
    );
    groups.push(vec![Shot {
        path: format!(
            "/api/v1/merchants/{}/statements/{month}/settle",
            s.merchant_id
        ),
        token: admin.clone(),
        key: None,
        does: Move::Settlement,
        body: json!({}),
    }]);
    // Interleaved, so that every kind is in flight at once.
    let mut shots = Vec::new();
    while groups.iter().any(|g| !g.is_empty()) {
        for g in groups.iter_mut().filter(|g| !g.is_empty()) {
            shots.push(g.remove(0));
        }
    }

    let mut http = Vec::new();
    for shot in shots {
        let mut req = app
            .http
            .post(format!("{}{}", app.address, shot.path))
            .bearer_auth(&shot.token)
            .json(&shot.body);
        if let Some(k) = &shot.key {
            req = req.header("Idempotency-Key", k);
        }
        let does = shot.does;
        http.push(tokio::spawn(async move {
            (does, TestApp::reply(req.send().await.unwrap()).await)
        }));
    }
    let mut earned = Vec::new();
    for i in 0..4 {
        let state = app.state.clone();
        let req = linli::points::earning::AwardRequest {
            community_id: a,
            user_id: racer.id,
            event: linli::points::earning::EarnEvent::ActivityHours,
            units: 60,
            key: Box::leak(format!("race-activity:{i}").into_boxed_str()),
            ref_type: Some("activity"),
            ref_id: Some(i),
        };
        earned.push(tokio::spawn(async move {
            linli::points::earning::award(&state, req).await
        }));
    }
    let mut sweeps = Vec::new();
    for _ in 0..2 {
        let state = app.state.clone();
        sweeps.push(tokio::spawn(async move {
            linli::points::expiry::run_once(&state).await
        }));
    }

    let mut expected = start;
    let mut wrong = Vec::new();
    let mut offers_sold = 0;
    for task in http {
        let (does, reply) = task.await.unwrap();
        match moved(does, &reply) {
            Ok(beans) => {
                expected += beans;
                if matches!(does, Move::OfferSale(_)) && beans != 0 {
                    offers_sold += 1;
                }
            }
            Err(e) => wrong.push(e),
        }
    }
    for task in earned {
        match task.await.unwrap() {
            Ok(award) => expected += award.granted,
            Err(e) => wrong.push(format!("earning award: {e:?}")),
        }
    }
    let mut swept = 0;
    for task in sweeps {
        match task.await.unwrap() {
            Ok(pass) => swept += pass.beans_expired,
            Err(e) => wrong.push(format!("expiry pass: {e:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} answers not documented: {wrong:#?}",
        wrong.len()
    );

    books_are_right(&app).await;
    let expired = expired_from(&app, wallet.id).await;
    assert_eq!(swept, expired);
    assert!(expired <= 40);
    let now = balance(&app, a, &racer).await;
    assert_eq!(now, expected - expired);
    let stock = linli::entities::offer::Entity::find_by_id(soy)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .stock;
    assert_eq!(stock, Some(3 - offers_sold));
    // The settlement took last month's two sales off the till.
    let statement = app
        .get(
            &format!("/api/v1/merchants/{}/statements/{month}", s.merchant_id),
            &s.staff.token,
        )
        .await;
    assert_eq!(statement.assert_status(200)["settled"]["amount"], 22);
}

#[tokio::test]
async fn a_reversal_answers_from_its_own_transaction_and_a_retry_gets_the_same_receipt() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let a = s.w.community_a;
    let resident = funded_resident(&app, &s.w, "returner", 100).await;
    let id = sold(&app, &s, &resident, "to-return", 30).await;
    let url = format!("{}/api/v1/redemptions/{id}/reverse", app.address);
    let reverse = |token: &str, key: Option<&str>| {
        let mut req = app.http.post(&url).bearer_auth(token).json(&json!({}));
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        async move { TestApp::reply(req.send().await.unwrap()).await }
    };
    // The till sends the reversal and, having heard nothing, sends it again at once.
    let (first, second) = tokio::join!(
        reverse(&s.staff.token, Some("undo-1")),
        reverse(&s.staff.token, Some("undo-1"))
    );
    let receipt = first.assert_status(200).clone();
    assert_eq!(second.assert_status(200), &receipt);
    assert_eq!(receipt["status"], "reversed");
    assert_eq!(receipt["redemption_id"], id);
    assert_eq!(receipt["amount"], 30);
    // The answer is what is stored.
    let stored = app
        .get(&format!("/api/v1/redemptions/{id}"), &resident.token)
        .await;
    assert_eq!(stored.assert_status(200), &receipt);
    // A later retry with the key gets the same receipt again; nothing moves twice.
    let later = reverse(&s.staff.token, Some("undo-1")).await;
    assert_eq!(later.assert_status(200), &receipt);
    assert_eq!(balance(&app, a, &resident).await, 100);
    let reversals = ledger_transaction::Entity::find()
        .filter(ledger_transaction::Column::Kind.eq("reversal"))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(reversals.len(), 1);
    // Another key, no key, or someone else is a second reversal, which is refused.
    reverse(&s.staff.token, Some("undo-2"))
        .await
        .assert_error(409, "ALREADY_REVERSED");
    reverse(&s.staff.token, None)
        .await
        .assert_error(409, "ALREADY_REVERSED");
    reverse(&s.w.admin_a.token, Some("undo-1"))
        .await
        .assert_error(409, "ALREADY_REVERSED");
    // A malformed key is refused before anything is looked at.
    reverse(&s.staff.token, Some("two words"))
        .await
        .assert_error(400, "INVALID_PARAMETER");
    books_are_right(&app).await;
}

#[tokio::test]
async fn a_transaction_that_loses_a_deadlock_is_run_again() {
    use linli::points::ledger::{AccountKind, account, lock_account};
    use sea_orm::{DbBackend, TransactionTrait};
    use std::sync::atomic::{AtomicU32, Ordering};
    let app = spawn_app().await;
    let db = &app.state.db;
    if db.get_database_backend() != DbBackend::Postgres {
        // SQLite writers queue for one write lock (BEGIN IMMEDIATE): they cannot deadlock.
        return;
    }
    let w = world(&app).await;
    let first = account(db, w.community_a, AccountKind::Wallet, 1)
        .await
        .unwrap()
        .id;
    let second = account(db, w.community_a, AccountKind::Wallet, 2)
        .await
        .unwrap()
        .id;
    // A partner takes the second row, then — once our first attempt holds the first row and
    // waits for the second — asks for the first: a cycle, which PostgreSQL breaks by failing
    // the transaction that waited longest, ours.
    let partner = db.begin().await.unwrap();
    lock_account(&partner, second).await.unwrap();
    let attempts = AtomicU32::new(0);
    let ours = linli::db::retry_conflicts(|| async {
        let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let txn = db.begin().await?;
        lock_account(&txn, first).await?;
        lock_account(&txn, second).await?;
        txn.commit().await?;
        Ok(n)
    });
    let theirs = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        lock_account(&partner, first).await.unwrap();
        partner.commit().await.unwrap();
    };
    let (won, ()) = tokio::join!(ours, theirs);
    assert_eq!(won.unwrap(), 2, "lost once, then ran again and committed");
    // Any other error is the answer at once, not a reason to run again.
    let runs = AtomicU32::new(0);
    let refused: Result<(), _> = linli::db::retry_conflicts(|| async {
        runs.fetch_add(1, Ordering::SeqCst);
        Err(linli::error::AppError::not_found())
    })
    .await;
    assert!(refused.is_err());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
