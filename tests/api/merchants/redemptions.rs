//! POST /api/v1/merchant/redemptions (a sale at the counter) and
//! POST /api/v1/redemptions/{id}/reverse: the races for the last bean and the last item, every
//! refusal writing nothing, idempotent retries, receipts and reversals.

use linli::entities::{ledger_transaction, offer, pay_code, redemption};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set};
use serde_json::json;

use crate::helpers::*;
use crate::support::merchants::*;
use crate::support::points::{balance, books_are_right, transactions};

#[tokio::test]
async fn two_hundred_redemptions_race_for_one_hundred_beans() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let resident = funded_resident(&app, &s.w, "shopper", 100).await;
    let mut codes = Vec::new();
    for _ in 0..200 {
        codes.push(pay_code_for(&app, s.w.community_a, &resident).await);
    }
    let shots = codes
        .into_iter()
        .enumerate()
        .map(|(i, code)| {
            let body = json!({"merchant_id": s.merchant_id, "pay_code": code, "amount": 10});
            (
                "/api/v1/merchant/redemptions".to_owned(),
                Some(format!("race-{i}")),
                body,
            )
        })
        .collect();
    let replies = app.post_all(&s.staff.token, shots).await;
    let won = wins(&replies, 201, 409, "INSUFFICIENT_BEANS");
    assert_eq!(won, 10);
    assert_eq!(balance(&app, s.w.community_a, &resident).await, 0);
    assert_eq!(transactions(&app).await, 11);
    books_are_right(&app).await;
}

#[tokio::test]
async fn one_pay_code_scanned_at_twenty_tills_at_once_pays_once() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let resident = funded_resident(&app, &s.w, "scanned", 100).await;
    let code = pay_code_for(&app, s.w.community_a, &resident).await;
    let body = json!({"merchant_id": s.merchant_id, "pay_code": code, "amount": 10});
    let shots = (0..20)
        .map(|i| {
            (
                "/api/v1/merchant/redemptions".to_owned(),
                Some(format!("till-{i}")),
                body.clone(),
            )
        })
        .collect();
    let replies = app.post_all(&s.staff.token, shots).await;
    assert_eq!(wins(&replies, 201, 410, "PAY_CODE_INVALID"), 1);
    assert_eq!(balance(&app, s.w.community_a, &resident).await, 90);
    assert_eq!(transactions(&app).await, 2);
    books_are_right(&app).await;
}

#[tokio::test]
async fn forty_buyers_race_for_five_in_stock() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let offer_id = new_offer(
        &app,
        &s,
        json!({"name": "大米 5kg", "price": 20, "stock": 5}),
    )
    .await;
    let mut buyers = Vec::new();
    for i in 0..40 {
        let r = funded_resident(&app, &s.w, &format!("buyer{i}"), 50).await;
        let code = pay_code_for(&app, s.w.community_a, &r).await;
        buyers.push(code);
    }
    let shots = buyers
        .into_iter()
        .enumerate()
        .map(|(i, code)| {
            let body =
                json!({"merchant_id": s.merchant_id, "pay_code": code, "offer_id": offer_id});
            (
                "/api/v1/merchant/redemptions".to_owned(),
                Some(format!("stock-{i}")),
                body,
            )
        })
        .collect();
    // Meanwhile the shop renames the offer again and again: an edit that names no stock
    // must not write back the stock it read.
    let renames: Vec<_> = (0..20)
        .map(|i| {
            let req = app
                .http
                .patch(format!("{}/api/v1/offers/{offer_id}", app.address))
                .bearer_auth(&s.staff.token)
                .json(&json!({"name": format!("大米 5kg · {i}")}));
            tokio::spawn(async move { req.send().await.expect("rename sent").status() })
        })
        .collect();
    let replies = app.post_all(&s.staff.token, shots).await;
    for rename in renames {
        assert_eq!(rename.await.unwrap(), 200);
    }
    let won = wins(&replies, 201, 409, "OUT_OF_STOCK");
    assert_eq!(won, 5);
    let left = offer::Entity::find_by_id(offer_id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left.stock, Some(0));
    books_are_right(&app).await;
}

#[tokio::test]
async fn every_refusal_writes_nothing() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let a = s.w.community_a;
    let resident = funded_resident(&app, &s.w, "careful", 100).await;
    let rice = new_offer(
        &app,
        &s,
        json!({"name": "大米", "price": 20, "stock": 10, "per_resident_limit": 1}),
    )
    .await;
    let old = new_offer(
        &app,
        &s,
        json!({"name": "月饼", "price": 5,
        "valid_from": "2020-09-01T00:00:00Z", "valid_until": "2020-10-01T00:00:00Z"}),
    )
    .await;

    // One good redemption of the limited offer.
    let code = pay_code_for(&app, a, &resident).await;
    redeem(
        &app,
        &s.staff.token,
        "ok-1",
        json!({"merchant_id": s.merchant_id, "pay_code": code, "offer_id": rice}),
    )
    .await
    .assert_status(201);
    let before = transactions(&app).await;
    let stock_before = offer::Entity::find_by_id(rice)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .stock;

    // Reused code.
    redeem(
        &app,
        &s.staff.token,
        "reuse",
        json!({"merchant_id": s.merchant_id, "pay_code": code, "amount": 1}),
    )
    .await
    .assert_error(410, "PAY_CODE_INVALID");
    // Unknown code, malformed code.
    redeem(
        &app,
        &s.staff.token,
        "unknown",
        json!({"merchant_id": s.merchant_id, "pay_code": "123456789012345678", "amount": 1}),
    )
    .await
    .assert_error(410, "PAY_CODE_INVALID");
    redeem(
        &app,
        &s.staff.token,
        "short",
        json!({"merchant_id": s.merchant_id, "pay_code": "12ab", "amount": 1}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    // Expired code.
    let stale = pay_code_for(&app, a, &resident).await;
    for row in pay_code::Entity::find().all(&app.state.db).await.unwrap() {
        if row.used_at.is_none() {
            let mut row: pay_code::ActiveModel = row.into();
            row.expires_at = Set(chrono::Utc::now() - chrono::Duration::seconds(1));
            row.update(&app.state.db).await.unwrap();
        }
    }
    redeem(
        &app,
        &s.staff.token,
        "stale",
        json!({"merchant_id": s.merchant_id, "pay_code": stale, "amount": 1}),
    )
    .await
    .assert_error(410, "PAY_CODE_INVALID");
    // Over the per-resident limit, insufficient beans, expired offer, neither offer nor amount.
    let cases = [
        (json!({"offer_id": rice}), 409, "OFFER_LIMIT_REACHED"),
        (json!({"amount": 81}), 409, "INSUFFICIENT_BEANS"),
        (json!({"offer_id": old}), 409, "OFFER_UNAVAILABLE"),
        (json!({}), 422, "VALIDATION_FAILED"),
        (
            json!({"offer_id": rice, "amount": 3}),
            422,
            "VALIDATION_FAILED",
        ),
        (json!({"offer_id": 999999}), 422, "VALIDATION_FAILED"),
    ];
    for (i, (extra, status, code_name)) in cases.into_iter().enumerate() {
        let code = pay_code_for(&app, a, &resident).await;
        let mut body = json!({"merchant_id": s.merchant_id, "pay_code": code});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        redeem(&app, &s.staff.token, &format!("case-{i}"), body)
            .await
            .assert_error(status, code_name);
    }
    // Staff of another merchant; a resident of another community; a suspended merchant.
    let code = pay_code_for(&app, a, &resident).await;
    let other = app
        .post(
            &format!("/api/v1/communities/{}/merchants", s.w.community_b),
            &s.w.admin_b.token,
            json!({"name": "和平小卖部", "address": "和平路2号", "category": "便利店", "contact": "0871-7654321"}),
        )
        .await;
    let other_id = other.assert_status(201)["id"].as_i64().unwrap();
    redeem(
        &app,
        &s.staff.token,
        "wrong-shop",
        json!({"merchant_id": other_id, "pay_code": code, "amount": 1}),
    )
    .await
    .assert_error(403, "NOT_MERCHANT_STAFF");
    redeem(
        &app,
        &resident.token,
        "self-serve",
        json!({"merchant_id": s.merchant_id, "pay_code": code, "amount": 1}),
    )
    .await
    .assert_error(403, "NOT_MERCHANT_STAFF");
    let outsider = app.login("outsider").await;
    verified_resident(&app, &outsider, s.w.community_b, &s.w.admin_b).await;
    let b_code = pay_code_for(&app, s.w.community_b, &outsider).await;
    redeem(
        &app,
        &s.staff.token,
        "wrong-community",
        json!({"merchant_id": s.merchant_id, "pay_code": b_code, "amount": 1}),
    )
    .await
    .assert_error(403, "COMMUNITY_NOT_SERVED");
    // A pay code is only for the caller's own community membership.
    app.get(
        &format!("/api/v1/me/pay-code?community_id={a}"),
        &outsider.token,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/merchants/{}/status", s.merchant_id),
        Some(&s.w.admin_a.token),
        Some(json!({"status": "suspended"})),
    )
    .await
    .assert_status(200);
    redeem(
        &app,
        &s.staff.token,
        "suspended",
        json!({"merchant_id": s.merchant_id, "pay_code": code, "amount": 1}),
    )
    .await
    .assert_error(409, "MERCHANT_SUSPENDED");

    assert_eq!(transactions(&app).await, before, "nothing written");
    let stock_after = offer::Entity::find_by_id(rice)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .stock;
    assert_eq!(stock_after, stock_before);
    assert_eq!(balance(&app, a, &resident).await, 80);
    books_are_right(&app).await;
}

#[tokio::test]
async fn retries_receipts_and_reversals() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let a = s.w.community_a;
    let resident = funded_resident(&app, &s.w, "regular", 100).await;
    let oil = new_offer(&app, &s, json!({"name": "食用油", "price": 30, "stock": 3})).await;
    let code = pay_code_for(&app, a, &resident).await;
    let body = json!({"merchant_id": s.merchant_id, "pay_code": code, "offer_id": oil});
    let first = redeem(&app, &s.staff.token, "till-1", body.clone()).await;
    let receipt = first.assert_status(201).clone();
    // The till retries after a timeout: same receipt, nothing moved twice.
    let again = redeem(&app, &s.staff.token, "till-1", body.clone()).await;
    assert_eq!(again.assert_status(201), &receipt);
    assert_eq!(balance(&app, a, &resident).await, 70);
    let id = receipt["redemption_id"].as_i64().unwrap();

    // The shop renames and reprices the offer afterwards: neither a retry's answer nor the
    // receipt changes.
    app.call(
        reqwest::Method::PATCH,
        &format!("/api/v1/offers/{oil}"),
        Some(&s.staff.token),
        Some(json!({"name": "花生油", "price": 40})),
    )
    .await
    .assert_status(200);
    let later = redeem(&app, &s.staff.token, "till-1", body).await;
    assert_eq!(later.assert_status(201), &receipt);
    assert_eq!(
        (receipt["offer_name"].as_str(), receipt["amount"].as_i64()),
        (Some("食用油"), Some(30))
    );

    // Both sides see the receipt; nobody else does.
    let seen = app
        .get(&format!("/api/v1/redemptions/{id}"), &resident.token)
        .await;
    assert_eq!(seen.assert_status(200), &receipt);
    app.get(&format!("/api/v1/redemptions/{id}"), &s.staff.token)
        .await
        .assert_status(200);
    let stranger = funded_resident(&app, &s.w, "stranger", 0).await;
    app.get(&format!("/api/v1/redemptions/{id}"), &stranger.token)
        .await
        .assert_error(404, "NOT_FOUND");
    app.post(
        &format!("/api/v1/redemptions/{id}/reverse"),
        &stranger.token,
        json!({}),
    )
    .await
    .assert_error(404, "NOT_FOUND");

    // Staff reverse within the window: beans and stock come back, once.
    let reversed = app
        .post(
            &format!("/api/v1/redemptions/{id}/reverse"),
            &s.staff.token,
            json!({}),
        )
        .await;
    assert_eq!(reversed.assert_status(200)["status"], "reversed");
    assert_eq!(balance(&app, a, &resident).await, 100);
    let stock = offer::Entity::find_by_id(oil)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .stock;
    assert_eq!(stock, Some(3));
    app.post(
        &format!("/api/v1/redemptions/{id}/reverse"),
        &s.w.admin_a.token,
        json!({}),
    )
    .await
    .assert_error(409, "ALREADY_REVERSED");
    let reversal = ledger_transaction::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.kind == "reversal")
        .unwrap();
    assert_eq!(reversal.reverses_id, receipt["transaction_id"].as_i64());

    // Past the window, staff cannot; the community admin can.
    let code = pay_code_for(&app, a, &resident).await;
    let second = redeem(
        &app,
        &s.staff.token,
        "till-2",
        json!({"merchant_id": s.merchant_id, "pay_code": code, "amount": 15}),
    )
    .await;
    let second_id = second.assert_status(201)["redemption_id"].as_i64().unwrap();
    let row = redemption::Entity::find_by_id(second_id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut row: redemption::ActiveModel = row.into();
    row.created_at = Set(chrono::Utc::now() - chrono::Duration::hours(2));
    row.update(&app.state.db).await.unwrap();
    app.post(
        &format!("/api/v1/redemptions/{second_id}/reverse"),
        &s.staff.token,
        json!({}),
    )
    .await
    .assert_error(403, "REVERSAL_WINDOW_PASSED");
    app.post(
        &format!("/api/v1/redemptions/{second_id}/reverse"),
        &s.w.admin_a.token,
        json!({}),
    )
    .await
    .assert_status(200);
    assert_eq!(balance(&app, a, &resident).await, 100);

    // Residents browse what they can buy.
    let offers = app
        .get(&format!("/api/v1/communities/{a}/offers"), &resident.token)
        .await;
    assert_eq!(
        offers.assert_status(200)["items"][0]["merchant_name"],
        "惠民超市"
    );
    books_are_right(&app).await;
}

#[tokio::test]
async fn a_refused_first_sale_leaves_no_account_behind_for_the_next() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let a = s.w.community_a;
    let newcomer = funded_resident(&app, &s.w, "newcomer", 0).await;
    let accounts = || async {
        linli::entities::ledger_account::Entity::find()
            .count(&app.state.db)
            .await
            .unwrap()
    };
    let before = accounts().await;
    // No wallet yet: the sale opens the wallet and a till shard, is refused, and rolls back.
    let code = pay_code_for(&app, a, &newcomer).await;
    redeem(
        &app,
        &s.staff.token,
        "first",
        json!({"merchant_id": s.merchant_id, "pay_code": code, "amount": 10}),
    )
    .await
    .assert_error(409, "INSUFFICIENT_BEANS");
    assert_eq!(accounts().await, before);
    // Funded later, the resident pays: the accounts that rolled back were not remembered.
    fund(&app, &s.w, &newcomer, 50, "fund-newcomer").await;
    let code = pay_code_for(&app, a, &newcomer).await;
    redeem(
        &app,
        &s.staff.token,
        "second",
        json!({"merchant_id": s.merchant_id, "pay_code": code, "amount": 10}),
    )
    .await
    .assert_status(201);
    assert_eq!(balance(&app, a, &newcomer).await, 40);
    books_are_right(&app).await;
}

#[tokio::test]
async fn a_retry_of_a_sale_from_before_receipts_kept_names_gets_its_stored_receipt() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let a = s.w.community_a;
    let resident = funded_resident(&app, &s.w, "longtime", 100).await;
    let code = pay_code_for(&app, a, &resident).await;
    let body = json!({"merchant_id": s.merchant_id, "pay_code": code, "amount": 25});
    let first = redeem(&app, &s.staff.token, "till-old", body.clone()).await;
    let receipt = first.assert_status(201).clone();
    // Make it a row as written before the names were kept: the receipt lives only in the
    // JSON stored with its ledger transaction.
    let row = redemption::Entity::find_by_id(receipt["redemption_id"].as_i64().unwrap())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut old: redemption::ActiveModel = row.clone().into();
    old.merchant_name = Set(None);
    old.offer_name = Set(None);
    old.update(&app.state.db).await.unwrap();
    let tx = ledger_transaction::Entity::find_by_id(row.transaction_id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut stored: ledger_transaction::ActiveModel = tx.into();
    stored.response = Set(Some(receipt.to_string()));
    stored.update(&app.state.db).await.unwrap();

    let again = redeem(&app, &s.staff.token, "till-old", body).await;
    assert_eq!(again.assert_status(201), &receipt);
    let seen = app
        .get(
            &format!("/api/v1/redemptions/{}", receipt["redemption_id"]),
            &resident.token,
        )
        .await;
    assert_eq!(seen.assert_status(200), &receipt);
    assert_eq!(balance(&app, a, &resident).await, 75);
    books_are_right(&app).await;
}

#[tokio::test]
async fn a_reversal_puts_beans_back_into_the_lots_they_came_from() {
    use linli::entities::bean_lot;
    use linli::points::expiry::run_once;
    use sea_orm::QueryOrder;
    let app = spawn_app().await;
    let s = shop(&app).await;
    let a = s.w.community_a;
    let resident = funded_resident(&app, &s.w, "thrifty", 20).await;
    fund(&app, &s.w, &resident, 30, "fund-thrifty-2").await;
    let lots = || async {
        bean_lot::Entity::find()
            .order_by_asc(bean_lot::Column::Id)
            .all(&app.state.db)
            .await
            .unwrap()
    };
    let before = lots().await;
    assert_eq!(before.len(), 2);
    let (older, newer) = (before[0].clone(), before[1].clone());
    let sell = |key: &'static str, amount: i64| {
        let app = &app;
        let s = &s;
        let resident = &resident;
        async move {
            let code = pay_code_for(app, a, resident).await;
            let reply = redeem(
                app,
                &s.staff.token,
                key,
                json!({"merchant_id": s.merchant_id, "pay_code": code, "amount": amount}),
            )
            .await;
            reply.assert_status(201)["redemption_id"].as_i64().unwrap()
        }
    };
    let reverse = |id: i64, token: String| {
        let app = &app;
        async move {
            app.post(
                &format!("/api/v1/redemptions/{id}/reverse"),
                &token,
                json!({}),
            )
            .await
            .assert_status(200);
        }
    };

    // 25 beans: all 20 of the older lot, 5 of the newer. Reversed, each lot gets back what it
    // gave, with its own expiry; no new lot appears.
    let first = sell("lots-1", 25).await;
    let spent = lots().await;
    assert_eq!((spent[0].remaining, spent[1].remaining), (0, 25));
    reverse(first, s.staff.token.clone()).await;
    let back = lots().await;
    assert_eq!(back.len(), 2, "no new lot");
    assert_eq!((back[0].remaining, back[1].remaining), (20, 30));
    assert_eq!(back[0].expires_at, older.expires_at);
    assert_eq!(back[1].expires_at, newer.expires_at);
    assert_eq!(balance(&app, a, &resident).await, 50);

    // The older lot gives 10, then expires and its other 10 are swept. When the sale is
    // reversed afterwards, its 10 return to that expired lot and are swept in their turn.
    let second = sell("lots-2", 10).await;
    let mut expired: bean_lot::ActiveModel = lots().await[0].clone().into();
    expired.expires_at = Set(chrono::Utc::now() - chrono::Duration::days(1));
    expired.update(&app.state.db).await.unwrap();
    assert_eq!(run_once(&app.state).await.unwrap().beans_expired, 10);
    assert_eq!(balance(&app, a, &resident).await, 30);
    reverse(second, s.w.admin_a.token.clone()).await;
    assert_eq!(balance(&app, a, &resident).await, 40);
    assert_eq!(lots().await.len(), 2, "no new lot");
    assert_eq!(run_once(&app.state).await.unwrap().beans_expired, 10);
    assert_eq!(balance(&app, a, &resident).await, 30);
    assert_eq!(run_once(&app.state).await.unwrap().beans_expired, 0);
    books_are_right(&app).await;
}
