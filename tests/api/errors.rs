//! What a client gets for bad input: a JSON error with a stable code, never a 500.

use crate::helpers::*;

async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut req = app
        .http
        .request(method, format!("{}{}", app.address, path))
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    TestApp::reply(req.send().await.unwrap()).await
}

#[tokio::test]
async fn malformed_wrongly_typed_and_oversized_bodies() {
    let app = spawn_app_with(|s| s.server.json_limit_bytes = 4096).await;
    let user = app.login("bad-input").await;
    let post = reqwest::Method::POST;
    let json_ct = Some("application/json");

    raw(
        &app,
        post.clone(),
        "/api/v1/auth/login",
        None,
        json_ct,
        b"{\"code\":".to_vec(),
    )
    .await
    .assert_error(400, "MALFORMED_JSON");
    raw(
        &app,
        post.clone(),
        "/api/v1/auth/login",
        None,
        json_ct,
        b"".to_vec(),
    )
    .await
    .assert_error(400, "MALFORMED_JSON");
    let missing = raw(
        &app,
        post.clone(),
        "/api/v1/auth/login",
        None,
        json_ct,
        b"{}".to_vec(),
    )
    .await;
    missing.assert_error(422, "VALIDATION_FAILED");
    assert_eq!(missing.body["field"], "code");
    let typed = raw(
        &app,
        post.clone(),
        "/api/v1/auth/login",
        None,
        json_ct,
        b"{\"code\": [1]}".to_vec(),
    )
    .await;
    typed.assert_error(422, "VALIDATION_FAILED");
    assert_eq!(typed.body["field"], "code");
    raw(
        &app,
        post.clone(),
        "/api/v1/auth/login",
        None,
        json_ct,
        b"[]".to_vec(),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    raw(
        &app,
        post.clone(),
        "/api/v1/auth/login",
        None,
        Some("text/plain"),
        b"{\"code\":\"x\"}".to_vec(),
    )
    .await
    .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    raw(
        &app,
        post.clone(),
        "/api/v1/auth/login",
        None,
        None,
        b"{\"code\":\"x\"}".to_vec(),
    )
    .await
    .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    let huge = format!("{{\"code\":\"{}\"}}", "x".repeat(10_000));
    raw(
        &app,
        post.clone(),
        "/api/v1/auth/login",
        None,
        json_ct,
        huge.into_bytes(),
    )
    .await
    .assert_error(413, "PAYLOAD_TOO_LARGE");
    // A long code within the body limit is still refused by its own bound.
    app.login_reply(&"y".repeat(300))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    // Chunked (no Content-Length) oversize is caught while reading.
    let stream =
        futures_util::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let res = app
        .http
        .patch(format!("{}/api/v1/me", app.address))
        .bearer_auth(&user.token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    TestApp::reply(res)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn unknown_routes_paths_and_queries() {
    let app = spawn_app().await;
    let user = app.login("wanderer").await;
    let nowhere = app.get("/api/v1/nowhere", &user.token).await;
    nowhere.assert_error(404, "NOT_FOUND");
    app.get("/no/such/page", &user.token)
        .await
        .assert_error(404, "NOT_FOUND");
    app.get("/api/v1/communities/abc/grids", &user.token)
        .await
        .assert_error(404, "NOT_FOUND");
    app.get(
        "/api/v1/communities/99999999999999999999/grids",
        &user.token,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.get("/api/v1/communities/424242", &user.token)
        .await
        .assert_error(404, "NOT_FOUND");
    let w = world(&app).await;
    app.get(
        &format!("/api/v1/streets/{}/communities?limit=abc", w.street_id),
        &user.token,
    )
    .await
    .assert_error(400, "INVALID_PARAMETER");
    app.get(
        &format!("/api/v1/streets/{}/communities?limit=0", w.street_id),
        &user.token,
    )
    .await
    .assert_error(400, "INVALID_PARAMETER");
}

/// A known path asked with a method it lacks is 405 with `Allow`, in the JSON error shape; an
/// unknown path stays 404 whatever the method.
#[tokio::test]
async fn undeclared_methods_on_known_paths() {
    let app = spawn_app().await;
    let user = app.login("wrong-verb").await;
    let put = raw(
        &app,
        reqwest::Method::PUT,
        "/api/v1/districts",
        Some(&user.token),
        Some("application/json"),
        b"{}".to_vec(),
    )
    .await;
    put.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(put.headers["allow"], "GET, POST");
    let delete = raw(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/wishes/7/claim",
        None,
        None,
        Vec::new(),
    )
    .await;
    delete.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(delete.headers["allow"], "POST");
    let get = raw(
        &app,
        reqwest::Method::GET,
        "/api/v1/me/counter-payments",
        None,
        None,
        Vec::new(),
    )
    .await;
    get.assert_error(405, "METHOD_NOT_ALLOWED");
    raw(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/nowhere/7",
        Some(&user.token),
        None,
        Vec::new(),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    // A parameter segment must be there: this is no wish's claim.
    raw(
        &app,
        reqwest::Method::GET,
        "/api/v1/wishes//claim",
        None,
        None,
        Vec::new(),
    )
    .await
    .assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn request_ids_health_and_metrics() {
    let app = spawn_app().await;
    let res = app
        .http
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app
        .http
        .get(format!("{}/healthz", app.address))
        .header(
            "x-request-id",
            "bad id with spaces and way too long ......................................",
        )
        .send()
        .await
        .unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok());

    let ready = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    let ready = TestApp::reply(ready).await;
    assert_eq!(ready.assert_status(200)["database"], "ok");

    let user = app.login("metered").await;
    app.get("/api/v1/communities/1", &user.token).await;
    let metrics = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    let text = metrics.text().await.unwrap();
    assert!(text.contains(
        "linli_http_requests_total{method=\"POST\",route=\"/api/v1/auth/login\",status=\"200\"} 1"
    ), "{text}");
    assert!(text.contains("route=\"/api/v1/communities/{community_id}\",status=\"404\""));
    assert!(
        !text.contains("/api/v1/communities/1\""),
        "raw paths never become labels"
    );
    // What an operator looks at when something goes wrong, sampled at each read.
    for series in [
        "linli_db_pool_connections ",
        "linli_db_pool_idle_connections ",
        "linli_db_pool_max_connections 8",
        "linli_db_pool_acquire_seconds ",
        "linli_outbox_pending 0",
        "linli_outbox_oldest_pending_age_seconds 0",
        "linli_process_resident_memory_bytes ",
        "linli_process_cpu_seconds ",
        "linli_http_requests_in_flight 1",
        "linli_beans_awarded_total 0",
        "linli_wechat_calls_total{api=\"/sns/jscode2session\",outcome=\"ok\"} 1",
    ] {
        assert!(text.contains(series), "{series} missing: {text}");
    }
    assert!(!text.contains("linli_db_pool_acquire_seconds -1"), "{text}");

    // The viewer and its assets are served by the server itself: no internet needed.
    let docs = app
        .http
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "no external assets: {html}");
    let bundle = app
        .http
        .get(format!("{}/docs/swagger-ui-bundle.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    let doc = app
        .http
        .get(format!("{}/api-docs/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = doc.json().await.unwrap();
    assert!(doc["paths"]["/api/v1/auth/login"].is_object());

    // A method nobody uses does not mint a new metrics series per request.
    let odd = reqwest::Method::from_bytes(b"BREW").unwrap();
    app.http
        .request(odd, format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    let text = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !text.contains("BREW") && text.contains("method=\"OTHER\""),
        "{text}"
    );
}
