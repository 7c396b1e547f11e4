//! The shared WeChat access token: cached, shared between processes, fetched once under
//! concurrent demand, replaced when WeChat says it is stale; busy answers retried with backoff.

use std::time::{Duration, Instant};

use linli::cache::Cache;
use linli::wechat::WeChat;
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

fn token_reply(token: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"access_token": token, "expires_in": 7200}))
}

/// A second server process: its own WeChat client over the same shared cache (its own Redis
/// connection when Redis is in use).
async fn second_process(app: &TestApp) -> WeChat {
    let cache = if redis_url().is_some() {
        Cache::connect(&app.state.settings.cache).await.unwrap()
    } else {
        app.state.cache.clone()
    };
    WeChat::new(app.state.settings.wechat.clone(), cache).unwrap()
}

#[tokio::test]
async fn the_token_is_cached_and_shared_between_processes() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(token_reply("SHARED"))
        .expect(1)
        .mount(&app.wechat)
        .await;
    for _ in 0..3 {
        assert_eq!(app.state.wechat.access_token().await.unwrap(), "SHARED");
    }
    let other = second_process(&app).await;
    assert_eq!(other.access_token().await.unwrap(), "SHARED");
    app.wechat.verify().await;
}

#[tokio::test]
async fn concurrent_demand_fetches_the_token_once() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(token_reply("ONCE").set_delay(Duration::from_millis(300)))
        .expect(1)
        .mount(&app.wechat)
        .await;
    let other = second_process(&app).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = if i % 2 == 0 {
            app.state.wechat.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(
            async move { client.access_token().await.unwrap() },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), "ONCE");
    }
    app.wechat.verify().await;
}

#[tokio::test]
async fn a_stale_token_is_replaced_once_and_the_call_retried() {
    for stale_code in [40001, 42001] {
        let app = spawn_app().await;
        let user = app.login("stale").await;
        Mock::given(method("POST"))
            .and(path("/cgi-bin/stable_token"))
            .respond_with(token_reply("OLD"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&app.wechat)
            .await;
        Mock::given(method("POST"))
            .and(path("/cgi-bin/stable_token"))
            .respond_with(token_reply("NEW"))
            .with_priority(2)
            .mount(&app.wechat)
            .await;
        Mock::given(method("POST"))
            .and(path("/wxa/msg_sec_check"))
            .and(query_param("access_token", "OLD"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errcode": stale_code})))
            .expect(1)
            .mount(&app.wechat)
            .await;
        Mock::given(method("POST"))
            .and(path("/wxa/msg_sec_check"))
            .and(query_param("access_token", "NEW"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(
                    json!({"errcode": 0, "result": {"suggest": "pass", "label": 100}}),
                ),
            )
            .expect(1)
            .mount(&app.wechat)
            .await;
        let reply = app
            .call(
                reqwest::Method::PATCH,
                "/api/v1/me",
                Some(&user.token),
                Some(json!({"nickname": "新名字"})),
            )
            .await;
        assert_eq!(reply.assert_status(200)["profile"]["nickname"], "新名字");
        assert_eq!(app.state.wechat.access_token().await.unwrap(), "NEW");
        app.wechat.verify().await;
    }
}

#[tokio::test]
async fn busy_answers_are_retried_with_backoff() {
    let app = spawn_app().await;
    let user = app.login("busy").await;
    Mock::given(method("POST"))
        .and(path("/wxa/msg_sec_check"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errcode": -1})))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&app.wechat)
        .await;
    let started = Instant::now();
    let reply = app
        .call(
            reqwest::Method::PATCH,
            "/api/v1/me",
            Some(&user.token),
            Some(json!({"nickname": "耐心"})),
        )
        .await;
    assert_eq!(reply.assert_status(200)["profile"]["nickname"], "耐心");
    // Two waits, 200 ms then 400 ms, before the third try passed.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    let checks = app
        .wechat
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/wxa/msg_sec_check")
        .count();
    assert_eq!(checks, 3);
}
