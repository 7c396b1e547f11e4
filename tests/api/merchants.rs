//! Merchants and counter redemption: the races for the last bean and the last item, every
//! refusal writing nothing, idempotent retries, receipts and reversals.

use linli::entities::{ledger_transaction, offer, pay_code, redemption};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set};
use serde_json::{Value, json};

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
async fn monthly_statements_match_the_ledger_and_settle_once() {
    use linli::entities::ledger_account;
    use sea_orm::{ColumnTrait, QueryFilter};
    let app = spawn_app().await;
    let s = shop(&app).await;
    let a = s.w.community_a;
    let resident = funded_resident(&app, &s.w, "monthly", 200).await;
    let tea = new_offer(&app, &s, json!({"name": "茶叶, 一级", "price": 25})).await;
    let mut ids = Vec::new();
    for (i, body) in [
        json!({"offer_id": tea}),
        json!({"offer_id": tea}),
        json!({"amount": 7}),
        json!({"amount": 9}),
    ]
    .into_iter()
    .enumerate()
    {
        let code = pay_code_for(&app, a, &resident).await;
        let mut b = json!({"merchant_id": s.merchant_id, "pay_code": code});
        for (k, v) in body.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = redeem(&app, &s.staff.token, &format!("m-{i}"), b).await;
        ids.push(r.assert_status(201)["redemption_id"].as_i64().unwrap());
    }
    app.post(
        &format!("/api/v1/redemptions/{}/reverse", ids[3]),
        &s.staff.token,
        json!({}),
    )
    .await
    .assert_status(200);
    // Put them all in last month (China time) so the month is over and can be settled.
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let now = chrono::Utc::now().with_timezone(&cst);
    use chrono::{Datelike, TimeZone};
    let first_of_month = cst
        .with_ymd_and_hms(now.year(), now.month(), 1, 12, 0, 0)
        .unwrap();
    let in_last_month = (first_of_month - chrono::Duration::days(3)).with_timezone(&chrono::Utc);
    let last_month = (first_of_month - chrono::Duration::days(3))
        .format("%Y-%m")
        .to_string();
    for id in &ids {
        let row = redemption::Entity::find_by_id(*id)
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        let mut row: redemption::ActiveModel = row.into();
        row.created_at = Set(in_last_month);
        row.update(&app.state.db).await.unwrap();
    }

    let url = format!(
        "/api/v1/merchants/{}/statements/{last_month}",
        s.merchant_id
    );
    let statement = app.get(&url, &s.staff.token).await;
    let st = statement.assert_status(200).clone();
    assert_eq!(
        (st["redeemed_count"].as_i64(), st["redeemed_beans"].as_i64()),
        (Some(3), Some(57))
    );
    assert_eq!(
        (st["reversed_count"].as_i64(), st["reversed_beans"].as_i64()),
        (Some(1), Some(9))
    );
    assert_eq!(st["by_offer"].as_array().unwrap().len(), 2);
    assert_eq!(st["by_day"][0]["beans"], 57);
    // The statement's total is what the ledger holds for the merchant.
    let till = || async {
        ledger_account::Entity::find()
            .filter(ledger_account::Column::Kind.eq("merchant"))
            .all(&app.state.db)
            .await
            .unwrap()
            .iter()
            .map(|a| a.balance)
            .sum::<i64>()
    };
    assert_eq!(till().await, st["net_beans"].as_i64().unwrap());

    let csv = app
        .http
        .get(format!("{}{url}?format=csv", app.address))
        .bearer_auth(&s.staff.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    assert!(text.contains("\"茶叶, 一级\",2,50"), "{text}");
    assert!(text.contains("应结算金豆,57"));

    // The same statement as an Excel workbook: its text cells hold the offer names.
    let xlsx = app
        .http
        .get(format!("{}{url}?format=xlsx", app.address))
        .bearer_auth(&s.staff.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        xlsx.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let bytes = xlsx.bytes().await.unwrap();
    let mut book = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut strings = String::new();
    std::io::Read::read_to_string(
        &mut book.by_name("xl/sharedStrings.xml").unwrap(),
        &mut strings,
    )
    .unwrap();
    assert!(
        strings.contains("茶叶, 一级") && strings.contains("应结算金豆"),
        "{strings}"
    );
    let mut sheet = String::new();
    std::io::Read::read_to_string(
        &mut book.by_name("xl/worksheets/sheet1.xml").unwrap(),
        &mut sheet,
    )
    .unwrap();
    assert!(sheet.contains("<v>57</v>"), "{sheet}");
    app.get(&format!("{url}?format=pdf"), &s.staff.token)
        .await
        .assert_error(400, "INVALID_PARAMETER");

    // Staff cannot settle; the admin can, once; the current month cannot be settled yet.
    app.post(&format!("{url}/settle"), &s.staff.token, json!({}))
        .await
        .assert_error(404, "NOT_FOUND");
    let settled = app
        .post(&format!("{url}/settle"), &s.w.admin_a.token, json!({}))
        .await;
    assert_eq!(settled.assert_status(200)["settled"]["amount"], 57);
    app.post(&format!("{url}/settle"), &s.w.admin_a.token, json!({}))
        .await
        .assert_error(409, "SETTLEMENT_NOT_ALLOWED");
    let this_month = now.format("%Y-%m").to_string();
    app.post(
        &format!(
            "/api/v1/merchants/{}/statements/{this_month}/settle",
            s.merchant_id
        ),
        &s.w.admin_a.token,
        json!({}),
    )
    .await
    .assert_error(409, "SETTLEMENT_NOT_ALLOWED");
    assert_eq!(till().await, 0);
    for bad in ["2026-13", "0000-01", "1999-12"] {
        app.get(
            &format!("/api/v1/merchants/{}/statements/{bad}", s.merchant_id),
            &s.staff.token,
        )
        .await
        .assert_error(400, "INVALID_PARAMETER");
    }
    app.get(&url, &s.w.admin_b.token)
        .await
        .assert_error(404, "NOT_FOUND");
    books_are_right(&app).await;
}

#[tokio::test]
async fn accepting_two_invitations_at_once_makes_one_member_of_staff() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let mut codes = Vec::new();
    for _ in 0..2 {
        let invite = app
            .post(
                &format!("/api/v1/merchants/{}/invites", s.merchant_id),
                &s.w.admin_a.token,
                json!({}),
            )
            .await;
        codes.push(
            invite.assert_status(201)["code"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let newcomer = app.login("eager").await;
    let shots = codes
        .into_iter()
        .map(|c| {
            (
                "/api/v1/merchant/staff/join".to_owned(),
                None,
                json!({"code": c}),
            )
        })
        .collect();
    let replies = app.post_all(&newcomer.token, shots).await;
    assert_eq!(wins(&replies, 200, 500, "never"), 2);
    let me = app.get("/api/v1/me", &newcomer.token).await;
    let staff_roles = me.assert_status(200)["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["role"] == "merchant_staff")
        .count();
    assert_eq!(staff_roles, 1);
}

async fn counter_pay(app: &TestApp, user: &TestUser, key: &str, body: Value) -> Reply {
    app.post_with_key("/api/v1/me/counter-payments", &user.token, key, body)
        .await
}

#[tokio::test]
async fn residents_pay_by_scanning_the_shops_counter_code() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let a = s.w.community_a;
    let resident = funded_resident(&app, &s.w, "scanner", 100).await;
    let codes = format!("/api/v1/merchants/{}/counter-codes", s.merchant_id);
    app.post(&codes, &resident.token, json!({}))
        .await
        .assert_error(404, "NOT_FOUND");
    let made = app.post(&codes, &s.staff.token, json!({})).await;
    let scene = made.assert_status(201)["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    // Staff can print it: the image asks WeChat for the shop's page.
    use wiremock::matchers::{body_partial_json, method, path};
    wiremock::Mock::given(method("POST"))
        .and(path("/wxa/getwxacodeunlimit"))
        .and(body_partial_json(
            json!({"scene": scene, "page": "pages/points/counter"}),
        ))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_raw(crate::codes::PNG.to_vec(), "image/png"),
        )
        .expect(1)
        .mount(&app.wechat)
        .await;
    let image = app
        .http
        .get(format!("{}/api/v1/codes/{scene}/image", app.address))
        .bearer_auth(&s.staff.token)
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), 200);
    app.get(&format!("/api/v1/codes/{scene}/image"), &resident.token)
        .await
        .assert_error(404, "NOT_FOUND");
    let opened = app
        .get(&format!("/api/v1/codes/{scene}"), &resident.token)
        .await;
    assert_eq!(opened.assert_status(200)["purpose"], "merchant_counter");
    assert_eq!(opened.body["target_id"], s.merchant_id);

    let paid = counter_pay(
        &app,
        &resident,
        "c-1",
        json!({"scene": scene, "amount": 30}),
    )
    .await;
    let receipt = paid.assert_status(201).clone();
    assert_eq!(receipt["channel"], "counter_code");
    assert_eq!(
        (receipt["amount"].as_i64(), receipt["community_id"].as_i64()),
        (Some(30), Some(a))
    );
    // A retry replays the receipt; the same key for another amount is refused.
    let before = transactions(&app).await;
    let again = counter_pay(
        &app,
        &resident,
        "c-1",
        json!({"scene": scene, "amount": 30}),
    )
    .await;
    assert_eq!(again.assert_status(201), &receipt);
    counter_pay(
        &app,
        &resident,
        "c-1",
        json!({"scene": scene, "amount": 31}),
    )
    .await
    .assert_error(409, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(balance(&app, a, &resident).await, 70);
    // The shop sees it come in.
    let list = app
        .get(
            &format!("/api/v1/merchants/{}/redemptions", s.merchant_id),
            &s.staff.token,
        )
        .await;
    let first = &list.assert_status(200)["items"][0];
    assert_eq!(
        (first["channel"].as_str(), first["amount"].as_i64()),
        (Some("counter_code"), Some(30))
    );
    app.get(
        &format!("/api/v1/merchants/{}/redemptions", s.merchant_id),
        &resident.token,
    )
    .await
    .assert_error(404, "NOT_FOUND");

    // Refusals write nothing: too much, a resident of a community the shop does not serve,
    // a code that is not a counter code, a malformed scene.
    counter_pay(
        &app,
        &resident,
        "c-2",
        json!({"scene": scene, "amount": 1000}),
    )
    .await
    .assert_error(409, "INSUFFICIENT_BEANS");
    let outsider = app.login("outsider-b").await;
    verified_resident(&app, &outsider, s.w.community_b, &s.w.admin_b).await;
    counter_pay(&app, &outsider, "c-3", json!({"scene": scene, "amount": 1}))
        .await
        .assert_error(403, "COMMUNITY_NOT_SERVED");
    counter_pay(
        &app,
        &resident,
        "c-4",
        json!({"scene": scene, "amount": 1, "community_id": s.w.community_b}),
    )
    .await
    .assert_error(403, "COMMUNITY_NOT_SERVED");
    let join = app
        .post(
            &format!("/api/v1/communities/{a}/codes"),
            &s.w.admin_a.token,
            json!({"purpose": "join_community"}),
        )
        .await;
    let join_scene = join.assert_status(201)["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    counter_pay(
        &app,
        &resident,
        "c-5",
        json!({"scene": join_scene, "amount": 1}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    counter_pay(
        &app,
        &resident,
        "c-6",
        json!({"scene": "../etc", "amount": 1}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.post(
        &format!("/api/v1/communities/{a}/codes"),
        &s.w.admin_a.token,
        json!({"purpose": "merchant_counter"}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    assert_eq!(transactions(&app).await, before);

    // Seven of twenty concurrent payments of 10 fit in the 70 left.
    let shots = (0..20)
        .map(|i| {
            (
                "/api/v1/me/counter-payments".to_owned(),
                Some(format!("rush-{i}")),
                json!({"scene": scene, "amount": 10}),
            )
        })
        .collect();
    let replies = app.post_all(&resident.token, shots).await;
    assert_eq!(wins(&replies, 201, 409, "INSUFFICIENT_BEANS"), 7);
    assert_eq!(balance(&app, a, &resident).await, 0);

    // Staff revoke the code: it stops working.
    app.post(
        &format!("/api/v1/codes/{scene}/revoke"),
        &s.staff.token,
        json!({}),
    )
    .await
    .assert_status(200);
    counter_pay(&app, &resident, "c-7", json!({"scene": scene, "amount": 1}))
        .await
        .assert_error(410, "CODE_REVOKED");
    books_are_right(&app).await;
}

#[tokio::test]
async fn a_street_merchant_serves_several_communities_and_settles_each() {
    use linli::auth::roles::Role;
    let app = spawn_app().await;
    let w = world(&app).await;
    let (a, b) = (w.community_a, w.community_b);
    let street_admin = app.login("street-admin").await;
    app.grant(&street_admin, Role::StreetAdmin, w.street_id)
        .await;
    let url = format!("/api/v1/streets/{}/merchants", w.street_id);
    let body = |ids: Value| {
        json!({"name": "街道便民店", "address": "拓东路8号", "category": "便民",
               "contact": "0871-7654321", "community_ids": ids})
    };
    app.post(&url, &w.admin_a.token, body(json!([a, b])))
        .await
        .assert_error(404, "NOT_FOUND");
    for bad in [json!([]), json!([a, 999_999])] {
        app.post(&url, &street_admin.token, body(bad))
            .await
            .assert_error(422, "VALIDATION_FAILED");
    }
    let made = app
        .post(&url, &street_admin.token, body(json!([a, b, a])))
        .await;
    assert_eq!(made.assert_status(201)["community_ids"], json!([a, b]));
    let merchant_id = made.body["id"].as_i64().unwrap();
    for (community, admin) in [(a, &w.admin_a), (b, &w.admin_b)] {
        let listed = app
            .get(
                &format!("/api/v1/communities/{community}/merchants"),
                &admin.token,
            )
            .await;
        assert_eq!(listed.assert_status(200)["items"][0]["id"], merchant_id);
    }
    let invite = app
        .post(
            &format!("/api/v1/merchants/{merchant_id}/invites"),
            &street_admin.token,
            json!({}),
        )
        .await;
    let code = invite.assert_status(201)["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let staff = app.login("street-cashier").await;
    app.post(
        "/api/v1/merchant/staff/join",
        &staff.token,
        json!({"code": code}),
    )
    .await
    .assert_status(200);
    let offer = app
        .post(
            &format!("/api/v1/merchants/{merchant_id}/offers"),
            &staff.token,
            json!({"name": "酱油", "price": 15}),
        )
        .await;
    let offer_id = offer.assert_status(201)["id"].as_i64().unwrap();

    // A resident of each community spends their own community's beans there.
    let mut receipts = Vec::new();
    for (community, admin, name) in [(a, &w.admin_a, "resident-a"), (b, &w.admin_b, "resident-b")] {
        let r = app.login(name).await;
        verified_resident(&app, &r, community, admin).await;
        let funded = app
            .http
            .post(format!(
                "{}/api/v1/communities/{community}/points/adjustments",
                app.address
            ))
            .bearer_auth(&admin.token)
            .header("Idempotency-Key", format!("fund-{name}"))
            .json(&json!({"user_id": r.id, "amount": 50, "reason": "志愿服务奖励"}))
            .send()
            .await
            .unwrap();
        assert_eq!(funded.status(), 201);
        let offers = app
            .get(&format!("/api/v1/communities/{community}/offers"), &r.token)
            .await;
        assert_eq!(offers.assert_status(200)["items"][0]["id"], offer_id);
        let code = pay_code_for(&app, community, &r).await;
        let sold = redeem(
            &app,
            &staff.token,
            &format!("street-{name}"),
            json!({"merchant_id": merchant_id, "pay_code": code, "offer_id": offer_id}),
        )
        .await;
        assert_eq!(sold.assert_status(201)["community_id"], community);
        receipts.push(sold.body["redemption_id"].as_i64().unwrap());
        assert_eq!(balance(&app, community, &r).await, 35);
    }

    // Last month's statement shows each community's share; settling moves each share in
    // that community's own books.
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    use chrono::{Datelike, TimeZone};
    let now = chrono::Utc::now().with_timezone(&cst);
    let first = cst
        .with_ymd_and_hms(now.year(), now.month(), 1, 12, 0, 0)
        .unwrap();
    let earlier = first - chrono::Duration::days(3);
    for id in &receipts {
        let row = redemption::Entity::find_by_id(*id)
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        let mut row: redemption::ActiveModel = row.into();
        row.created_at = Set(earlier.with_timezone(&chrono::Utc));
        row.update(&app.state.db).await.unwrap();
    }
    let month = earlier.format("%Y-%m").to_string();
    let url = format!("/api/v1/merchants/{merchant_id}/statements/{month}");
    let st = app.get(&url, &staff.token).await;
    assert_eq!(st.assert_status(200)["net_beans"], 30);
    assert_eq!(
        st.body["by_community"],
        json!([{"community_id": a, "count": 1, "beans": 15},
               {"community_id": b, "count": 1, "beans": 15}])
    );
    let settled = app
        .post(&format!("{url}/settle"), &street_admin.token, json!({}))
        .await;
    assert_eq!(settled.assert_status(200)["settled"]["amount"], 30);
    use linli::entities::ledger_account;
    use sea_orm::{ColumnTrait, QueryFilter};
    for community in [a, b] {
        let accounts = ledger_account::Entity::find()
            .filter(ledger_account::Column::CommunityId.eq(community))
            .all(&app.state.db)
            .await
            .unwrap();
        let of = |kind: &str| -> i64 {
            accounts
                .iter()
                .filter(|x| x.kind == kind)
                .map(|x| x.balance)
                .sum()
        };
        assert_eq!(
            (of("merchant"), of("settlement")),
            (0, 15),
            "community {community}"
        );
    }
    books_are_right(&app).await;
}

async fn edit_offer(app: &TestApp, token: &str, offer: i64, body: Value) -> Reply {
    app.call(
        reqwest::Method::PATCH,
        &format!("/api/v1/offers/{offer}"),
        Some(token),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn staff_edit_offers_and_bad_edits_change_nothing() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let rice = new_offer(
        &app,
        &s,
        json!({"name": "大米", "price": 50, "stock": 10, "per_resident_limit": 1}),
    )
    .await;
    let before = offer::Entity::find_by_id(rice)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();

    // Refused, each with its field, and the offer is as it was.
    for (body, field) in [
        (json!({"price": 0}), "price"),
        (json!({"name": "  "}), "name"),
        (json!({"stock": -1}), "stock"),
        (json!({"per_resident_limit": 0}), "per_resident_limit"),
        (
            json!({"valid_from": "2030-01-02T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}),
            "valid_until",
        ),
        (
            json!({"photo_upload_id": "no-such-upload"}),
            "photo_upload_id",
        ),
        (json!({"colour": "red"}), "colour"),
    ] {
        let reply = edit_offer(&app, &s.staff.token, rice, body.clone()).await;
        assert_eq!(reply.status, 422, "{body}: {:?}", reply.body);
        assert_eq!(reply.body["field"], field, "{body}");
    }
    let resident = funded_resident(&app, &s.w, "nosy", 0).await;
    edit_offer(&app, &resident.token, rice, json!({"price": 1}))
        .await
        .assert_error(404, "NOT_FOUND");
    let unchanged = offer::Entity::find_by_id(rice)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged, before);

    // A new name and price; `null` lifts the limit and the stock; what is left out stays.
    let edited = edit_offer(
        &app,
        &s.staff.token,
        rice,
        json!({"name": "东北大米", "price": 45, "per_resident_limit": null, "stock": null}),
    )
    .await;
    let edited = edited.assert_status(200);
    assert_eq!(edited["name"], "东北大米");
    assert_eq!(edited["price"], 45);
    assert_eq!(edited["per_resident_limit"], Value::Null);
    assert_eq!(edited["stock"], Value::Null);
    let after = offer::Entity::find_by_id(rice)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (after.valid_from, after.valid_until, after.active),
        (before.valid_from, before.valid_until, before.active)
    );
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
