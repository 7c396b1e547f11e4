//! The 金豆 ledger: manual awards and deductions, idempotency under concurrency, the wallet
//! never below zero, lots spent oldest first, and the books verified.

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

async fn set_rule(app: &TestApp, w: &World, rule: Value) -> Reply {
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/communities/{}/points/rules", w.community_a),
        Some(&w.admin_a.token),
        Some(rule),
    )
    .await
}

fn hours(
    w: &World,
    user_id: i64,
    minutes: i64,
    key: &str,
) -> linli::points::earning::AwardRequest<'static> {
    linli::points::earning::AwardRequest {
        community_id: w.community_a,
        user_id,
        event: linli::points::earning::EarnEvent::ActivityHours,
        units: minutes,
        key: Box::leak(key.to_owned().into_boxed_str()),
        ref_type: Some("activity"),
        ref_id: Some(42),
    }
}

#[tokio::test]
async fn earning_follows_the_rules_and_caps_and_pays_once() {
    use linli::points::earning::award;
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let volunteer = app.login("volunteer").await;
    verified_resident(&app, &volunteer, a, &w.admin_a).await;
    set_rule(
        &app,
        &w,
        json!({"event_kind": "activity_hours", "beans_per_unit": 10,
        "daily_cap": 30, "monthly_cap": 50}),
    )
    .await
    .assert_status(200);
    set_rule(
        &app,
        &w,
        json!({"event_kind": "activity_hours", "beans_per_unit": -1}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    let rules = app
        .get(
            &format!("/api/v1/communities/{a}/points/rules"),
            &volunteer.token,
        )
        .await;
    assert_eq!(rules.assert_status(200)[0]["daily_cap"], 30);

    let first = award(&app.state, hours(&w, volunteer.id, 120, "activity:1:user"))
        .await
        .unwrap();
    assert_eq!((first.requested, first.granted), (20, 20));
    // Over the daily cap: recorded as capped, not lost from the record.
    let second = award(&app.state, hours(&w, volunteer.id, 120, "activity:2:user"))
        .await
        .unwrap();
    assert_eq!((second.requested, second.granted), (20, 10));
    let third = award(&app.state, hours(&w, volunteer.id, 60, "activity:3:user"))
        .await
        .unwrap();
    assert_eq!(
        (third.requested, third.granted, third.transaction_id),
        (10, 0, None)
    );
    // The same business key pays once.
    let again = award(&app.state, hours(&w, volunteer.id, 120, "activity:1:user"))
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(balance(&app, a, &volunteer).await, 30);

    // A new day: the daily cap resets, the monthly cap (50) still holds — unless yesterday
    // (China time) was last month.
    for done in linli::entities::earning_award::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
    {
        let earlier = done.created_at - chrono::Duration::days(1);
        let mut row: linli::entities::earning_award::ActiveModel = done.into();
        row.created_at = Set(earlier);
        row.update(&app.state.db).await.unwrap();
    }
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let now = chrono::Utc::now().with_timezone(&cst);
    let yesterday = now - chrono::Duration::days(1);
    use chrono::Datelike;
    let expected = if yesterday.month() == now.month() {
        20
    } else {
        30
    };
    let fourth = award(&app.state, hours(&w, volunteer.id, 180, "activity:4:user"))
        .await
        .unwrap();
    assert_eq!((fourth.requested, fourth.granted), (30, expected));
    let history = app
        .get(
            &format!("/api/v1/communities/{a}/points/me/history"),
            &volunteer.token,
        )
        .await;
    assert_eq!(history.assert_status(200)["items"][0]["kind"], "award");
    assert_eq!(history.body["items"][0]["ref_type"], "activity");
    books_are_right(&app).await;
}

#[tokio::test]
async fn concurrent_awards_respect_the_cap() {
    use linli::points::earning::award;
    let app = spawn_app().await;
    let w = world(&app).await;
    let volunteer = app.login("busy-volunteer").await;
    verified_resident(&app, &volunteer, w.community_a, &w.admin_a).await;
    set_rule(
        &app,
        &w,
        json!({"event_kind": "activity_hours", "beans_per_unit": 10, "daily_cap": 30}),
    )
    .await
    .assert_status(200);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let state = app.state.clone();
        let req = hours(&w, volunteer.id, 60, &format!("rush:{i}"));
        tasks.push(tokio::spawn(
            async move { award(&state, req).await.unwrap() },
        ));
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await.unwrap().granted;
    }
    assert_eq!(granted, 30);
    assert_eq!(balance(&app, w.community_a, &volunteer).await, 30);
    books_are_right(&app).await;
}

#[tokio::test]
async fn expired_beans_leave_the_wallet_and_residents_are_told_ahead() {
    use linli::points::expiry::{Pass, run_once};
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let resident = app.login("saver").await;
    verified_resident(&app, &resident, a, &w.admin_a).await;
    for (key, amount) in [("old", 10), ("soon", 20), ("fresh", 30)] {
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
    let lots = bean_lot::Entity::find()
        .order_by_asc(bean_lot::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    for (lot, expires) in [
        (&lots[0], now - chrono::Duration::days(1)),
        (&lots[1], now + chrono::Duration::days(10)),
    ] {
        let mut row: bean_lot::ActiveModel = lot.clone().into();
        row.expires_at = Set(expires);
        row.update(&app.state.db).await.unwrap();
    }
    let pass = run_once(&app.state).await.unwrap();
    assert_eq!(
        pass,
        Pass {
            wallets_expired: 1,
            beans_expired: 10,
            notices: 1
        }
    );
    assert_eq!(balance(&app, a, &resident).await, 50);
    // Nothing twice.
    assert_eq!(run_once(&app.state).await.unwrap(), Pass::default());
    let notices = linli::entities::outbox::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.event == "beans_expiring")
        .collect::<Vec<_>>();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].user_id, resident.id);
    assert!(notices[0].data.contains("\"20\""), "{}", notices[0].data);
    let history = app
        .get(
            &format!("/api/v1/communities/{a}/points/me/history"),
            &resident.token,
        )
        .await;
    assert_eq!(history.assert_status(200)["items"][0]["kind"], "expiry");
    assert_eq!(history.body["items"][0]["amount"], -10);
    books_are_right(&app).await;
}

fn ranked(body: &Value) -> Vec<(i64, i64)> {
    body["stars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["user_id"].as_i64().unwrap(), s["beans"].as_i64().unwrap()))
        .collect()
}

#[tokio::test]
async fn the_monthly_ranking_counts_earned_beans_and_rebuilds_from_the_ledger() {
    use linli::points::earning::award;
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let mut v = Vec::new();
    for name in ["star-1", "star-2", "star-3"] {
        let user = app.login(name).await;
        verified_resident(&app, &user, a, &w.admin_a).await;
        v.push(user);
    }
    set_rule(
        &app,
        &w,
        json!({"event_kind": "activity_hours", "beans_per_unit": 10}),
    )
    .await
    .assert_status(200);
    for (user, minutes) in [(&v[0], 120), (&v[1], 60), (&v[2], 180)] {
        award(
            &app.state,
            hours(&w, user.id, minutes, &format!("h:{}", user.id)),
        )
        .await
        .unwrap();
    }
    // Beans given by hand are not earned by volunteering: they do not rank.
    adjust(
        &app,
        a,
        &w.admin_a.token,
        Some("gift"),
        json!({"user_id": v[1].id, "amount": 100, "reason": "表彰"}),
    )
    .await
    .assert_status(201);

    app.call(
        reqwest::Method::PATCH,
        "/api/v1/me",
        Some(&v[2].token),
        Some(json!({"nickname": "小星"})),
    )
    .await
    .assert_status(200);
    let url = format!("/api/v1/communities/{a}/points/ranking");
    let first = app.get(&url, &v[0].token).await;
    first.assert_status(200);
    assert_eq!(
        ranked(&first.body),
        vec![(v[2].id, 30), (v[0].id, 20), (v[1].id, 10)]
    );
    assert_eq!(first.body["me"]["rank"], 2);
    assert_eq!(first.body["me"]["beans"], 20);
    assert_eq!(first.body["stars"][0]["rank"], 1);
    assert_eq!(first.body["stars"][0]["nickname"], "小星");

    // A new award lands in the ranking that is now cached.
    award(&app.state, hours(&w, v[1].id, 240, "h:more"))
        .await
        .unwrap();
    let second = app.get(&format!("{url}?limit=2"), &v[1].token).await;
    assert_eq!(
        ranked(second.assert_status(200)),
        vec![(v[1].id, 50), (v[2].id, 30)]
    );
    assert_eq!(second.body["me"]["rank"], 1);

    // The cache is not the record: a lost or wrong ranking is rebuilt from the ledger.
    let month = linli::calendar::month_of(chrono::Utc::now());
    let key = format!("rank:{a}:{month}");
    app.state
        .cache
        .zreplace(
            &key,
            &[("999".into(), 7)],
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    let wrong = app.get(&url, &v[0].token).await;
    assert_eq!(ranked(&wrong.body), vec![(999, 7)]);
    app.post(&format!("{url}/rebuild"), &v[0].token, json!({}))
        .await
        .assert_error(403, "FORBIDDEN");
    let rebuilt = app
        .post(&format!("{url}/rebuild"), &w.admin_a.token, json!({}))
        .await;
    assert_eq!(
        ranked(rebuilt.assert_status(200)),
        vec![(v[1].id, 50), (v[2].id, 30), (v[0].id, 20)]
    );
    app.state.cache.delete(&key).await.unwrap();
    let again = app.get(&url, &v[0].token).await;
    assert_eq!(ranked(&again.body), ranked(&rebuilt.body));

    // Another month is its own ranking; bad months and other communities are refused.
    let earlier = app.get(&format!("{url}?month=2020-01"), &v[0].token).await;
    assert_eq!(ranked(earlier.assert_status(200)), vec![]);
    assert!(earlier.body["me"].is_null());
    app.get(&format!("{url}?month=2026-13"), &v[0].token)
        .await
        .assert_error(400, "INVALID_PARAMETER");
    app.get(
        &format!("/api/v1/communities/{}/points/ranking", w.community_b),
        &v[0].token,
    )
    .await
    .assert_error(404, "NOT_FOUND");
}
