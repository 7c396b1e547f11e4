//! Tenancy: a pending or rejected applicant is an outsider. Every community-scoped route gives
//! them what it gives someone with no tie at all (404); only the join flow stays open.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::support::wishes::wish_body;

/// Community A with a published wish and its share code, a photo, a merchant with an offer
/// and a join code; returns (wish id, upload id, join scene, merchant id).
async fn furnished(app: &TestApp, w: &World) -> (i64, String, String, i64) {
    let a = w.community_a;
    let poster = app.login("poster").await;
    verified_resident(app, &poster, a, &w.admin_a).await;
    let photo = crate::support::uploads::upload(
        app,
        a,
        &poster.token,
        "p.jpg",
        "image/jpeg",
        crate::support::uploads::JPEG.to_vec(),
    )
    .await;
    let upload_id = photo.assert_status(201)["id"].as_str().unwrap().to_owned();
    let mut body = wish_body();
    body["photo_upload_ids"] = json!([upload_id]);
    let posted = app
        .post(
            &format!("/api/v1/communities/{a}/wishes"),
            &poster.token,
            body,
        )
        .await;
    let wish_id = posted.assert_status(201)["id"].as_i64().unwrap();
    let seen = app
        .get(&format!("/api/v1/wishes/{wish_id}"), &w.admin_a.token)
        .await;
    app.post(
        &format!("/api/v1/wishes/{wish_id}/approve"),
        &w.admin_a.token,
        json!({"updated_at": seen.body["updated_at"]}),
    )
    .await
    .assert_status(200);
    app.post(
        &format!("/api/v1/wishes/{wish_id}/share-code"),
        &poster.token,
        json!({}),
    )
    .await
    .assert_status(200);
    let code = app
        .post(
            &format!("/api/v1/communities/{a}/codes"),
            &w.admin_a.token,
            json!({"purpose": "join_community", "valid_days": 30}),
        )
        .await;
    let scene = code.assert_status(201)["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    let made = app
        .post(
            &format!("/api/v1/communities/{a}/merchants"),
            &w.admin_a.token,
            json!({"name": "惠民超市", "address": "人民路1号", "category": "超市", "contact": "0871-1234567"}),
        )
        .await;
    let merchant_id = made.assert_status(201)["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/merchants/{merchant_id}/offers"),
        &w.admin_a.token,
        json!({"name": "大米 5kg", "price": 10}),
    )
    .await
    .assert_status(201);
    (wish_id, upload_id, scene, merchant_id)
}

#[tokio::test]
async fn pending_and_rejected_applicants_see_nothing_inside_the_community() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let (wish_id, upload_id, scene, merchant_id) = furnished(&app, &w).await;

    let pending = app.login("applicant").await;
    let joined = app
        .post(
            &format!("/api/v1/communities/{a}/join"),
            &pending.token,
            json!({}),
        )
        .await;
    assert_eq!(joined.assert_status(201)["status"], "pending");
    let rejected = app.login("refused").await;
    let joined = app
        .post(
            &format!("/api/v1/communities/{a}/join"),
            &rejected.token,
            json!({}),
        )
        .await;
    let m = joined.assert_status(201)["membership_id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/communities/{a}/memberships/{m}/reject"),
        &w.admin_a.token,
        json!({"reason": "不在本社区居住"}),
    )
    .await
    .assert_status(200);
    let stranger = app.login("stranger").await;

    let c = format!("/api/v1/communities/{a}");
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("{c}/wishes"), None),
        (Method::POST, format!("{c}/wishes"), Some(wish_body())),
        (Method::GET, format!("{c}/wishes/rules"), None),
        (Method::GET, format!("{c}/wishes/figures"), None),
        (Method::GET, format!("{c}/grids"), None),
        (Method::GET, format!("{c}/buildings"), None),
        (Method::GET, format!("{c}/households"), None),
        (Method::GET, format!("{c}/memberships"), None),
        (Method::GET, format!("{c}/role-grants"), None),
        (Method::GET, format!("{c}/moderation"), None),
        (Method::GET, format!("{c}/codes"), None),
        (Method::GET, format!("{c}/notifications"), None),
        (Method::GET, format!("{c}/merchants"), None),
        (Method::GET, format!("{c}/offers"), None),
        (Method::GET, format!("{c}/points/me"), None),
        (Method::GET, format!("{c}/points/me/history"), None),
        (Method::GET, format!("{c}/points/rules"), None),
        (Method::GET, format!("{c}/points/ranking"), None),
        (
            Method::PUT,
            format!("{c}/wishes/rules"),
            Some(json!({"categories": ["其他"], "max_cost_yuan": 100, "claim_days": 7})),
        ),
        (Method::GET, format!("/api/v1/wishes/{wish_id}"), None),
        (
            Method::POST,
            format!("/api/v1/wishes/{wish_id}/claim"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/wishes/{wish_id}/share-code"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/api/v1/wishes/{wish_id}/share-code/image"),
            None,
        ),
        (Method::GET, format!("/api/v1/uploads/{upload_id}"), None),
        (Method::GET, format!("/api/v1/codes/{scene}/image"), None),
        (
            Method::POST,
            format!("/api/v1/codes/{scene}/revoke"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/merchants/{merchant_id}/offers"),
            Some(json!({"name": "面粉", "price": 5})),
        ),
        (
            Method::POST,
            format!("/api/v1/merchants/{merchant_id}/counter-codes"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/merchants/{merchant_id}/invites"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/api/v1/merchants/{merchant_id}/statements/2026-11"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/merchants/{merchant_id}/offers"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/merchants/{merchant_id}/redemptions"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/merchants/{merchant_id}/staff"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/me/pay-code?community_id={a}"),
            None,
        ),
    ];
    for who in [&pending, &rejected, &stranger] {
        for (method, path, body) in &routes {
            let r = app
                .call(method.clone(), path, Some(&who.token), body.clone())
                .await;
            assert_eq!(r.status, 404, "{method} {path}: {:?}", r.body);
            r.assert_error(404, "NOT_FOUND");
        }
        let up = crate::support::uploads::upload(
            &app,
            a,
            &who.token,
            "x.jpg",
            "image/jpeg",
            crate::support::uploads::JPEG.to_vec(),
        )
        .await;
        up.assert_error(404, "NOT_FOUND");
    }

    // What the join flow needs stays open: the community's card, their own status (with the
    // reason of a refusal), and asking again after a refusal.
    app.get(&c, &pending.token).await.assert_status(200);
    let me = app.get("/api/v1/me", &pending.token).await;
    assert_eq!(me.assert_status(200)["memberships"][0]["status"], "pending");
    let me = app.get("/api/v1/me", &rejected.token).await;
    let mine = &me.assert_status(200)["memberships"][0];
    assert_eq!(mine["status"], "rejected");
    assert_eq!(mine["reject_reason"], "不在本社区居住");
    app.post(&format!("{c}/join"), &rejected.token, json!({}))
        .await
        .assert_status(201);
    // The share code itself is an opaque token anyone may resolve; it opens nothing.
    app.get(&format!("/api/v1/codes/{scene}"), &pending.token)
        .await
        .assert_status(200);

    // Verified, the same person is inside: the card of the wish is theirs to see.
    let found = app
        .get(&format!("{c}/memberships?status=pending"), &w.admin_a.token)
        .await;
    let items = found.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    let pending_id = items
        .iter()
        .find(|i| i["user_id"].as_i64() == Some(pending.id))
        .unwrap()["membership_id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("{c}/memberships/{pending_id}/approve"),
        &w.admin_a.token,
        json!({}),
    )
    .await
    .assert_status(200);
    app.get(&format!("/api/v1/wishes/{wish_id}"), &pending.token)
        .await
        .assert_status(200);
    app.get(&format!("{c}/offers"), &pending.token)
        .await
        .assert_status(200);
}
