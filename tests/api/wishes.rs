//! 微心愿: posting, review, the masked wall, the race for one wish, fulfilment with proof,
//! confirmation paying once, disputes, automatic release and the tenancy and input rules.

use linli::auth::roles::Role;
use linli::entities::{earning_award, outbox, wish, wish_claim};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::helpers::*;
// The balance under the name these tests read best with: the beans a volunteer was paid.
use crate::support::points::{balance as beans, books_are_right};
use crate::support::wishes::{due_in, review, step, wish_body};

struct Wall {
    w: World,
    poster: TestUser,
}

/// WeChat's content check: texts with 赌博 are risky, texts with 加微信 go to review.
async fn content_rules(app: &TestApp) {
    use wiremock::matchers::{body_string_contains, method, path};
    use wiremock::{Mock, ResponseTemplate};
    for (word, suggest) in [("赌博", "risky"), ("加微信", "review")] {
        Mock::given(method("POST"))
            .and(path("/wxa/msg_sec_check"))
            .and(body_string_contains(word))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "errcode": 0, "errmsg": "ok", "result": {"suggest": suggest, "label": 20001}
            })))
            .with_priority(1)
            .mount(&app.wechat)
            .await;
    }
}

async fn wall(app: &TestApp) -> Wall {
    content_rules(app).await;
    let w = world(app).await;
    let poster = app.login("wang-poster").await;
    verified_resident(app, &poster, w.community_a, &w.admin_a).await;
    Wall { w, poster }
}

async fn volunteer(app: &TestApp, s: &Wall, name: &str) -> TestUser {
    let v = app.login(name).await;
    verified_resident(app, &v, s.w.community_a, &s.w.admin_a).await;
    v
}

async fn post_wish(app: &TestApp, s: &Wall, body: Value) -> Reply {
    app.post(
        &format!("/api/v1/communities/{}/wishes", s.w.community_a),
        &s.poster.token,
        body,
    )
    .await
}

/// Posts and publishes a wish; returns its id.
async fn published(app: &TestApp, s: &Wall) -> i64 {
    let id = post_wish(app, s, wish_body()).await.assert_status(201)["id"]
        .as_i64()
        .unwrap();
    review(app, id, &s.w.admin_a.token, None)
        .await
        .assert_status(200);
    id
}

async fn photo(app: &TestApp, s: &Wall, token: &str) -> String {
    crate::support::uploads::photo(app, s.w.community_a, token, "proof.jpg").await
}

/// The volunteer claims the wish and marks it fulfilled with a photo.
async fn claim_and_fulfil(app: &TestApp, s: &Wall, id: i64, v: &TestUser) {
    crate::support::wishes::claim_and_fulfil(app, s.w.community_a, id, v).await
}

async fn photo_refused(app: &TestApp, s: &Wall, token: &str) {
    let up = crate::support::uploads::upload(
        app,
        s.w.community_a,
        token,
        "proof.jpg",
        "image/jpeg",
        crate::support::uploads::JPEG.to_vec(),
    )
    .await;
    up.assert_error(404, "NOT_FOUND");
}

async fn pay_per_wish(app: &TestApp, s: &Wall, beans: i64) {
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/communities/{}/points/rules", s.w.community_a),
        Some(&s.w.admin_a.token),
        Some(json!({"event_kind": "wish_fulfilled", "beans_per_unit": beans})),
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn a_wish_goes_from_posting_to_thanks() {
    let app = spawn_app().await;
    let s = wall(&app).await;
    let a = s.w.community_a;
    pay_per_wish(&app, &s, 20).await;
    let v = volunteer(&app, &s, "li-volunteer").await;
    let other = volunteer(&app, &s, "zhao-volunteer").await;

    let posted = post_wish(&app, &s, wish_body()).await;
    let id = posted.assert_status(201)["id"].as_i64().unwrap();
    assert_eq!(posted.body["state"], "pending_review");
    assert_eq!(posted.body["beneficiary"], "王**");
    assert_eq!(posted.body["private"]["beneficiary_name"], "王小明");
    // Waiting for review: not on the wall, not visible to others, not for residents to list.
    let wall_url = format!("/api/v1/communities/{a}/wishes");
    let empty = app.get(&wall_url, &v.token).await;
    assert_eq!(empty.assert_status(200)["items"], json!([]));
    app.get(&format!("/api/v1/wishes/{id}"), &v.token)
        .await
        .assert_error(404, "NOT_FOUND");
    app.get(&format!("{wall_url}?state=pending_review"), &v.token)
        .await
        .assert_error(403, "FORBIDDEN");
    let queue = app
        .get(
            &format!("{wall_url}?state=pending_review"),
            &s.w.admin_a.token,
        )
        .await;
    assert_eq!(queue.assert_status(200)["items"][0]["id"], id);
    let read = posted.body["updated_at"].clone();
    step(&app, id, "approve", &v.token, json!({"updated_at": read}))
        .await
        .assert_error(404, "NOT_FOUND");
    step(&app, id, "approve", &s.w.admin_a.token, json!({}))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    // The poster edits while the admin reads: the admin must read the new text first.
    let mut edited = wish_body();
    edited["description"] = json!("独居多年，想听听戏曲节目。");
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/wishes/{id}"),
        Some(&s.poster.token),
        Some(edited),
    )
    .await
    .assert_status(200);
    step(
        &app,
        id,
        "approve",
        &s.w.admin_a.token,
        json!({"updated_at": read}),
    )
    .await
    .assert_error(409, "WISH_STATE_CONFLICT");
    review(&app, id, &s.w.admin_a.token, None)
        .await
        .assert_status(200);
    review(&app, id, &v.token, Some("不行"))
        .await
        .assert_error(403, "FORBIDDEN");
    review(&app, id, &s.w.admin_a.token, None)
        .await
        .assert_error(409, "WISH_STATE_CONFLICT");

    // On the wall the beneficiary is masked: no name, phone or address anywhere.
    let shown = app.get(&wall_url, &v.token).await;
    let text = shown.assert_status(200).to_string();
    assert_eq!(shown.body["items"][0]["beneficiary"], "王**");
    for secret in ["王小明", "13800001234", "阳光小区"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let seen = app.get(&format!("/api/v1/wishes/{id}"), &v.token).await;
    assert!(seen.assert_status(200)["private"].is_null());
    assert!(!seen.body.to_string().contains("王小明"));

    // The poster cannot claim their own wish; a volunteer can, and then sees the details.
    step(&app, id, "claim", &s.poster.token, json!({}))
        .await
        .assert_error(409, "WISH_NOT_CLAIMABLE");
    let claimed = step(&app, id, "claim", &v.token, json!({})).await;
    assert_eq!(claimed.assert_status(200)["state"], "claimed");
    assert_eq!(claimed.body["private"]["contact_phone"], "13800001234");
    assert_eq!(claimed.body["private"]["address"], "阳光小区3栋2单元501");
    step(&app, id, "claim", &other.token, json!({}))
        .await
        .assert_error(409, "WISH_ALREADY_CLAIMED");
    let not_mine = app.get(&format!("/api/v1/wishes/{id}"), &other.token).await;
    assert!(not_mine.assert_status(200)["private"].is_null());
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/wishes/{id}"),
        Some(&s.poster.token),
        Some(wish_body()),
    )
    .await
    .assert_error(409, "WISH_NOT_EDITABLE");
    step(&app, id, "withdraw", &s.poster.token, json!({}))
        .await
        .assert_error(409, "WISH_NOT_EDITABLE");
    // Staff see the phone masked.
    let staff_view = app
        .get(&format!("/api/v1/wishes/{id}"), &s.w.admin_a.token)
        .await;
    assert_eq!(
        staff_view.assert_status(200)["private"]["contact_phone"],
        "138****1234"
    );

    // Fulfilment needs proof; only the claimer gives it.
    step(
        &app,
        id,
        "fulfil",
        &v.token,
        json!({"note": "已送到", "proof_upload_ids": []}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    let proof = photo(&app, &s, &v.token).await;
    step(
        &app,
        id,
        "fulfil",
        &other.token,
        json!({"note": "我送的", "proof_upload_ids": [proof]}),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    let done = step(
        &app,
        id,
        "fulfil",
        &v.token,
        json!({"note": "收音机已送到王大爷家，调好了戏曲频道", "proof_upload_ids": [proof]}),
    )
    .await;
    assert_eq!(done.assert_status(200)["state"], "fulfilled");
    assert_eq!(done.body["proof_upload_ids"], json!([proof]));

    // The claimer cannot confirm their own claim; the poster confirms, once paid.
    step(&app, id, "confirm", &v.token, json!({}))
        .await
        .assert_error(403, "FORBIDDEN");
    step(&app, id, "thanks", &s.poster.token, json!({"note": "谢谢"}))
        .await
        .assert_error(409, "WISH_STATE_CONFLICT");
    let confirmed = step(&app, id, "confirm", &s.poster.token, json!({})).await;
    assert_eq!(confirmed.assert_status(200)["state"], "confirmed");
    assert_eq!(beans(&app, a, &v).await, 20);
    step(&app, id, "confirm", &s.poster.token, json!({}))
        .await
        .assert_status(200);
    assert_eq!(beans(&app, a, &v).await, 20);
    let history = app
        .get(
            &format!("/api/v1/communities/{a}/points/me/history"),
            &v.token,
        )
        .await;
    assert_eq!(history.assert_status(200)["items"][0]["ref_type"], "wish");
    assert_eq!(history.body["items"][0]["ref_id"], id);

    // 回访反馈: once, content-checked.
    step(
        &app,
        id,
        "thanks",
        &s.poster.token,
        json!({"note": "我在网上赌博赢了"}),
    )
    .await
    .assert_error(422, "CONTENT_RISKY");
    let thanked = step(
        &app,
        id,
        "thanks",
        &s.poster.token,
        json!({"note": "谢谢小李，收音机很好用！"}),
    )
    .await;
    assert_eq!(
        thanked.assert_status(200)["thanks_note"],
        "谢谢小李，收音机很好用！"
    );
    step(
        &app,
        id,
        "thanks",
        &s.poster.token,
        json!({"note": "再次感谢"}),
    )
    .await
    .assert_error(409, "WISH_STATE_CONFLICT");
    let confirmed_wall = app
        .get(&format!("{wall_url}?state=confirmed"), &other.token)
        .await;
    assert_eq!(
        confirmed_wall.assert_status(200)["items"][0]["thanks_note"],
        "谢谢小李，收音机很好用！"
    );

    // The poster was told at each step; the claim is on record.
    let told: Vec<String> = outbox::Entity::find()
        .filter(outbox::Column::UserId.eq(s.poster.id))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.event)
        .collect();
    for event in ["wish_reviewed", "wish_claimed", "wish_fulfilled"] {
        assert!(told.iter().any(|e| e == event), "{event} in {told:?}");
    }
    let claims = wish_claim::Entity::find()
        .filter(wish_claim::Column::WishId.eq(id))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(
        (claims[0].claimer_id, claims[0].status.as_str()),
        (v.id, "confirmed")
    );
    let mine = app.get("/api/v1/me/wishes", &s.poster.token).await;
    assert_eq!(mine.assert_status(200)["items"][0]["id"], id);
    books_are_right(&app).await;
}

#[tokio::test]
async fn a_hundred_volunteers_race_for_one_wish() {
    let app = spawn_app().await;
    let s = wall(&app).await;
    let id = published(&app, &s).await;
    let mut volunteers = Vec::new();
    for i in 0..100 {
        volunteers.push(volunteer(&app, &s, &format!("racer-{i}")).await);
    }
    let mut tasks = Vec::new();
    for v in &volunteers {
        let req = app
            .http
            .post(format!("{}/api/v1/wishes/{id}/claim", app.address))
            .bearer_auth(&v.token)
            .json(&json!({}));
        tasks.push(tokio::spawn(async move {
            TestApp::reply(req.send().await.unwrap()).await
        }));
    }
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    assert_eq!(wins(&replies, 200, 409, "WISH_ALREADY_CLAIMED"), 1);
    let winner = replies.iter().find(|r| r.status == 200).unwrap();
    let claims = wish_claim::Entity::find()
        .filter(wish_claim::Column::WishId.eq(id))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(
        Some(claims[0].claimer_id),
        winner.body["claimer_id"].as_i64()
    );
}

#[tokio::test]
async fn confirming_at_once_pays_exactly_once() {
    let app = spawn_app().await;
    let s = wall(&app).await;
    pay_per_wish(&app, &s, 15).await;
    let grid = app.login("grid-worker").await;
    app.grant(&grid, Role::GridWorker, s.w.community_a).await;
    let v = volunteer(&app, &s, "quick-volunteer").await;
    let id = published(&app, &s).await;
    claim_and_fulfil(&app, &s, id, &v).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let token = if i % 2 == 0 {
            s.poster.token.clone()
        } else {
            grid.token.clone()
        };
        let req = app
            .http
            .post(format!("{}/api/v1/wishes/{id}/confirm", app.address))
            .bearer_auth(token)
            .json(&json!({}));
        tasks.push(tokio::spawn(async move {
            TestApp::reply(req.send().await.unwrap()).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.assert_status(200)["state"], "confirmed");
    }
    assert_eq!(beans(&app, s.w.community_a, &v).await, 15);
    let awards = earning_award::Entity::find()
        .filter(earning_award::Column::RefId.eq(id))
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(awards, 1);
    books_are_right(&app).await;
}

#[tokio::test]
async fn overdue_claims_go_back_to_the_wall() {
    let app = spawn_app().await;
    let s = wall(&app).await;
    let v = volunteer(&app, &s, "slow-volunteer").await;
    let next = volunteer(&app, &s, "next-volunteer").await;
    let id = published(&app, &s).await;
    let claimed = step(&app, id, "claim", &v.token, json!({})).await;
    assert!(claimed.assert_status(200)["claim_deadline"].is_string());
    // Nothing is overdue yet.
    assert_eq!(
        linli::wishes::service::release_overdue(&app.state)
            .await
            .unwrap(),
        0
    );
    let row = wish::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut row: wish::ActiveModel = row.into();
    row.claim_deadline = Set(Some(chrono::Utc::now() - chrono::Duration::minutes(1)));
    row.update(&app.state.db).await.unwrap();
    assert_eq!(
        linli::wishes::service::release_overdue(&app.state)
            .await
            .unwrap(),
        1
    );
    let back = app.get(&format!("/api/v1/wishes/{id}"), &v.token).await;
    assert_eq!(back.assert_status(200)["state"], "published");
    assert!(back.body["private"].is_null());
    // The old claimer can no longer act on it; both sides were told.
    let proof = photo(&app, &s, &v.token).await;
    step(
        &app,
        id,
        "fulfil",
        &v.token,
        json!({"note": "晚了", "proof_upload_ids": [proof]}),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    for user in [v.id, s.poster.id] {
        let told = outbox::Entity::find()
            .filter(outbox::Column::UserId.eq(user))
            .filter(outbox::Column::Event.eq("wish_released"))
            .count(&app.state.db)
            .await
            .unwrap();
        assert_eq!(told, 1, "user {user}");
    }
    let claims = wish_claim::Entity::find()
        .filter(wish_claim::Column::WishId.eq(id))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(claims[0].status, "expired");
    // Back on the wall: the next volunteer claims it, round two.
    step(&app, id, "claim", &next.token, json!({}))
        .await
        .assert_status(200);
    // A claimer may also give it back themselves.
    step(&app, id, "release", &v.token, json!({}))
        .await
        .assert_error(403, "FORBIDDEN");
    let released = step(&app, id, "release", &next.token, json!({})).await;
    assert_eq!(released.assert_status(200)["state"], "published");
}

#[tokio::test]
async fn disputes_go_to_the_admin() {
    let app = spawn_app().await;
    let s = wall(&app).await;
    pay_per_wish(&app, &s, 10).await;
    let v = volunteer(&app, &s, "disputed-volunteer").await;
    let id = published(&app, &s).await;
    let fulfil = |token: String| {
        let app = &app;
        let s = &s;
        async move {
            step(app, id, "claim", &token, json!({}))
                .await
                .assert_status(200);
            let proof = photo(app, s, &token).await;
            step(
                app,
                id,
                "fulfil",
                &token,
                json!({"note": "完成", "proof_upload_ids": [proof]}),
            )
            .await
            .assert_status(200);
        }
    };
    fulfil(v.token.clone()).await;
    step(&app, id, "dispute", &s.poster.token, json!({"reason": ""}))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    let disputed = step(
        &app,
        id,
        "dispute",
        &s.poster.token,
        json!({"reason": "收音机没有送到"}),
    )
    .await;
    assert_eq!(disputed.assert_status(200)["state"], "disputed");
    step(&app, id, "resolve", &s.poster.token, json!({"done": false}))
        .await
        .assert_error(403, "FORBIDDEN");
    let reopened = step(
        &app,
        id,
        "resolve",
        &s.w.admin_a.token,
        json!({"done": false}),
    )
    .await;
    assert_eq!(reopened.assert_status(200)["state"], "published");
    assert_eq!(beans(&app, s.w.community_a, &v).await, 0);
    // The second time it is disputed, the admin finds it was done after all: paid once.
    fulfil(v.token.clone()).await;
    step(
        &app,
        id,
        "dispute",
        &s.poster.token,
        json!({"reason": "还没收到"}),
    )
    .await
    .assert_status(200);
    let done = step(
        &app,
        id,
        "resolve",
        &s.w.admin_a.token,
        json!({"done": true}),
    )
    .await;
    assert_eq!(done.assert_status(200)["state"], "confirmed");
    assert_eq!(beans(&app, s.w.community_a, &v).await, 10);
    books_are_right(&app).await;
}

#[tokio::test]
async fn the_wall_pages_filters_and_sorts() {
    let app = spawn_app().await;
    let s = wall(&app).await;
    let v = volunteer(&app, &s, "browser").await;
    let mut ids = Vec::new();
    for (i, (days, category)) in [
        (40, "生活用品"),
        (10, "助医"),
        (25, "生活用品"),
        (5, "陪伴"),
        (60, "维修"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = wish_body();
        body["title"] = json!(format!("心愿 {i}"));
        body["due_at"] = json!(due_in(days));
        body["category"] = json!(category);
        let id = post_wish(&app, &s, body).await.assert_status(201)["id"]
            .as_i64()
            .unwrap();
        review(&app, id, &s.w.admin_a.token, None)
            .await
            .assert_status(200);
        ids.push(id);
    }
    let url = format!("/api/v1/communities/{}/wishes", s.w.community_a);
    let collect = |order: &'static str| {
        let app = &app;
        let url = url.clone();
        let token = v.token.clone();
        async move {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut q = format!("{url}?order={order}&limit=2");
                if let Some(c) = &cursor {
                    q.push_str(&format!("&cursor={c}"));
                }
                let page = app.get(&q, &token).await;
                for item in page.assert_status(200)["items"].as_array().unwrap() {
                    seen.push(item["id"].as_i64().unwrap());
                }
                match page.body["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
            seen
        }
    };
    let newest = collect("newest").await;
    assert_eq!(newest, ids.iter().rev().copied().collect::<Vec<_>>());
    let soonest = collect("due").await;
    assert_eq!(soonest, vec![ids[3], ids[1], ids[2], ids[0], ids[4]]);
    let daily = app.get(&format!("{url}?category=生活用品"), &v.token).await;
    assert_eq!(
        daily.assert_status(200)["items"].as_array().unwrap().len(),
        2
    );
    app.get(&format!("{url}?order=random"), &v.token)
        .await
        .assert_error(400, "INVALID_PARAMETER");
    app.get(&format!("{url}?state=lost"), &v.token)
        .await
        .assert_error(400, "INVALID_PARAMETER");
    app.get(&format!("{url}?cursor=%%%"), &v.token)
        .await
        .assert_error(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn outsiders_bad_input_and_proxy_posting() {
    let app = spawn_app().await;
    let s = wall(&app).await;
    let id = published(&app, &s).await;
    // A volunteer of another community neither sees nor claims.
    let outsider = app.login("b-volunteer").await;
    verified_resident(&app, &outsider, s.w.community_b, &s.w.admin_b).await;
    app.get(&format!("/api/v1/wishes/{id}"), &outsider.token)
        .await
        .assert_error(404, "NOT_FOUND");
    step(&app, id, "claim", &outsider.token, json!({}))
        .await
        .assert_error(404, "NOT_FOUND");
    app.get(
        &format!("/api/v1/communities/{}/wishes", s.w.community_a),
        &outsider.token,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.get("/api/v1/wishes/999999", &s.poster.token)
        .await
        .assert_error(404, "NOT_FOUND");

    // Bad input: a clear error naming the field, and nothing written.
    let before = wish::Entity::find().count(&app.state.db).await.unwrap();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("estimated_cost", json!(201), "VALIDATION_FAILED"),
        ("estimated_cost", json!(-1), "VALIDATION_FAILED"),
        ("category", json!("奢侈品"), "VALIDATION_FAILED"),
        ("beneficiary_group", json!("富人"), "VALIDATION_FAILED"),
        ("due_at", json!(due_in(-1)), "VALIDATION_FAILED"),
        ("due_at", json!(due_in(400)), "VALIDATION_FAILED"),
        ("title", json!("长".repeat(41)), "VALIDATION_FAILED"),
        ("title", json!("  "), "VALIDATION_FAILED"),
        ("contact_phone", json!("call me"), "VALIDATION_FAILED"),
        ("beneficiary_name", json!(null), "VALIDATION_FAILED"),
        (
            "photo_upload_ids",
            json!(["not-an-upload"]),
            "VALIDATION_FAILED",
        ),
        ("description", json!("网上赌博群"), "CONTENT_RISKY"),
    ];
    for (field, value, code) in cases {
        let mut body = wish_body();
        body[field] = value;
        let r = post_wish(&app, &s, body).await;
        r.assert_error(422, code);
        if code == "VALIDATION_FAILED" {
            assert_eq!(r.body["field"], field, "{:?}", r.body);
        }
    }
    let mut unknown = wish_body();
    unknown["secret"] = json!(1);
    assert_eq!(post_wish(&app, &s, unknown).await.status.as_u16() / 100, 4);
    let malformed = app
        .http
        .post(format!(
            "{}/api/v1/communities/{}/wishes",
            app.address, s.w.community_a
        ))
        .bearer_auth(&s.poster.token)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        wish::Entity::find().count(&app.state.db).await.unwrap(),
        before
    );

    // Text WeChat wants a person to look at is flagged for the reviewing admin.
    let mut flagged = wish_body();
    flagged["description"] = json!("有需要的请加微信联系");
    let held = post_wish(&app, &s, flagged).await;
    let held_id = held.assert_status(201)["id"].as_i64().unwrap();
    assert!(held.body["check_label"].is_null());
    let seen = app
        .get(&format!("/api/v1/wishes/{held_id}"), &s.w.admin_a.token)
        .await;
    assert!(
        seen.assert_status(200)["check_label"]
            .as_str()
            .unwrap()
            .starts_with("wechat")
    );

    // 代录: only grid workers and building leaders, and only with consent.
    let mut proxy = wish_body();
    proxy["on_behalf"] = json!({"name": "李奶奶", "phone": "0871-6543210", "consent": true});
    post_wish(&app, &s, proxy.clone())
        .await
        .assert_error(403, "FORBIDDEN");
    let leader = app.login("building-leader").await;
    app.grant(&leader, Role::BuildingLeader, s.w.community_a)
        .await;
    let url = format!("/api/v1/communities/{}/wishes", s.w.community_a);
    let mut no_consent = proxy.clone();
    no_consent["on_behalf"]["consent"] = json!(false);
    app.post(&url, &leader.token, no_consent)
        .await
        .assert_error(422, "VALIDATION_FAILED");
    let made = app.post(&url, &leader.token, proxy).await;
    assert_eq!(made.assert_status(201)["beneficiary"], "李**");
    assert_eq!(made.body["private"]["proxy"], true);
    assert!(made.body["private"]["consent_at"].is_string());
    assert_eq!(made.body["private"]["beneficiary_name"], "李奶奶");

    // The poster edits before a claim (back to review), or withdraws.
    let mine = post_wish(&app, &s, wish_body()).await.assert_status(201)["id"]
        .as_i64()
        .unwrap();
    let mut changed = wish_body();
    changed["title"] = json!("想要一台新的收音机");
    let edited = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/wishes/{mine}"),
            Some(&s.poster.token),
            Some(changed.clone()),
        )
        .await;
    assert_eq!(edited.assert_status(200)["title"], "想要一台新的收音机");
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/wishes/{mine}"),
        Some(&leader.token),
        Some(changed),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    let rejected = review(&app, mine, &s.w.admin_a.token, Some("请写明需要的型号")).await;
    assert_eq!(rejected.assert_status(200)["state"], "rejected");
    assert_eq!(rejected.body["review_note"], "请写明需要的型号");
    let gone = step(&app, mine, "withdraw", &s.poster.token, json!({})).await;
    assert_eq!(gone.assert_status(200)["state"], "withdrawn");
    step(&app, mine, "claim", &s.poster.token, json!({}))
        .await
        .assert_error(409, "WISH_NOT_CLAIMABLE");
    // Withdrawn wishes are gone for everyone but their poster and staff.
    app.get(&format!("/api/v1/wishes/{mine}"), &leader.token)
        .await
        .assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn paired_units_claim_within_their_quota_and_report() {
    let app = spawn_app().await;
    let s = wall(&app).await;
    let (a, b) = (s.w.community_a, s.w.community_b);
    pay_per_wish(&app, &s, 10).await;
    let street = app.login("street-admin").await;
    app.grant(&street, Role::StreetAdmin, s.w.street_id).await;
    let units_url = format!("/api/v1/streets/{}/pair-units", s.w.street_id);
    let body = |quota: i64, ids: Value| {
        json!({"name": "区税务局第一党支部", "contact": "0871-1111111",
               "annual_quota": quota, "community_ids": ids})
    };
    app.post(&units_url, &s.w.admin_a.token, body(2, json!([a])))
        .await
        .assert_error(404, "NOT_FOUND");
    app.post(&units_url, &street.token, body(2, json!([a, 999_999])))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    app.post(&units_url, &street.token, body(-1, json!([a])))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    let unit = app
        .post(&units_url, &street.token, body(2, json!([a, b])))
        .await;
    let unit_id = unit.assert_status(201)["id"].as_i64().unwrap();
    // A member from outside the communities: works at the unit, lives elsewhere.
    let member = app.login("tax-officer").await;
    let other_member = app.login("tax-officer-2").await;
    for m in [&member, &other_member] {
        app.post(
            &format!("/api/v1/pair-units/{unit_id}/members"),
            &street.token,
            json!({"user_id": m.id}),
        )
        .await
        .assert_status(204);
    }
    app.post(
        &format!("/api/v1/pair-units/{unit_id}/members"),
        &street.token,
        json!({"user_id": 999_999}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    // Removing someone who is not a member names nothing.
    for nobody in [0, 999_999] {
        app.call(
            reqwest::Method::DELETE,
            &format!("/api/v1/pair-units/{unit_id}/members/{nobody}"),
            Some(&street.token),
            None,
        )
        .await
        .assert_error(404, "NOT_FOUND");
    }

    let ids = [
        published(&app, &s).await,
        published(&app, &s).await,
        published(&app, &s).await,
    ];
    // Members see the unit's wall and the wish, but claim only for the unit.
    let unit_wall = app
        .get(
            &format!("/api/v1/pair-units/{unit_id}/wishes"),
            &member.token,
        )
        .await;
    assert_eq!(
        unit_wall.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    app.get(&format!("/api/v1/wishes/{}", ids[0]), &member.token)
        .await
        .assert_status(200);
    step(&app, ids[0], "claim", &member.token, json!({}))
        .await
        .assert_error(403, "FORBIDDEN");
    let outsider = app.login("not-in-unit").await;
    app.get(
        &format!("/api/v1/pair-units/{unit_id}/wishes"),
        &outsider.token,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    step(
        &app,
        ids[0],
        "claim",
        &s.poster.token,
        json!({"unit_id": unit_id}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");

    // Quota 2: two members race for three wishes; exactly two claims stand.
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let token = if i % 2 == 0 {
            member.token.clone()
        } else {
            other_member.token.clone()
        };
        let req = app
            .http
            .post(format!("{}/api/v1/wishes/{id}/claim", app.address))
            .bearer_auth(token)
            .json(&json!({"unit_id": unit_id}));
        tasks.push(tokio::spawn(async move {
            TestApp::reply(req.send().await.unwrap()).await
        }));
    }
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    assert_eq!(wins(&replies, 200, 409, "UNIT_QUOTA_REACHED"), 2);
    let (won, claimer) = replies
        .iter()
        .zip(ids)
        .enumerate()
        .find(|(_, (r, _))| r.status == 200)
        .map(|(i, (_, id))| (id, if i % 2 == 0 { &member } else { &other_member }))
        .unwrap();
    // The claimer sees the details and fulfils; the poster confirms; the unit is credited.
    let seen = app
        .get(&format!("/api/v1/wishes/{won}"), &claimer.token)
        .await;
    assert_eq!(
        seen.assert_status(200)["private"]["beneficiary_name"],
        "王小明"
    );
    // Their proof goes to the wish's community though they do not live there.
    let proof = photo(&app, &s, &claimer.token).await;
    app.get(&format!("/api/v1/uploads/{proof}"), &claimer.token)
        .await
        .assert_status(200);
    photo_refused(&app, &s, &outsider.token).await;
    step(
        &app,
        won,
        "fulfil",
        &claimer.token,
        json!({"note": "单位送达", "proof_upload_ids": [proof]}),
    )
    .await
    .assert_status(200);
    step(&app, won, "confirm", &s.poster.token, json!({}))
        .await
        .assert_status(200);
    // No beans for a member who does not live there (nowhere to spend them): the unit is
    // credited in its report instead.
    let paid = earning_award::Entity::find()
        .filter(earning_award::Column::RefId.eq(won))
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(paid, 0);
    // Once confirmed, the claimer no longer sees the beneficiary's details.
    let after = app
        .get(&format!("/api/v1/wishes/{won}"), &claimer.token)
        .await;
    assert!(after.assert_status(200)["private"].is_null());
    let report = app
        .get(
            &format!("/api/v1/pair-units/{unit_id}/report"),
            &member.token,
        )
        .await;
    let r = report.assert_status(200);
    assert_eq!(
        (
            r["annual_quota"].as_i64(),
            r["quota_used"].as_i64(),
            r["fulfilled"].as_i64()
        ),
        (Some(2), Some(2), Some(1))
    );
    assert_eq!(r["community_ids"], json!([a, b]));
    let record = app.get("/api/v1/me/wish-claims", &claimer.token).await;
    let first = record.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["wish_id"] == won)
        .unwrap()
        .clone();
    assert_eq!(
        (
            first["wish_id"].as_i64(),
            first["status"].as_str(),
            first["unit_id"].as_i64()
        ),
        (Some(won), Some("confirmed"), Some(unit_id))
    );
    app.get(
        &format!("/api/v1/pair-units/{unit_id}/report?year=1900"),
        &member.token,
    )
    .await
    .assert_error(400, "INVALID_PARAMETER");
    // Removing a member ends their access.
    let gone = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/pair-units/{unit_id}/members/{}", outsider.id),
            Some(&member.token),
            None,
        )
        .await;
    gone.assert_error(404, "NOT_FOUND");
    books_are_right(&app).await;
}

#[tokio::test]
async fn staff_see_figures_attention_the_street_and_the_records() {
    let app = spawn_app().await;
    let s = wall(&app).await;
    let a = s.w.community_a;
    let v = volunteer(&app, &s, "steady-volunteer").await;
    let done = published(&app, &s).await;
    claim_and_fulfil(&app, &s, done, &v).await;
    step(&app, done, "confirm", &s.poster.token, json!({}))
        .await
        .assert_status(200);
    step(
        &app,
        done,
        "thanks",
        &s.poster.token,
        json!({"note": "=谢谢, \"小李\""}),
    )
    .await
    .assert_status(200);
    let late = published(&app, &s).await;
    let row = wish::Entity::find_by_id(late)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut row: wish::ActiveModel = row.into();
    row.due_at = Set(chrono::Utc::now() - chrono::Duration::hours(1));
    row.update(&app.state.db).await.unwrap();

    let figures = app
        .get(
            &format!("/api/v1/communities/{a}/wishes/figures?months=3"),
            &s.w.admin_a.token,
        )
        .await;
    let months = figures.assert_status(200)[0]["months"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(months.len(), 3);
    let now = &months[2];
    assert_eq!(
        (
            now["posted"].as_i64(),
            now["claimed"].as_i64(),
            now["fulfilled"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert!(now["average_days_to_fulfil"].as_f64().unwrap() < 1.0);
    app.get(&format!("/api/v1/communities/{a}/wishes/figures"), &v.token)
        .await
        .assert_error(403, "FORBIDDEN");
    app.get(
        &format!("/api/v1/communities/{a}/wishes/figures?months=99"),
        &s.w.admin_a.token,
    )
    .await
    .assert_error(400, "INVALID_PARAMETER");

    let attention = app
        .get(
            &format!("/api/v1/communities/{a}/wishes/attention"),
            &s.w.admin_a.token,
        )
        .await;
    let listed: Vec<i64> = attention
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, vec![late]);

    // The street sees every community; a community admin does not get the street's view.
    let street = app.login("street-viewer").await;
    app.grant(&street, Role::StreetAdmin, s.w.street_id).await;
    let url = format!(
        "/api/v1/streets/{}/wishes?state=published,confirmed",
        s.w.street_id
    );
    let street_wall = app.get(&url, &street.token).await;
    assert_eq!(
        street_wall.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.get(&url, &s.w.admin_a.token)
        .await
        .assert_error(404, "NOT_FOUND");
    let street_figures = app
        .get(
            &format!("/api/v1/streets/{}/wishes/figures", s.w.street_id),
            &street.token,
        )
        .await;
    assert_eq!(
        street_figures.assert_status(200).as_array().unwrap().len(),
        2
    );

    // The records, as CSV, with the beneficiary masked.
    let csv = app
        .http
        .get(format!(
            "{}/api/v1/communities/{a}/wishes/export",
            app.address
        ))
        .bearer_auth(&s.w.admin_a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("王**"));
    assert!(!text.contains("王小明"));
    assert!(text.contains("\"'=谢谢, \"\"小李\"\"\""), "{text}");
    app.get(&format!("/api/v1/communities/{a}/wishes/export"), &v.token)
        .await
        .assert_error(403, "FORBIDDEN");

    // A published wish can be shared: one code, resolved to the wish.
    use wiremock::matchers::{method, path};
    wiremock::Mock::given(method("POST"))
        .and(path("/wxa/getwxacodeunlimit"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_raw(crate::codes::PNG.to_vec(), "image/png"),
        )
        .expect(1)
        .mount(&app.wechat)
        .await;
    let shared = step(&app, late, "share-code", &v.token, json!({})).await;
    let scene = shared.assert_status(200)["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = step(&app, late, "share-code", &s.poster.token, json!({})).await;
    assert_eq!(again.assert_status(200)["scene"], scene.as_str());
    let opened = app.get(&format!("/api/v1/codes/{scene}"), &v.token).await;
    assert_eq!(opened.assert_status(200)["purpose"], "wish");
    assert_eq!(opened.body["target_id"], late);
    for _ in 0..2 {
        let image = app
            .http
            .get(format!(
                "{}/api/v1/wishes/{late}/share-code/image",
                app.address
            ))
            .bearer_auth(&v.token)
            .send()
            .await
            .unwrap();
        assert_eq!(image.status(), 200);
        assert_eq!(image.headers()["content-type"], "image/png");
    }
    step(&app, done, "share-code", &v.token, json!({}))
        .await
        .assert_error(409, "WISH_STATE_CONFLICT");
}

#[tokio::test]
async fn reads_use_short_lived_copies_and_writes_never_do() {
    let app = spawn_app_with(|s| s.server.read_cache_ms = 60_000).await;
    let s = wall(&app).await;
    let a = s.w.community_a;
    let v = volunteer(&app, &s, "cached-reader").await;
    let url = format!("/api/v1/communities/{a}/wishes");
    let empty = app.get(&url, &v.token).await;
    assert_eq!(empty.assert_status(200)["items"], json!([]));
    // Publishing is a write on a wish: the copied wall goes at once.
    let id = published(&app, &s).await;
    let shown = app.get(&url, &v.token).await;
    assert_eq!(shown.assert_status(200)["items"][0]["id"], id);

    // A grid worker whose role is taken away behind the server's back: reads may be served
    // from the copy for a while, but a write asks the database and is refused.
    let grid = app.login("cached-grid").await;
    app.grant(&grid, Role::GridWorker, a).await;
    let figures = format!("/api/v1/communities/{a}/wishes/figures");
    app.get(&figures, &grid.token).await.assert_status(200);
    linli::entities::role_grant::Entity::delete_many()
        .filter(linli::entities::role_grant::Column::UserId.eq(grid.id))
        .exec(&app.state.db)
        .await
        .unwrap();
    app.get(&figures, &grid.token).await.assert_status(200);
    let proof = photo(&app, &s, &v.token).await;
    step(&app, id, "claim", &v.token, json!({}))
        .await
        .assert_status(200);
    step(
        &app,
        id,
        "fulfil",
        &v.token,
        json!({"note": "完成", "proof_upload_ids": [proof]}),
    )
    .await
    .assert_status(200);
    // No longer tied to the community at all: the write finds nothing there.
    step(&app, id, "confirm", &grid.token, json!({}))
        .await
        .assert_error(404, "NOT_FOUND");
    // Any successful write drops the copies: the next read sees the truth.
    app.get(&figures, &grid.token)
        .await
        .assert_error(404, "NOT_FOUND");

    // Logging out is a write: the old token stops working for reads at once.
    app.get("/api/v1/me", &v.token).await.assert_status(200);
    app.call(
        reqwest::Method::POST,
        "/api/v1/auth/logout",
        Some(&v.token),
        None,
    )
    .await
    .assert_status(204);
    app.get("/api/v1/me", &v.token)
        .await
        .assert_error(401, "TOKEN_INVALID");
}

#[tokio::test]
async fn the_release_job_leaves_no_stale_wall_copy() {
    let app = spawn_app_with(|s| s.server.read_cache_ms = 60_000).await;
    let s = wall(&app).await;
    let v = volunteer(&app, &s, "late-volunteer").await;
    let reader = volunteer(&app, &s, "wall-reader").await;
    let url = format!("/api/v1/communities/{}/wishes", s.w.community_a);
    let id = published(&app, &s).await;
    step(&app, id, "claim", &v.token, json!({}))
        .await
        .assert_status(200);
    // The first page, copied while the wish is claimed: it is not on the public wall.
    let before = app.get(&url, &reader.token).await;
    assert_eq!(before.assert_status(200)["items"], json!([]));
    // The claim runs out behind the server's back, and the job (no request) releases it.
    let row = wish::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut row: wish::ActiveModel = row.into();
    row.claim_deadline = Set(Some(chrono::Utc::now() - chrono::Duration::minutes(1)));
    row.update(&app.state.db).await.unwrap();
    assert_eq!(
        linli::wishes::service::release_overdue(&app.state)
            .await
            .unwrap(),
        1
    );
    let after = app.get(&url, &reader.token).await;
    assert_eq!(after.assert_status(200)["items"][0]["id"], id);
    assert_eq!(after.body["items"][0]["state"], "published");
}

#[tokio::test]
async fn an_erased_beneficiary_leaves_no_stale_wall_copy() {
    let app = spawn_app_with(|s| s.server.read_cache_ms = 60_000).await;
    let s = wall(&app).await;
    let reader = volunteer(&app, &s, "erasure-reader").await;
    let url = format!("/api/v1/communities/{}/wishes", s.w.community_a);
    let id = published(&app, &s).await;
    let before = app.get(&url, &reader.token).await;
    assert_eq!(before.assert_status(200)["items"][0]["id"], id);
    // The poster, who posted for themselves, erases their account (a write on no wish URL):
    // their unclaimed wish is withdrawn, and the copied first page must not show it.
    app.call(
        reqwest::Method::DELETE,
        "/api/v1/me",
        Some(&s.poster.token),
        None,
    )
    .await
    .assert_status(204);
    let after = app.get(&url, &reader.token).await;
    assert_eq!(after.assert_status(200)["items"], json!([]));
}

#[tokio::test]
async fn each_community_sets_its_own_categories_and_cap() {
    let app = spawn_app().await;
    let s = wall(&app).await;
    let url = format!("/api/v1/communities/{}/wishes/rules", s.w.community_a);
    let defaults = app.get(&url, &s.poster.token).await;
    assert_eq!(defaults.assert_status(200)["max_cost_yuan"], 200);
    assert_eq!(defaults.body["categories"][0], "生活用品");
    let ours = json!({"categories": ["生活用品", "理发"], "max_cost_yuan": 100, "claim_days": 3});
    app.call(
        reqwest::Method::PUT,
        &url,
        Some(&s.poster.token),
        Some(ours.clone()),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    for (field, bad) in [
        ("categories", json!([])),
        ("categories", json!(["理发", "理发"])),
        ("max_cost_yuan", json!(0)),
        ("claim_days", json!(90)),
    ] {
        let mut body = ours.clone();
        body[field] = bad;
        let r = app
            .call(
                reqwest::Method::PUT,
                &url,
                Some(&s.w.admin_a.token),
                Some(body),
            )
            .await;
        r.assert_error(422, "VALIDATION_FAILED");
        assert_eq!(r.body["field"], field);
    }
    let set = app
        .call(
            reqwest::Method::PUT,
            &url,
            Some(&s.w.admin_a.token),
            Some(ours.clone()),
        )
        .await;
    assert_eq!(set.assert_status(200), &ours);

    let mut haircut = wish_body();
    haircut["category"] = json!("理发");
    haircut["estimated_cost"] = json!(30);
    post_wish(&app, &s, haircut.clone())
        .await
        .assert_status(201);
    let mut school = wish_body();
    school["category"] = json!("学习用品");
    post_wish(&app, &s, school)
        .await
        .assert_error(422, "VALIDATION_FAILED");
    let mut costly = wish_body();
    costly["estimated_cost"] = json!(150);
    let r = post_wish(&app, &s, costly).await;
    r.assert_error(422, "VALIDATION_FAILED");
    assert_eq!(r.body["field"], "estimated_cost");
    // The claim deadline follows the community's days.
    let id = published(&app, &s).await;
    let v = volunteer(&app, &s, "three-day-volunteer").await;
    let claimed = step(&app, id, "claim", &v.token, json!({})).await;
    let deadline: chrono::DateTime<chrono::Utc> = claimed.assert_status(200)["claim_deadline"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let days = (deadline - chrono::Utc::now()).num_hours();
    assert!((71..=72).contains(&days), "{days} hours");
    // Community B keeps the defaults.
    let other = app
        .get(
            &format!("/api/v1/communities/{}/wishes/rules", s.w.community_b),
            &s.w.admin_b.token,
        )
        .await;
    assert_eq!(other.assert_status(200)["max_cost_yuan"], 200);
}

#[tokio::test]
async fn a_residents_wishes_are_in_their_export_and_go_with_their_account() {
    let app = spawn_app().await;
    let s = wall(&app).await;
    let open = published(&app, &s).await;
    let claimed = published(&app, &s).await;
    let v = volunteer(&app, &s, "erase-volunteer").await;
    step(&app, claimed, "claim", &v.token, json!({}))
        .await
        .assert_status(200);
    let mine = app.get("/api/v1/me/export", &s.poster.token).await;
    let wishes = mine.assert_status(200)["wishes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(wishes.len(), 2);
    assert_eq!(wishes[0]["beneficiary_name"], "王小明");
    assert_eq!(wishes[0]["contact_phone"], "13800001234");

    app.call(
        reqwest::Method::DELETE,
        "/api/v1/me",
        Some(&s.poster.token),
        None,
    )
    .await
    .assert_status(204);
    let gone = app
        .get(&format!("/api/v1/wishes/{open}"), &s.w.admin_a.token)
        .await;
    assert_eq!(gone.assert_status(200)["state"], "withdrawn");
    assert_eq!(gone.body["beneficiary"], "**");
    assert_eq!(gone.body["private"]["beneficiary_name"], "已注销用户");
    assert!(gone.body["private"]["contact_phone"].is_null());
    assert!(gone.body["private"]["address"].is_null());
    // The claimed one stays for the claimer to conclude, without the contact details.
    let kept = app
        .get(&format!("/api/v1/wishes/{claimed}"), &v.token)
        .await;
    assert_eq!(kept.assert_status(200)["state"], "claimed");
    assert!(kept.body["private"]["contact_phone"].is_null());
    assert!(!kept.body.to_string().contains("王小明"));
}

#[tokio::test]
async fn a_confirmation_whose_payment_was_lost_is_paid_once_by_the_job() {
    let app = spawn_app().await;
    let s = wall(&app).await;
    pay_per_wish(&app, &s, 12).await;
    let v = volunteer(&app, &s, "unpaid-volunteer").await;
    let id = published(&app, &s).await;
    claim_and_fulfil(&app, &s, id, &v).await;
    // As if the process stopped right after the confirmation committed.
    let row = wish::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut row: wish::ActiveModel = row.into();
    row.state = Set("confirmed".into());
    row.confirmed_at = Set(Some(chrono::Utc::now()));
    row.update(&app.state.db).await.unwrap();
    assert_eq!(beans(&app, s.w.community_a, &v).await, 0);
    let job = linli::wishes::service::pay_missed(&app.state)
        .await
        .unwrap();
    assert_eq!(job, 1);
    assert_eq!(beans(&app, s.w.community_a, &v).await, 12);
    assert_eq!(
        linli::wishes::service::pay_missed(&app.state)
            .await
            .unwrap(),
        0
    );
    step(&app, id, "confirm", &s.poster.token, json!({}))
        .await
        .assert_status(200);
    assert_eq!(beans(&app, s.w.community_a, &v).await, 12);
    books_are_right(&app).await;
}

/// A confirmation that committed is answered as confirmed even when the payment after it
/// fails; the release job pays it later, once.
#[tokio::test]
async fn a_confirmation_stands_when_its_payment_fails_and_the_job_pays_later() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let s = wall(&app).await;
    pay_per_wish(&app, &s, 12).await;
    let v = volunteer(&app, &s, "unpaid-volunteer").await;
    let id = published(&app, &s).await;
    claim_and_fulfil(&app, &s, id, &v).await;
    let before = beans(&app, s.w.community_a, &v).await;
    // Awards cannot be written for now (as if the database refused them after the commit).
    let postgres = std::env::var("LINLI_TEST_DATABASE_URL").is_ok();
    let (block, unblock) = if postgres {
        (
            "CREATE FUNCTION no_awards() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'blocked'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER no_awards BEFORE INSERT ON earning_awards FOR EACH ROW EXECUTE FUNCTION no_awards();",
            "DROP TRIGGER no_awards ON earning_awards; DROP FUNCTION no_awards();",
        )
    } else {
        (
            "CREATE TRIGGER no_awards BEFORE INSERT ON earning_awards BEGIN SELECT RAISE(ABORT, 'blocked'); END;",
            "DROP TRIGGER no_awards;",
        )
    };
    app.state.db.execute_unprepared(block).await.unwrap();
    let confirmed = step(&app, id, "confirm", &s.poster.token, json!({})).await;
    assert_eq!(confirmed.assert_status(200)["state"], "confirmed");
    assert_eq!(beans(&app, s.w.community_a, &v).await, before);
    app.state.db.execute_unprepared(unblock).await.unwrap();
    // The job pays what was left, and only once however often it runs.
    assert_eq!(
        linli::wishes::service::pay_missed(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        linli::wishes::service::pay_missed(&app.state)
            .await
            .unwrap(),
        0
    );
    assert_eq!(beans(&app, s.w.community_a, &v).await, before + 12);
    books_are_right(&app).await;
}
