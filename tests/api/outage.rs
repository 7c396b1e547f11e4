//! PostgreSQL going away while the server runs: every request that needs it is answered 503
//! `SERVICE_UNAVAILABLE` with `Retry-After` within a short bound — never a 500, never a long
//! hang — `/readyz` says the database is down within about a second, and the server serves
//! again once the database is back. The database sits behind a proxy the test cuts, which
//! drops open connections and refuses new ones as a stopped PostgreSQL does. Needs
//! PostgreSQL (LINLI_TEST_DATABASE_URL); SQLite is a file that cannot go away.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;
use crate::proxy::Cuttable;

/// The `host:port` of a `postgres://user@host:port/db` URL, and the URL through `via`.
fn through(url: &str, via: &str) -> (String, String) {
    let at = url.rfind('@').expect("URL names a host") + 1;
    let slash = at + url[at..].find('/').expect("URL names a database");
    (
        url[at..slash].to_owned(),
        format!("{}{via}{}", &url[..at], &url[slash..]),
    )
}

#[tokio::test]
async fn database_down_is_a_quick_503_and_recovers() {
    if std::env::var("LINLI_TEST_DATABASE_URL").is_err() {
        eprintln!("skipped: set LINLI_TEST_DATABASE_URL to run the database outage test");
        return;
    }
    let wechat = wiremock::MockServer::start().await;
    default_wechat(&wechat).await;
    let mut settings = test_settings(&wechat).await;
    let (target, _) = through(&settings.database.url, "");
    let proxy = Cuttable::start(&target).await;
    settings.database.url = through(&settings.database.url, &proxy.address).1;
    settings.database.acquire_timeout_ms = 1500;
    let app = start(settings, wechat).await;
    let w = world(&app).await;
    let resident = app.login("outage-resident").await;
    verified_resident(&app, &resident, w.community_a, &w.admin_a).await;

    proxy.cut();
    let wall = format!("/api/v1/communities/{}/wishes", w.community_a);
    let join = format!("/api/v1/communities/{}/join", w.community_b);
    let calls: Vec<(Method, &str, Option<serde_json::Value>)> = vec![
        (Method::GET, "/api/v1/me", None),
        (Method::GET, wall.as_str(), None),
        (Method::POST, join.as_str(), Some(json!({}))),
        (
            Method::POST,
            "/api/v1/districts",
            Some(json!({"name": "五华区"})),
        ),
    ];
    for (method, path, body) in calls {
        let token = if path == "/api/v1/districts" {
            &w.platform.token
        } else {
            &resident.token
        };
        let started = Instant::now();
        let reply = app.call(method.clone(), path, Some(token), body).await;
        let took = started.elapsed();
        reply.assert_error(503, "SERVICE_UNAVAILABLE");
        assert!(
            reply.headers.contains_key("retry-after"),
            "{method} {path}: no Retry-After"
        );
        assert!(
            took < Duration::from_millis(3000),
            "{method} {path} took {took:?}"
        );
    }
    // Many at once: each a 503, none a 500, none held long.
    let started = Instant::now();
    let replies =
        futures_util::future::join_all((0..24).map(|_| app.get("/api/v1/me", &resident.token)))
            .await;
    for r in &replies {
        r.assert_error(503, "SERVICE_UNAVAILABLE");
    }
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let ready = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    let ready = TestApp::reply(ready).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let body = ready.assert_status(503);
    assert_eq!(body["database"], "unavailable");
    assert_eq!(body["cache"], "ok");

    // Back: the pool opens new connections and requests succeed again.
    proxy.restore().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = app.get("/api/v1/me", &resident.token).await;
        if reply.status == 200 {
            break;
        }
        reply.assert_error(503, "SERVICE_UNAVAILABLE");
        assert!(Instant::now() < deadline, "the server did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.post(
        "/api/v1/districts",
        &w.platform.token,
        json!({"name": "五华区"}),
    )
    .await
    .assert_status(201);
    let ready = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
