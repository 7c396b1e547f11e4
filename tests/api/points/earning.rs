//! PUT /api/v1/communities/{community_id}/points/rules and the awards they pay: earning follows
//! the rules and caps and pays once, also under concurrency; expired beans leave the wallet.

use linli::entities::bean_lot;
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::support::points::{adjust, balance, books_are_right};

/// PUT /api/v1/communities/{A}/points/rules as A's admin.
pub(super) async fn set_rule(app: &TestApp, w: &World, rule: Value) -> Reply {
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/communities/{}/points/rules", w.community_a),
        Some(&w.admin_a.token),
        Some(rule),
    )
    .await
}

/// An award for `minutes` of volunteering in community A, paid once per `key`.
pub(super) fn hours(
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
