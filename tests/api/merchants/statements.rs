//! GET /api/v1/merchants/{merchant_id}/statements[/{month}] and POST …/statements/{month}/settle:
//! monthly statements match the ledger and settle once, also for a street merchant serving
//! several communities (/api/v1/streets/{street_id}/merchants).

use linli::entities::redemption;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::support::merchants::*;
use crate::support::points::{balance, books_are_right};

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
    let (strings, sheet) = workbook(&bytes);
    assert!(
        strings.contains("茶叶, 一级") && strings.contains("应结算金豆"),
        "{strings}"
    );
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
