//! POST /api/v1/auth/login, /api/v1/auth/refresh and /api/v1/auth/logout: the login with WeChat,
//! token rotation and reuse detection, logout, and the rate limits on logging in.

use reqwest::Method;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn login_creates_the_user_once_and_keeps_the_session_key_on_the_server() {
    let app = spawn_app().await;
    app.wechat_session_reply(
        "c1",
        json!({"openid": "o-1", "unionid": "u-1", "session_key": "SECRET-SESSION-KEY"}),
    )
    .await;
    let first = app.login_reply("c1").await;
    let body = first.assert_status(200);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() <= 7200);
    assert!(!body.to_string().contains("SECRET-SESSION-KEY"));
    let id = body["user"]["id"].as_i64().unwrap();

    app.wechat_session_reply("c2", json!({"openid": "o-1", "session_key": "k2"}))
        .await;
    let again = app.login_reply("c2").await;
    assert_eq!(again.assert_status(200)["user"]["id"].as_i64(), Some(id));

    let stored = linli::entities::user::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    use sea_orm::EntityTrait;
    assert_eq!(stored.unionid.as_deref(), Some("u-1"), "unionid kept");
    let enc = stored.session_key_enc.unwrap();
    assert!(!enc.contains("k2"), "session key stored encrypted");
    assert_eq!(app.state.crypto.decrypt(&enc).unwrap(), "k2");
}

#[tokio::test]
async fn concurrent_first_logins_of_one_user_make_one_account() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let code = format!("twin-{i}");
        app.wechat_session_reply(&code, json!({"openid": "o-twin", "session_key": "k"}))
            .await;
        let http = app.http.clone();
        let url = format!("{}/api/v1/auth/login", app.address);
        tasks.push(tokio::spawn(async move {
            let res = http
                .post(url)
                .json(&json!({"code": code}))
                .send()
                .await
                .unwrap();
            TestApp::reply(res).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let reply = t.await.unwrap();
        ids.push(reply.assert_status(200)["user"]["id"].as_i64().unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[tokio::test]
async fn wechat_errors_are_mapped() {
    let app = spawn_app().await;
    let cases = [
        (40029, 400, "WECHAT_CODE_INVALID"),
        (40163, 400, "WECHAT_CODE_INVALID"),
        (45011, 429, "WECHAT_RATE_LIMITED"),
        (40226, 403, "WECHAT_USER_BLOCKED"),
        (-1, 503, "WECHAT_UNAVAILABLE"),
        (99999, 502, "WECHAT_ERROR"),
    ];
    for (errcode, status, code) in cases {
        let login_code = format!("bad-{errcode}");
        app.wechat_session_reply(&login_code, json!({"errcode": errcode, "errmsg": "x"}))
            .await;
        app.login_reply(&login_code)
            .await
            .assert_error(status, code);
    }
    // Nothing was written for any of them.
    use sea_orm::{EntityTrait, PaginatorTrait};
    let users = linli::entities::user::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(users, 0);
}

#[tokio::test]
async fn a_busy_wechat_is_retried_then_succeeds() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errcode": -1})))
        .up_to_n_times(2)
        .mount(&app.wechat)
        .await;
    app.wechat_session_reply("busy", json!({"openid": "o-b", "session_key": "k"}))
        .await;
    app.login_reply("busy").await.assert_status(200);
}

#[tokio::test]
async fn wechat_unreachable_or_garbled_is_503() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&app.wechat)
        .await;
    app.login_reply("x")
        .await
        .assert_error(503, "WECHAT_UNAVAILABLE");

    let down = spawn_app_with(|s| s.wechat.base_url = "http://127.0.0.1:9".into()).await;
    down.login_reply("x")
        .await
        .assert_error(503, "WECHAT_UNAVAILABLE");
}

#[tokio::test]
async fn dev_login_only_when_enabled() {
    let app = spawn_app().await;
    // Not enabled: the code goes to WeChat, which does not know it.
    app.wechat_session_reply("dev:alice", json!({"errcode": 40029}))
        .await;
    app.login_reply("dev:alice")
        .await
        .assert_error(400, "WECHAT_CODE_INVALID");

    let dev = spawn_app_with(|s| s.wechat.dev_login = true).await;
    let a = dev.login_reply("dev:alice").await;
    let again = dev.login_reply("dev:alice").await;
    assert_eq!(
        a.assert_status(200)["user"]["id"],
        again.assert_status(200)["user"]["id"]
    );
    dev.login_reply("dev:not a name")
        .await
        .assert_error(400, "WECHAT_CODE_INVALID");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_login() {
    let app = spawn_app().await;
    let user = app.login("rota").await;
    let r1 = user.refresh.clone();
    let rotated = app
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": r1})),
        )
        .await;
    let body = rotated.assert_status(200).clone();
    let r2 = body["refresh_token"].as_str().unwrap().to_owned();
    let access2 = body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    app.get("/api/v1/me", &access2).await.assert_status(200);

    // The old token again: someone else has it. The whole login ends.
    app.call(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": r1})),
    )
    .await
    .assert_error(401, "REFRESH_TOKEN_REUSED");
    app.call(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": r2})),
    )
    .await
    .assert_error(401, "REFRESH_TOKEN_INVALID");
    app.get("/api/v1/me", &access2)
        .await
        .assert_error(401, "TOKEN_INVALID");
    app.get("/api/v1/me", &user.token)
        .await
        .assert_error(401, "TOKEN_INVALID");

    // A second login of the same user is unaffected.
    let other = app.login("rota").await;
    app.get("/api/v1/me", &other.token).await.assert_status(200);
    app.call(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": "never-issued"})),
    )
    .await
    .assert_error(401, "REFRESH_TOKEN_INVALID");
}

#[tokio::test]
async fn concurrent_use_of_one_refresh_token_has_one_winner() {
    let app = spawn_app().await;
    let user = app.login("race").await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let http = app.http.clone();
        let url = format!("{}/api/v1/auth/refresh", app.address);
        let token = user.refresh.clone();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn logout_ends_the_login() {
    let app = spawn_app().await;
    let user = app.login("bye").await;
    app.call(Method::POST, "/api/v1/auth/logout", Some(&user.token), None)
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
}

#[tokio::test]
async fn behind_a_balancer_the_ip_limit_uses_the_address_it_appended() {
    let app = spawn_app_with(|s| {
        s.server.trust_forwarded_headers = true;
        s.auth.login_per_ip_per_minute = 2;
    })
    .await;
    let attempt = |spoofed: String, appended: &'static str| {
        let http = app.http.clone();
        let url = format!("{}/api/v1/auth/login", app.address);
        async move {
            let res = http
                .post(url)
                .header("x-forwarded-for", format!("{spoofed}, {appended}"))
                .json(&json!({"code": format!("c-{spoofed}")}))
                .send()
                .await
                .unwrap();
            res.status().as_u16()
        }
    };
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errcode": 40029})))
        .mount(&app.wechat)
        .await;
    // Whatever the client puts first, the balancer's entry (last) is what counts.
    assert_eq!(attempt("1.1.1.1".into(), "203.0.113.9").await, 400);
    assert_eq!(attempt("2.2.2.2".into(), "203.0.113.9").await, 400);
    assert_eq!(attempt("3.3.3.3".into(), "203.0.113.9").await, 429);
    // Another client behind the balancer is not affected.
    assert_eq!(attempt("4.4.4.4".into(), "198.51.100.7").await, 400);
}

#[tokio::test]
async fn logins_are_rate_limited_per_code_and_per_ip() {
    let app = spawn_app_with(|s| {
        s.auth.login_per_code = 2;
        s.auth.login_per_ip_per_minute = 5;
    })
    .await;
    app.wechat_session_reply("same", json!({"errcode": 40163}))
        .await;
    app.login_reply("same")
        .await
        .assert_error(400, "WECHAT_CODE_INVALID");
    app.login_reply("same")
        .await
        .assert_error(400, "WECHAT_CODE_INVALID");
    let limited = app.login_reply("same").await;
    limited.assert_error(429, "RATE_LIMITED");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry));

    // Three attempts counted against this IP; two more, then it is limited whatever the code.
    for i in 0..2 {
        let code = format!("other-{i}");
        app.wechat_session_reply(&code, json!({"errcode": 40029}))
            .await;
        app.login_reply(&code)
            .await
            .assert_error(400, "WECHAT_CODE_INVALID");
    }
    app.login_reply("fresh-code")
        .await
        .assert_error(429, "RATE_LIMITED");
}
