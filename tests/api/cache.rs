//! Redis faults: configured but down at start, and going down while the server runs. These
//! need a real Redis (LINLI_TEST_REDIS_URL); with the in-process cache they have nothing to
//! break and say so.

use linli::config::CacheBackend;

use crate::helpers::*;
use crate::proxy::Cuttable;

#[tokio::test]
async fn redis_configured_but_unreachable_stops_start_up() {
    let wechat = wiremock::MockServer::start().await;
    let mut settings = test_settings(&wechat).await;
    settings.cache.backend = CacheBackend::Redis;
    settings.cache.redis_url = "redis://127.0.0.1:9/".into();
    let err = linli::startup::Application::build(settings)
        .await
        .err()
        .expect("start-up must fail");
    assert!(err.to_string().contains("Redis"), "{err}");
}

#[tokio::test]
async fn redis_going_down_fails_only_what_needs_it() {
    let Some(redis) = redis_url() else {
        eprintln!("skipped: set LINLI_TEST_REDIS_URL to run the Redis outage test");
        return;
    };
    let target = redis
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = Cuttable::start(&target).await;
    let url = format!("redis://{}/", proxy.address);
    let app = spawn_app_with(move |s| {
        s.cache.backend = CacheBackend::Redis;
        s.cache.redis_url = url;
        s.cache.timeout_ms = 300;
    })
    .await;
    let user = app.login("before-outage").await;
    proxy.cut();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    // Login needs the cache (rate limits): a clear 503.
    app.wechat_session_reply(
        "during",
        serde_json::json!({"openid": "o", "session_key": "k"}),
    )
    .await;
    let reply = app.login_reply("during").await;
    reply.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(reply.headers.contains_key("retry-after"));
    // What does not need it goes on.
    app.get("/api/v1/me", &user.token).await.assert_status(200);
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    let ready = TestApp::reply(ready).await;
    assert_eq!(ready.assert_status(503)["cache"], "unavailable");
    // The operator sees the failures.
    let metrics = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("linli_cache_errors_total{kind=\"error\"}")
            || metrics.contains("linli_cache_errors_total{kind=\"timeout\"}"),
        "{metrics}"
    );
}
