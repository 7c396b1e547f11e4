//! The content check on what users publish (here: nicknames), and the moderation queue.

use reqwest::Method;
use serde_json::json;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

async fn verdict(app: &TestApp, text: &str, reply: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/wxa/msg_sec_check"))
        .and(body_partial_json(
            json!({"content": text, "version": 2, "scene": 1}),
        ))
        .respond_with(reply)
        .with_priority(1)
        .mount(&app.wechat)
        .await;
}

fn suggest(s: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"errcode": 0, "errmsg": "ok", "result": {"suggest": s, "label": 20001}}),
    )
}

async fn rename(app: &TestApp, user: &TestUser, name: &str) -> Reply {
    app.call(
        Method::PATCH,
        "/api/v1/me",
        Some(&user.token),
        Some(json!({"nickname": name})),
    )
    .await
}

async fn nickname(app: &TestApp, user: &TestUser) -> serde_json::Value {
    app.get("/api/v1/me", &user.token).await.body["profile"]["nickname"].clone()
}

#[tokio::test]
async fn verdicts_pass_review_risky_and_unreachable() {
    let app = spawn_app().await;
    let platform = app.login("platform").await;
    app.grant(&platform, linli::auth::roles::Role::PlatformAdmin, 0)
        .await;
    let user = app.login("writer").await;

    // pass: published at once; the check carried the author's openid.
    verdict(&app, "好邻居", suggest("pass")).await;
    rename(&app, &user, "好邻居").await.assert_status(200);
    assert_eq!(nickname(&app, &user).await, "好邻居");
    let sent = app.wechat.received_requests().await.unwrap();
    let check = sent
        .iter()
        .find(|r| r.url.path() == "/wxa/msg_sec_check")
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&check.body).unwrap();
    assert_eq!(body["openid"], user.openid);

    // risky: refused, nothing written.
    verdict(&app, "坏名字", suggest("risky")).await;
    let risky = rename(&app, &user, "坏名字").await;
    risky.assert_error(422, "CONTENT_RISKY");
    assert_eq!(risky.body["field"], "nickname");
    assert_eq!(nickname(&app, &user).await, "好邻居");

    // review: held, listed for a platform admin, applied on approval.
    verdict(&app, "待定名字", suggest("review")).await;
    let held = rename(&app, &user, "待定名字").await;
    assert_eq!(held.assert_status(200)["under_review"], json!(["nickname"]));
    assert_eq!(nickname(&app, &user).await, "好邻居");
    app.get("/api/v1/moderation", &user.token)
        .await
        .assert_error(403, "FORBIDDEN");
    let queue = app.get("/api/v1/moderation", &platform.token).await;
    let item = queue.assert_status(200)["items"][0].clone();
    assert_eq!(item["content"], "待定名字");
    assert_eq!(item["source"], "wechat_review");
    let first = item["id"].as_i64().unwrap();
    // Only the platform admin decides; once.
    app.post(
        &format!("/api/v1/moderation/{first}/approve"),
        &user.token,
        json!({}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.post(
        &format!("/api/v1/moderation/{first}/approve"),
        &platform.token,
        json!({}),
    )
    .await
    .assert_status(200);
    assert_eq!(nickname(&app, &user).await, "待定名字");
    app.post(
        &format!("/api/v1/moderation/{first}/approve"),
        &platform.token,
        json!({}),
    )
    .await
    .assert_error(409, "MODERATION_DECIDED");

    // WeChat unreachable: held too, never published unchecked.
    Mock::given(method("POST"))
        .and(path("/wxa/msg_sec_check"))
        .and(body_partial_json(json!({"content": "断网名字"})))
        .respond_with(ResponseTemplate::new(502))
        .with_priority(1)
        .mount(&app.wechat)
        .await;
    rename(&app, &user, "断网名字").await.assert_status(200);
    assert_eq!(nickname(&app, &user).await, "待定名字");
    let queue = app.get("/api/v1/moderation", &platform.token).await;
    let item = queue.assert_status(200)["items"][0].clone();
    assert_eq!(item["source"], "wechat_unreachable");
    let second = item["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/moderation/{second}/reject"),
        &platform.token,
        json!({"reason": "无法核实"}),
    )
    .await
    .assert_status(200);
    assert_eq!(nickname(&app, &user).await, "待定名字");
    let rejected = app
        .get("/api/v1/moderation?status=rejected", &platform.token)
        .await;
    assert_eq!(
        rejected.assert_status(200)["items"][0]["reason"],
        "无法核实"
    );
}

#[tokio::test]
async fn a_newer_nickname_retires_one_still_under_review() {
    let app = spawn_app().await;
    let platform = app.login("platform").await;
    app.grant(&platform, linli::auth::roles::Role::PlatformAdmin, 0)
        .await;
    let user = app.login("changer").await;
    verdict(&app, "旧的待审", suggest("review")).await;
    rename(&app, &user, "旧的待审").await.assert_status(200);
    rename(&app, &user, "新名字").await.assert_status(200);
    assert_eq!(nickname(&app, &user).await, "新名字");
    let queue = app.get("/api/v1/moderation", &platform.token).await;
    assert!(
        queue.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let retired = app
        .get("/api/v1/moderation?status=superseded", &platform.token)
        .await;
    let id = retired.assert_status(200)["items"][0]["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/moderation/{id}/approve"),
        &platform.token,
        json!({}),
    )
    .await
    .assert_error(409, "MODERATION_DECIDED");
    assert_eq!(nickname(&app, &user).await, "新名字");
}

#[tokio::test]
async fn development_mode_uses_the_local_word_list() {
    let app = spawn_app_with(|s| s.wechat.dev_login = true).await;
    let login = app.login_reply("dev:local").await;
    let token = login.assert_status(200)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = TestUser {
        id: 0,
        token,
        refresh: String::new(),
        openid: "dev_local".into(),
    };
    rename(&app, &user, "热心大妈").await.assert_status(200);
    rename(&app, &user, "网上赌博")
        .await
        .assert_error(422, "CONTENT_RISKY");
    let held = rename(&app, &user, "请加微信").await;
    assert_eq!(held.assert_status(200)["under_review"], json!(["nickname"]));
    assert_eq!(nickname(&app, &user).await, "热心大妈");
    // No call went to WeChat.
    assert!(app.wechat.received_requests().await.unwrap().is_empty());
}
