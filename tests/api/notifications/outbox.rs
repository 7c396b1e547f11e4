//! Notifications through the outbox: recorded with the change that causes them, delivered by
//! the worker, retried when WeChat fails for a while, dropped when it never will, and never
//! sent twice, also with two workers.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use linli::entities::outbox;
use linli::notifications::outbox::{Event, enqueue};
use linli::notifications::worker::{Pass, run_once};
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set};
use serde_json::json;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

async fn rows(app: &TestApp) -> Vec<outbox::Model> {
    outbox::Entity::find()
        .order_by_asc(outbox::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap()
}

fn send_reply(errcode: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"errcode": errcode, "errmsg": "x"}))
}

async fn sends(app: &TestApp) -> Vec<serde_json::Value> {
    app.wechat
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/cgi-bin/message/subscribe/send")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_review_decision_notifies_the_applicant() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let applicant = app.login("applicant").await;
    let m = verified_resident(&app, &applicant, w.community_a, &w.admin_a).await;
    assert!(m > 0);
    let queued = rows(&app).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].state, "pending");
    assert_eq!(queued[0].event, "membership_approved");
    assert_eq!(queued[0].user_id, applicant.id);

    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/subscribe/send"))
        .respond_with(send_reply(0))
        .expect(1)
        .mount(&app.wechat)
        .await;
    let pass = run_once(&app.state).await.unwrap();
    assert_eq!(
        pass,
        Pass {
            sent: 1,
            retried: 0,
            failed: 0
        }
    );
    assert_eq!(
        run_once(&app.state).await.unwrap(),
        Pass::default(),
        "sent once"
    );
    let sent = sends(&app).await;
    assert_eq!(sent[0]["touser"], applicant.openid);
    assert_eq!(sent[0]["template_id"], "TPL-APPROVED");
    assert_eq!(sent[0]["page"], "pages/me/index");
    assert_eq!(sent[0]["data"]["thing1"]["value"], "阳光社区");
    assert_eq!(sent[0]["data"]["phrase2"]["value"], "审核通过");

    // Admins see the delivery; another community's admin does not.
    let listed = app
        .get(
            &format!("/api/v1/communities/{}/notifications", w.community_a),
            &w.admin_a.token,
        )
        .await;
    assert_eq!(listed.assert_status(200)["items"][0]["state"], "sent");
    app.get(
        &format!("/api/v1/communities/{}/notifications", w.community_a),
        &w.admin_b.token,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.get(
        &format!(
            "/api/v1/communities/{}/notifications?state=odd",
            w.community_a
        ),
        &w.admin_a.token,
    )
    .await
    .assert_error(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn transient_failures_are_retried_and_permanent_ones_are_not() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = app.login("transient").await;
    let b = app.login("refuser").await;
    verified_resident(&app, &a, w.community_a, &w.admin_a).await;
    verified_resident(&app, &b, w.community_a, &w.admin_a).await;
    // A's message meets a broken WeChat; B has refused subscriptions (43101).
    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/subscribe/send"))
        .and(body_partial_json(json!({"touser": a.openid})))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/subscribe/send"))
        .and(body_partial_json(json!({"touser": b.openid})))
        .respond_with(send_reply(43101))
        .with_priority(1)
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/subscribe/send"))
        .respond_with(send_reply(0))
        .with_priority(2)
        .mount(&app.wechat)
        .await;

    let pass = run_once(&app.state).await.unwrap();
    assert_eq!(
        pass,
        Pass {
            sent: 0,
            retried: 1,
            failed: 1
        }
    );
    let after = rows(&app).await;
    let (ra, rb) = (&after[0], &after[1]);
    assert_eq!((ra.state.as_str(), ra.attempts), ("pending", 1));
    assert!(ra.next_attempt_at > chrono::Utc::now(), "backs off");
    assert!(ra.last_error.is_some());
    assert_eq!(rb.state, "failed");
    assert!(rb.last_error.as_deref().unwrap().contains("43101"));

    // Not due yet: nothing happens.
    assert_eq!(run_once(&app.state).await.unwrap(), Pass::default());
    // Once due, it goes; the refused one is never tried again.
    let mut due: outbox::ActiveModel = ra.clone().into();
    due.next_attempt_at = Set(chrono::Utc::now() - chrono::Duration::seconds(1));
    due.update(&app.state.db).await.unwrap();
    assert_eq!(
        run_once(&app.state).await.unwrap(),
        Pass {
            sent: 1,
            retried: 0,
            failed: 0
        }
    );
    let to_b = sends(&app)
        .await
        .into_iter()
        .filter(|s| s["touser"] == b.openid)
        .count();
    assert_eq!(to_b, 1);
}

#[tokio::test]
async fn a_message_gives_up_after_the_last_attempt() {
    let app = spawn_app_with(|s| s.notifications.max_attempts = 2).await;
    let w = world(&app).await;
    let u = app.login("unlucky").await;
    verified_resident(&app, &u, w.community_a, &w.admin_a).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/subscribe/send"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&app.wechat)
        .await;
    run_once(&app.state).await.unwrap();
    let row = rows(&app).await.remove(0);
    let mut due: outbox::ActiveModel = row.into();
    due.next_attempt_at = Set(chrono::Utc::now() - chrono::Duration::seconds(1));
    due.update(&app.state.db).await.unwrap();
    let pass = run_once(&app.state).await.unwrap();
    assert_eq!(pass.failed, 1);
    let row = rows(&app).await.remove(0);
    assert_eq!((row.state.as_str(), row.attempts), ("failed", 2));
}

#[tokio::test]
async fn two_workers_never_send_one_message_twice() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let users: Vec<TestUser> = {
        let mut v = Vec::new();
        for i in 0..12 {
            v.push(app.login(&format!("many{i}")).await);
        }
        v
    };
    // 36 messages, recorded the way capabilities record them.
    for _ in 0..3 {
        for u in &users {
            let fields = BTreeMap::from([("community_name", "阳光社区".to_owned())]);
            enqueue(
                &app.state.db,
                &app.state.settings.notifications,
                Event::MembershipApproved,
                u.id,
                Some(w.community_a),
                &fields,
            )
            .await
            .unwrap();
        }
    }
    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/subscribe/send"))
        .respond_with(send_reply(0).set_delay(Duration::from_millis(15)))
        .expect(36)
        .mount(&app.wechat)
        .await;
    // A second server process: its own state (pool, cache) over the same database.
    let other = linli::startup::build_state((*app.state.settings).clone())
        .await
        .unwrap();
    let mut total = Pass::default();
    for _ in 0..3 {
        let (x, y) = tokio::join!(run_once(&app.state), run_once(&other));
        for p in [x.unwrap(), y.unwrap()] {
            total.sent += p.sent;
            total.retried += p.retried;
            total.failed += p.failed;
        }
    }
    assert_eq!(
        total,
        Pass {
            sent: 36,
            retried: 0,
            failed: 0
        }
    );
    let mut per_user: HashMap<String, usize> = HashMap::new();
    for s in sends(&app).await {
        *per_user
            .entry(s["touser"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(per_user.values().all(|n| *n == 3), "{per_user:?}");
    assert!(rows(&app).await.iter().all(|r| r.state == "sent"));
    app.wechat.verify().await;
}

#[tokio::test]
async fn events_without_a_template_are_recorded_as_skipped() {
    let app = spawn_app_with(|s| {
        s.notifications.events.remove("membership_rejected");
    })
    .await;
    let w = world(&app).await;
    let u = app.login("skipped").await;
    let joined = app
        .post(
            &format!("/api/v1/communities/{}/join", w.community_a),
            &u.token,
            json!({}),
        )
        .await;
    let m = joined.assert_status(201)["membership_id"].as_i64().unwrap();
    app.post(
        &format!(
            "/api/v1/communities/{}/memberships/{m}/reject",
            w.community_a
        ),
        &w.admin_a.token,
        json!({"reason": "信息不全"}),
    )
    .await
    .assert_status(200);
    let row = rows(&app).await.remove(0);
    assert_eq!(row.state, "skipped");
    assert_eq!(run_once(&app.state).await.unwrap(), Pass::default());
    assert!(sends(&app).await.is_empty());
}
