//! The data export is all of the user's data: every column of the schema that holds a user id
//! is either read by the export or left out with a reason (`linli::users::coverage`), and a
//! user active in every capability finds each part filled.

use std::collections::BTreeSet;

use linli::users::coverage::{EXPORTED, NOT_EXPORTED, holds_user_id};
use reqwest::Method;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;

use crate::helpers::*;

/// Every (table, column) of the migrated schema, from the database itself.
async fn schema_columns(app: &TestApp) -> BTreeSet<(String, String)> {
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
        }
        DbBackend::Postgres => {
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema()"
        }
        other => panic!("unexpected backend {other:?}"),
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get::<String>("", "t").unwrap(),
                r.try_get::<String>("", "c").unwrap(),
            )
        })
        .filter(|(t, _)| t != "seaql_migrations")
        .collect()
}

#[tokio::test]
async fn every_user_id_column_is_exported_or_excluded_with_a_reason() {
    let app = spawn_app().await;
    let columns = schema_columns(&app).await;
    assert!(
        columns.len() > 100,
        "the schema walk found too little: {columns:?}"
    );
    let exported: BTreeSet<(String, String)> = EXPORTED
        .iter()
        .map(|(t, c)| (t.to_string(), c.to_string()))
        .collect();
    let excluded: BTreeSet<(String, String)> = NOT_EXPORTED
        .iter()
        .map(|(t, c, why)| {
            assert!(!why.is_empty());
            (t.to_string(), c.to_string())
        })
        .collect();
    assert!(exported.is_disjoint(&excluded));
    let holding: BTreeSet<(String, String)> = columns
        .iter()
        .filter(|(_, c)| holds_user_id(c))
        .cloned()
        .collect();
    let missing: Vec<_> = holding
        .iter()
        .filter(|tc| !exported.contains(*tc) && !excluded.contains(*tc))
        .collect();
    assert!(
        missing.is_empty(),
        "user-id columns neither in the export nor excluded with a reason \
         (src/users/coverage.rs): {missing:?}"
    );
    // The declaration names only what exists.
    let stale: Vec<_> = exported
        .union(&excluded)
        .filter(|tc| !columns.contains(*tc))
        .collect();
    assert!(
        stale.is_empty(),
        "declared but not in the schema: {stale:?}"
    );
}

#[tokio::test]
async fn the_export_holds_beans_claims_purchases_sales_and_notifications() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    app.call(
        Method::PUT,
        &format!("/api/v1/communities/{a}/points/rules"),
        Some(&w.admin_a.token),
        Some(json!({"event_kind": "wish_fulfilled", "beans_per_unit": 30})),
    )
    .await
    .assert_status(200);
    let poster = app.login("poster").await;
    verified_resident(&app, &poster, a, &w.admin_a).await;
    let me = app.login("volunteer").await;
    verified_resident(&app, &me, a, &w.admin_a).await;

    // A wish they claim, fulfil and are paid for.
    let made = app
        .post(
            &format!("/api/v1/communities/{a}/wishes"),
            &poster.token,
            json!({
                "title": "想要一台收音机", "description": "想听戏曲。", "category": "生活用品",
                "estimated_cost": 80, "beneficiary_group": "独居老人", "beneficiary_name": "王小明",
                "due_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
            }),
        )
        .await;
    let wish = made.assert_status(201)["id"].as_i64().unwrap();
    let seen = app
        .get(&format!("/api/v1/wishes/{wish}"), &w.admin_a.token)
        .await;
    app.post(
        &format!("/api/v1/wishes/{wish}/approve"),
        &w.admin_a.token,
        json!({"updated_at": seen.body["updated_at"]}),
    )
    .await
    .assert_status(200);
    app.post(
        &format!("/api/v1/wishes/{wish}/claim"),
        &me.token,
        json!({}),
    )
    .await
    .assert_status(200);
    let proof = crate::support::uploads::upload(
        &app,
        a,
        &me.token,
        "p.jpg",
        "image/jpeg",
        crate::support::uploads::JPEG.to_vec(),
    )
    .await;
    let proof = proof.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/v1/wishes/{wish}/fulfil"),
        &me.token,
        json!({"note": "送到了", "proof_upload_ids": [proof]}),
    )
    .await
    .assert_status(200);
    app.post(
        &format!("/api/v1/wishes/{wish}/confirm"),
        &poster.token,
        json!({}),
    )
    .await
    .assert_status(200);

    // They buy at a shop both ways, and also work at another shop's counter.
    let shop = |name: &'static str| {
        let app = &app;
        let token = w.admin_a.token.clone();
        async move {
            let made = app
                .post(
                    &format!("/api/v1/communities/{a}/merchants"),
                    &token,
                    json!({"name": name, "address": "人民路1号", "category": "超市", "contact": "0871-1234567"}),
                )
                .await;
            let m = made.assert_status(201)["id"].as_i64().unwrap();
            let invite = app
                .post(&format!("/api/v1/merchants/{m}/invites"), &token, json!({}))
                .await;
            (
                m,
                invite.assert_status(201)["code"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        }
    };
    let (m, code) = shop("惠民超市").await;
    let cashier = app.login("cashier").await;
    app.post(
        "/api/v1/merchant/staff/join",
        &cashier.token,
        json!({"code": code}),
    )
    .await
    .assert_status(200);
    let pay = app
        .get(&format!("/api/v1/me/pay-code?community_id={a}"), &me.token)
        .await;
    app.post_with_key(
        "/api/v1/merchant/redemptions",
        &cashier.token,
        "s1",
        json!({"merchant_id": m, "pay_code": pay.assert_status(200)["code"], "amount": 7}),
    )
    .await
    .assert_status(201);
    let counter = app
        .post(
            &format!("/api/v1/merchants/{m}/counter-codes"),
            &cashier.token,
            json!({}),
        )
        .await;
    let scene = counter.assert_status(201)["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post_with_key(
        "/api/v1/me/counter-payments",
        &me.token,
        "c1",
        json!({"scene": scene, "amount": 3}),
    )
    .await
    .assert_status(201);
    let (other, code) = shop("和平便利店").await;
    app.post(
        "/api/v1/merchant/staff/join",
        &me.token,
        json!({"code": code}),
    )
    .await
    .assert_status(200);
    let pay = app
        .get(
            &format!("/api/v1/me/pay-code?community_id={a}"),
            &poster.token,
        )
        .await;
    let fund = app
        .post_with_key(
            &format!("/api/v1/communities/{a}/points/adjustments"),
            &w.admin_a.token,
            "fund-poster",
            json!({"user_id": poster.id, "amount": 10, "reason": "志愿服务奖励"}),
        )
        .await;
    fund.assert_status(201);
    app.post_with_key(
        "/api/v1/merchant/redemptions",
        &me.token,
        "s2",
        json!({"merchant_id": other, "pay_code": pay.assert_status(200)["code"], "amount": 4}),
    )
    .await
    .assert_status(201);

    let export = app.get("/api/v1/me/export", &me.token).await;
    let data = export.assert_status(200);
    let beans = &data["beans"];
    assert_eq!(beans["wallets"][0]["community_id"].as_i64(), Some(a));
    assert_eq!(beans["wallets"][0]["balance"], 30 - 7 - 3);
    let moves: Vec<i64> = beans["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(moves, vec![30, -7, -3]);
    assert_eq!(beans["awards"][0]["granted"], 30);
    assert_eq!(beans["awards"][0]["event_kind"], "wish_fulfilled");
    let claims = data["wish_claims"].as_array().unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["wish_id"].as_i64(), Some(wish));
    assert_eq!(claims[0]["title"], "想要一台收音机");
    let bought = data["shopping"]["purchases"].as_array().unwrap();
    assert_eq!(bought.len(), 2);
    assert_eq!(bought[0]["channel"], "pay_code");
    assert_eq!(bought[0]["merchant_name"], "惠民超市");
    assert_eq!(bought[1]["channel"], "counter_code");
    assert_eq!(bought[1]["amount"], 3);
    let sold = data["shopping"]["sales_as_staff"].as_array().unwrap();
    assert_eq!(sold.len(), 1);
    assert_eq!(sold[0]["merchant_id"].as_i64(), Some(other));
    // The buyer at their counter is not theirs to export.
    assert!(sold[0].get("user_id").is_none());
    assert!(
        data["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["role"] == "merchant_staff")
    );
    assert!(!data["notifications"].as_array().unwrap().is_empty());
    assert!(
        data["uploads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == proof.as_str())
    );
}
