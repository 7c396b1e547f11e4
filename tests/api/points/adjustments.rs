//! POST /api/v1/communities/{community_id}/points/adjustments and GET …/points/me: the 金豆
//! ledger's manual awards and deductions, idempotency under concurrency, the wallet never below
//! zero, lots spent oldest first, and the books verified.

use linli::entities::{bean_lot, ledger_account};
use linli::points::ledger::verify;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::support::points::{adjust, balance, books_are_right, transactions};

#[tokio::test]
async fn admins_award_and_deduct_with_a_reason_and_residents_see_it() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let resident = app.login("earner").await;
    verified_resident(&app, &resident, a, &w.admin_a).await;

    let award = adjust(
        &app,
        a,
        &w.admin_a.token,
        Some("k1"),
        json!({"user_id": resident.id, "amount": 30, "reason": "协助疫苗接种登记"}),
    )
    .await;
    let receipt = award.assert_status(201).clone();
    assert_eq!(receipt["balance_after"], 30);
    assert_eq!(receipt["kind"], "manual_award");
    assert_eq!(receipt["created_by"].as_i64(), Some(w.admin_a.id));
    adjust(
        &app,
        a,
        &w.admin_a.token,
        Some("k2"),
        json!({"user_id": resident.id, "amount": -5, "reason": "重复登记更正"}),
    )
    .await
    .assert_status(201);
    assert_eq!(balance(&app, a, &resident).await, 25);

    let history = app
        .get(
            &format!("/api/v1/communities/{a}/points/me/history"),
            &resident.token,
        )
        .await;
    let items = history.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["amount"], -5, "newest first");
    assert_eq!(items[0]["reason"], "重复登记更正");
    assert_eq!(items[1]["amount"], 30);

    let me = app
        .get(
            &format!("/api/v1/communities/{a}/points/me"),
            &resident.token,
        )
        .await;
    assert_eq!(me.body["lots"][0]["amount"], 25);

    let audit = app
        .get(
            &format!("/api/v1/communities/{a}/points/adjustments"),
            &w.admin_a.token,
        )
        .await;
    let trail = audit.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[1]["reason"], "协助疫苗接种登记");
    assert_eq!(trail[1]["created_by"].as_i64(), Some(w.admin_a.id));
    books_are_right(&app).await;
}

#[tokio::test]
async fn refusals_write_nothing() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let resident = app.login("r").await;
    verified_resident(&app, &resident, a, &w.admin_a).await;
    let applicant = app.login("pending").await;
    app.post(
        &format!("/api/v1/communities/{a}/join"),
        &applicant.token,
        json!({}),
    )
    .await
    .assert_status(201);
    let ok = json!({"user_id": resident.id, "amount": 10, "reason": "志愿服务"});

    adjust(&app, a, &w.admin_a.token, None, ok.clone())
        .await
        .assert_error(400, "INVALID_PARAMETER");
    adjust(&app, a, &w.admin_a.token, Some(&"x".repeat(65)), ok.clone())
        .await
        .assert_error(400, "INVALID_PARAMETER");
    adjust(&app, a, &resident.token, Some("k"), ok.clone())
        .await
        .assert_error(403, "FORBIDDEN");
    adjust(&app, a, &w.admin_b.token, Some("k"), ok.clone())
        .await
        .assert_error(404, "NOT_FOUND");
    for (body, field) in [
        (
            json!({"user_id": resident.id, "amount": 0, "reason": "零"}),
            "amount",
        ),
        (
            json!({"user_id": resident.id, "amount": 100001, "reason": "太多"}),
            "amount",
        ),
        (
            json!({"user_id": resident.id, "amount": 1.5, "reason": "小数"}),
            "amount",
        ),
        (
            json!({"user_id": resident.id, "amount": 5, "reason": ""}),
            "reason",
        ),
        (
            json!({"user_id": applicant.id, "amount": 5, "reason": "未认证"}),
            "user_id",
        ),
        (
            json!({"user_id": 999999, "amount": 5, "reason": "无此人"}),
            "user_id",
        ),
    ] {
        let reply = adjust(&app, a, &w.admin_a.token, Some("k"), body).await;
        reply.assert_error(422, "VALIDATION_FAILED");
        assert_eq!(reply.body["field"], field);
    }
    adjust(
        &app,
        a,
        &w.admin_a.token,
        Some("over"),
        json!({"user_id": resident.id, "amount": -1, "reason": "超额扣减"}),
    )
    .await
    .assert_error(409, "INSUFFICIENT_BEANS");
    assert_eq!(transactions(&app).await, 0);
    assert_eq!(balance(&app, a, &resident).await, 0);
    books_are_right(&app).await;
}

#[tokio::test]
async fn one_key_moves_beans_once() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let resident = app.login("once").await;
    verified_resident(&app, &resident, a, &w.admin_a).await;
    let body = json!({"user_id": resident.id, "amount": 7, "reason": "社区清洁"});

    // 50 at once with one key: one transaction, 50 identical answers.
    let path = format!("/api/v1/communities/{a}/points/adjustments");
    let shots = (0..50)
        .map(|_| (path.clone(), Some("same-key".to_owned()), body.clone()))
        .collect();
    let answers: Vec<(u16, Value)> = app
        .post_all(&w.admin_a.token, shots)
        .await
        .into_iter()
        .map(|r| (r.status.as_u16(), r.body))
        .collect();
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "{:?}",
        answers.iter().find(|a| *a != &answers[0])
    );
    assert_eq!(answers[0].0, 201);
    assert_eq!(transactions(&app).await, 1);
    assert_eq!(balance(&app, a, &resident).await, 7);

    // The same key for something else is refused, and moves nothing.
    adjust(
        &app,
        a,
        &w.admin_a.token,
        Some("same-key"),
        json!({"user_id": resident.id, "amount": 70, "reason": "社区清洁"}),
    )
    .await
    .assert_error(409, "IDEMPOTENCY_KEY_REUSED");
    // Another admin's identical key is their own.
    let other_admin = app.login("admin-a2").await;
    app.grant(&other_admin, linli::auth::roles::Role::CommunityAdmin, a)
        .await;
    adjust(&app, a, &other_admin.token, Some("same-key"), body)
        .await
        .assert_status(201);
    assert_eq!(balance(&app, a, &resident).await, 14);
    books_are_right(&app).await;
}

#[tokio::test]
async fn a_wallet_never_goes_below_zero_under_a_rush() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let resident = app.login("target").await;
    verified_resident(&app, &resident, a, &w.admin_a).await;
    adjust(
        &app,
        a,
        &w.admin_a.token,
        Some("fund"),
        json!({"user_id": resident.id, "amount": 100, "reason": "充值"}),
    )
    .await
    .assert_status(201);

    // 200 deductions of 10 against 100, all at once, each its own key.
    let path = format!("/api/v1/communities/{a}/points/adjustments");
    let shots = (0..200)
        .map(|i| {
            let body = json!({"user_id": resident.id, "amount": -10, "reason": "并发扣减"});
            (path.clone(), Some(format!("rush-{i}")), body)
        })
        .collect();
    let replies = app.post_all(&w.admin_a.token, shots).await;
    for r in replies.iter().filter(|r| r.status.as_u16() == 201) {
        assert!(r.body["balance_after"].as_i64().unwrap() >= 0);
    }
    let won = wins(&replies, 201, 409, "INSUFFICIENT_BEANS");
    assert_eq!(won, 10);
    assert_eq!(balance(&app, a, &resident).await, 0);
    assert_eq!(transactions(&app).await, 11, "refusals wrote nothing");
    books_are_right(&app).await;
}

#[tokio::test]
async fn spending_takes_the_oldest_lots_first_and_verify_catches_tampering() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let resident = app.login("lots").await;
    verified_resident(&app, &resident, a, &w.admin_a).await;
    for (key, amount) in [("first", 10), ("second", 20)] {
        adjust(
            &app,
            a,
            &w.admin_a.token,
            Some(key),
            json!({"user_id": resident.id, "amount": amount, "reason": "奖励"}),
        )
        .await
        .assert_status(201);
    }
    // Make the later award the one that expires sooner.
    let lots = bean_lot::Entity::find()
        .order_by_asc(bean_lot::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap();
    let mut sooner: bean_lot::ActiveModel = lots[1].clone().into();
    sooner.expires_at = Set(lots[0].expires_at - chrono::Duration::days(100));
    sooner.update(&app.state.db).await.unwrap();

    adjust(
        &app,
        a,
        &w.admin_a.token,
        Some("spend"),
        json!({"user_id": resident.id, "amount": -25, "reason": "扣减"}),
    )
    .await
    .assert_status(201);
    let lots = bean_lot::Entity::find()
        .order_by_asc(bean_lot::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(
        (lots[0].remaining, lots[1].remaining),
        (5, 0),
        "soonest-expiring spent first"
    );
    books_are_right(&app).await;

    // Lots holding less than the balance (a broken book) refuse a spend they cannot cover,
    // and nothing is written.
    let before = transactions(&app).await;
    app.state
        .db
        .execute_unprepared(&format!(
            "UPDATE bean_lots SET remaining = 2 WHERE id = {}",
            lots[0].id
        ))
        .await
        .unwrap();
    adjust(
        &app,
        a,
        &w.admin_a.token,
        Some("short"),
        json!({"user_id": resident.id, "amount": -4, "reason": "扣减"}),
    )
    .await
    .assert_status(500);
    assert_eq!(transactions(&app).await, before);
    app.state
        .db
        .execute_unprepared(&format!(
            "UPDATE bean_lots SET remaining = 5 WHERE id = {}",
            lots[0].id
        ))
        .await
        .unwrap();
    books_are_right(&app).await;

    // The spend kept what each lot gave (20 and 5); a record that disagrees with the debit is
    // reported.
    let tamper = |delta: i64| {
        format!(
            "UPDATE bean_lot_spends SET amount = amount + {delta} WHERE lot_id = {}",
            lots[0].id
        )
    };
    app.state.db.execute_unprepared(&tamper(1)).await.unwrap();
    let problems = verify(&app.state.db).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("record 26 beans") && problems[0].contains("debited by 25"),
        "{problems:?}"
    );
    app.state.db.execute_unprepared(&tamper(-1)).await.unwrap();
    books_are_right(&app).await;

    // Someone edits a balance behind the ledger's back: verify says so.
    let wallet = ledger_account::Entity::find()
        .filter(ledger_account::Column::Kind.eq("wallet"))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    app.state
        .db
        .execute_unprepared(&format!(
            "UPDATE ledger_accounts SET balance = balance + 1 WHERE id = {}",
            wallet.id
        ))
        .await
        .unwrap();
    let problems = verify(&app.state.db).await.unwrap();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("postings sum to 5"));
    // And the database itself refuses a negative wallet.
    let negative = app
        .state
        .db
        .execute_unprepared(&format!(
            "UPDATE ledger_accounts SET balance = -1 WHERE id = {}",
            wallet.id
        ))
        .await;
    assert!(negative.is_err());
}
