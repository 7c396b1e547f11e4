//! GET and PATCH /api/v1/me, POST /api/v1/me/phone, GET /api/v1/me/export and DELETE
//! /api/v1/me: the profile, the bound phone (encrypted, masked to staff), export then erasure.

use reqwest::Method;
use sea_orm::EntityTrait;
use serde_json::json;
use wiremock::matchers::{body_json, body_partial_json, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

async fn fake_access_token(app: &TestApp, token: &str) {
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": token, "expires_in": 7200})),
        )
        .mount(&app.wechat)
        .await;
}

async fn fake_phone(app: &TestApp, code: &str, phone: &str) {
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .and(body_json(json!({"code": code})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {"phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86"}
        })))
        .mount(&app.wechat)
        .await;
}

#[tokio::test]
async fn a_bound_phone_is_encrypted_shown_whole_to_its_owner_and_masked_to_staff() {
    let app = spawn_app().await;
    let w = world(&app).await;
    fake_access_token(&app, "AT-1").await;
    fake_phone(&app, "phone-code", "13812341234").await;
    let resident = app.login("phoned").await;

    let bound = app
        .post(
            "/api/v1/me/phone",
            &resident.token,
            json!({"code": "phone-code"}),
        )
        .await;
    assert_eq!(bound.assert_status(200)["phone"], "13812341234");
    let me = app.get("/api/v1/me", &resident.token).await;
    assert_eq!(me.assert_status(200)["profile"]["phone"], "13812341234");

    let stored = linli::entities::user::Entity::find_by_id(resident.id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let enc = stored.phone_enc.clone().unwrap();
    assert!(!enc.contains("1381234"), "stored encrypted: {enc}");
    assert!(!stored.phone_hash.clone().unwrap().contains("1381234"));

    // Staff reviewing the application see it masked.
    app.post(
        &format!("/api/v1/communities/{}/join", w.community_a),
        &resident.token,
        json!({}),
    )
    .await
    .assert_status(201);
    let queue = app
        .get(
            &format!("/api/v1/communities/{}/memberships", w.community_a),
            &w.admin_a.token,
        )
        .await;
    let item = &queue.assert_status(200)["items"][0];
    assert_eq!(item["phone_masked"], "138****1234");
    assert!(!queue.body.to_string().contains("13812341234"));

    // The same number cannot be bound to a second account.
    fake_phone(&app, "phone-code-2", "13812341234").await;
    let other = app.login("copycat").await;
    app.post(
        "/api/v1/me/phone",
        &other.token,
        json!({"code": "phone-code-2"}),
    )
    .await
    .assert_error(409, "PHONE_TAKEN");
}

#[tokio::test]
async fn phone_binding_errors_and_a_stale_access_token() {
    let app = spawn_app().await;
    let user = app.login("p").await;
    // First token fetched is stale; WeChat says 40001; a new one is fetched and the call retried.
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "STALE", "expires_in": 7200})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&app.wechat)
        .await;
    fake_access_token(&app, "FRESH").await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .and(query_param("access_token", "STALE"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errcode": 40001})))
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .and(query_param("access_token", "FRESH"))
        .and(body_json(json!({"code": "bad"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errcode": 40029})))
        .mount(&app.wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/business/getuserphonenumber"))
        .and(query_param("access_token", "FRESH"))
        .and(body_json(json!({"code": "good"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "errcode": 0, "phone_info": {"purePhoneNumber": "13900001111"}
        })))
        .mount(&app.wechat)
        .await;

    app.post("/api/v1/me/phone", &user.token, json!({"code": "good"}))
        .await
        .assert_status(200);
    app.post("/api/v1/me/phone", &user.token, json!({"code": "bad"}))
        .await
        .assert_error(400, "WECHAT_CODE_INVALID");
    app.post("/api/v1/me/phone", &user.token, json!({"code": ""}))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    let me = app.get("/api/v1/me", &user.token).await;
    assert_eq!(me.body["profile"]["phone"], "13900001111");
}

#[tokio::test]
async fn profile_edits_are_validated() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let user = app.login("edit").await;
    let ok = app
        .call(
            Method::PATCH,
            "/api/v1/me",
            Some(&user.token),
            Some(json!({"nickname": "王阿姨", "avatar_url": "https://img.example/a.png"})),
        )
        .await;
    assert_eq!(ok.assert_status(200)["profile"]["nickname"], "王阿姨");

    let cases = [
        (json!({"nickname": "x".repeat(33)}), "nickname"),
        (json!({"nickname": ""}), "nickname"),
        (
            json!({"avatar_url": "http://plain.example/a.png"}),
            "avatar_url",
        ),
        (json!({"party_work_unit": "区财政局"}), "is_party_member"),
        (json!({"is_party_member": "yes"}), "is_party_member"),
        (json!({"favourite_colour": "red"}), "favourite_colour"),
    ];
    for (body, field) in cases {
        let reply = app
            .call(Method::PATCH, "/api/v1/me", Some(&user.token), Some(body))
            .await;
        reply.assert_error(422, "VALIDATION_FAILED");
        assert_eq!(reply.body["field"], field);
    }
    let party = app
        .call(
            Method::PATCH,
            "/api/v1/me",
            Some(&user.token),
            Some(json!({
                "is_party_member": true,
                "party_work_unit": "区财政局",
                "party_report_community_id": w.community_a
            })),
        )
        .await;
    let profile = &party.assert_status(200)["profile"];
    assert_eq!(profile["is_party_member"], true);
    assert_eq!(
        profile["party_report_community_id"].as_i64(),
        Some(w.community_a)
    );
    let me = app.get("/api/v1/me", &user.token).await;
    assert_eq!(
        me.body["profile"]["nickname"], "王阿姨",
        "failed edits wrote nothing"
    );
}

#[tokio::test]
async fn export_then_erase() {
    let app = spawn_app().await;
    let w = world(&app).await;
    fake_access_token(&app, "AT").await;
    fake_phone(&app, "pc", "13700002222").await;
    let user = app.login("leaver").await;
    app.post("/api/v1/me/phone", &user.token, json!({"code": "pc"}))
        .await
        .assert_status(200);
    app.call(
        Method::PATCH,
        "/api/v1/me",
        Some(&user.token),
        Some(json!({"nickname": "李大爷"})),
    )
    .await
    .assert_status(200);
    let membership = verified_resident(&app, &user, w.community_a, &w.admin_a).await;
    // A photo, and a nickname waiting for review.
    let part =
        reqwest::multipart::Part::bytes(b"\x89PNG\r\n\x1a\n0000".to_vec()).file_name("p.png");
    let res = app
        .http
        .post(format!(
            "{}/api/v1/communities/{}/uploads",
            app.address, w.community_a
        ))
        .bearer_auth(&user.token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    Mock::given(method("POST"))
        .and(path("/wxa/msg_sec_check"))
        .and(body_partial_json(json!({"content": "李大爷的新名字"})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"errcode": 0, "result": {"suggest": "review", "label": 20001}}),
            ),
        )
        .with_priority(1)
        .mount(&app.wechat)
        .await;
    app.call(
        Method::PATCH,
        "/api/v1/me",
        Some(&user.token),
        Some(json!({"nickname": "李大爷的新名字"})),
    )
    .await
    .assert_status(200);

    let export = app.get("/api/v1/me/export", &user.token).await;
    let data = export.assert_status(200);
    assert_eq!(data["uploads"].as_array().unwrap().len(), 1);
    assert_eq!(data["moderation"][0]["content"], "李大爷的新名字");
    assert_eq!(data["profile"]["phone"], "13700002222");
    assert_eq!(data["profile"]["nickname"], "李大爷");
    assert_eq!(data["openid"], user.openid);
    assert_eq!(
        data["memberships"][0]["membership_id"].as_i64(),
        Some(membership)
    );
    assert!(!data["sessions"].as_array().unwrap().is_empty());
    assert!(
        !data.to_string().contains("sk-leaver"),
        "session key never leaves"
    );

    app.call(Method::DELETE, "/api/v1/me", Some(&user.token), None)
        .await
        .assert_status(204);
    app.get("/api/v1/me", &user.token)
        .await
        .assert_error(401, "TOKEN_INVALID");
    app.call(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": user.refresh})),
    )
    .await
    .assert_error(401, "REFRESH_TOKEN_INVALID");

    let stored = linli::entities::user::Entity::find_by_id(user.id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.deleted_at.is_some());
    assert!(stored.nickname.is_none() && stored.phone_enc.is_none() && stored.phone_hash.is_none());
    assert!(stored.session_key_enc.is_none());
    assert_ne!(stored.openid, user.openid);
    // The membership row stays for the community's records, anonymous and inactive.
    let kept = linli::entities::membership::Entity::find_by_id(membership)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.status, "left");
    let queue = app
        .get(
            &format!(
                "/api/v1/communities/{}/memberships?status=left",
                w.community_a
            ),
            &w.admin_a.token,
        )
        .await;
    let item = &queue.assert_status(200)["items"][0];
    assert!(item["nickname"].is_null() && item["phone_masked"].is_null());

    // What they wrote is blanked, their private photos are gone, and the pending notice
    // about their approval will not be sent.
    let items = linli::entities::moderation_item::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(
        items
            .iter()
            .all(|i| !i.content.contains("李大爷") && i.status != "pending")
    );
    let files = linli::entities::upload::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(files.is_empty());
    let notices = linli::entities::outbox::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(
        notices
            .iter()
            .all(|n| n.state == "failed" && n.data == "{}")
    );

    // Coming back is a fresh start, and the number can be bound again.
    let back = app.login("leaver").await;
    assert_ne!(back.id, user.id);
    fake_phone(&app, "pc2", "13700002222").await;
    app.post("/api/v1/me/phone", &back.token, json!({"code": "pc2"}))
        .await
        .assert_status(200);
}
