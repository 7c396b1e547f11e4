//! GET /api/v1/communities/{community_id}/points/ranking: the monthly ranking counts earned
//! beans and rebuilds from the ledger.

use serde_json::{Value, json};

use super::earning::{hours, set_rule};
use crate::helpers::*;
use crate::support::points::adjust;

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
