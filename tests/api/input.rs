//! Input no handler should ever see: a body that is not an object, a NUL character (which
//! PostgreSQL cannot store) in a body, a query or a path, ids that are not ids, and limits
//! outside what the document says. Each is a clear 4xx naming the field, and nothing is
//! written.

use serde_json::json;

use crate::helpers::*;

async fn district_count(app: &TestApp, token: &str) -> usize {
    app.get("/api/v1/districts", token).await.assert_status(200)["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_default()
}

/// Sends `raw` as the JSON body.
async fn post_raw(app: &TestApp, path: &str, token: &str, raw: &str) -> Reply {
    let res = app
        .http
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(raw.to_owned())
        .send()
        .await
        .unwrap();
    TestApp::reply(res).await
}

#[tokio::test]
async fn a_body_must_be_an_object() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let before = district_count(&app, &w.platform.token).await;
    for raw in [r#"["五华区"]"#, "[]", r#""五华区""#, "5", "null"] {
        post_raw(&app, "/api/v1/districts", &w.platform.token, raw)
            .await
            .assert_error(422, "VALIDATION_FAILED");
    }
    assert_eq!(district_count(&app, &w.platform.token).await, before);

    // An operation whose body is empty takes `{}`, not `[]`.
    let applicant = app.login("array-applicant").await;
    let joined = app
        .post(
            &format!("/api/v1/communities/{}/join", w.community_a),
            &applicant.token,
            json!({}),
        )
        .await;
    let membership = joined.assert_status(201)["membership_id"].as_i64().unwrap();
    let approve = format!(
        "/api/v1/communities/{}/memberships/{membership}/approve",
        w.community_a
    );
    post_raw(&app, &approve, &w.admin_a.token, "[]")
        .await
        .assert_error(422, "VALIDATION_FAILED");
    let queue = app
        .get(
            &format!("/api/v1/communities/{}/memberships", w.community_a),
            &w.admin_a.token,
        )
        .await;
    let still = queue.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["membership_id"] == membership)
        .cloned()
        .expect("membership listed");
    assert_eq!(still["status"], "pending");
}

#[tokio::test]
async fn a_nul_character_is_refused_everywhere() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let before = district_count(&app, &w.platform.token).await;
    // In a body, at any depth, named by its path.
    let reply = post_raw(
        &app,
        "/api/v1/districts",
        &w.platform.token,
        r#"{"name": "五\u0000华区"}"#,
    )
    .await;
    reply.assert_error(422, "VALIDATION_FAILED");
    assert_eq!(reply.body["field"], "name");
    assert_eq!(district_count(&app, &w.platform.token).await, before);

    let resident = app.login("nul-resident").await;
    verified_resident(&app, &resident, w.community_a, &w.admin_a).await;
    let wishes = format!("/api/v1/communities/{}/wishes", w.community_a);
    let wish = json!({
        "title": "需要一台收音机",
        "description": "老人想听广播",
        "category": "生活用品",
        "estimated_cost": 80,
        "beneficiary_group": "独居老人",
        "due_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
        "photo_upload_ids": ["\u{0}"],
    });
    let reply = app.post(&wishes, &resident.token, wish.clone()).await;
    reply.assert_error(422, "VALIDATION_FAILED");
    assert_eq!(reply.body["field"], "photo_upload_ids[0]");
    // An id that is no upload id never reaches a query either.
    let mut not_an_id = wish.clone();
    not_an_id["photo_upload_ids"] = json!(["'; select 1; --"]);
    let reply = app.post(&wishes, &resident.token, not_an_id).await;
    reply.assert_error(422, "VALIDATION_FAILED");
    assert_eq!(reply.body["field"], "photo_upload_ids");
    let mine = app.get("/api/v1/me/wishes", &resident.token).await;
    assert_eq!(mine.assert_status(200)["items"], json!([]));

    // In a query: the wall's category, on every wall.
    for path in [
        format!("{wishes}?category=%00"),
        format!("{wishes}?category=a%00b&order=newest"),
        format!("/api/v1/streets/{}/wishes?category=%00", w.street_id),
    ] {
        let token = if path.contains("streets") {
            &w.platform.token
        } else {
            &resident.token
        };
        let reply = app.get(&path, token).await;
        reply.assert_error(400, "INVALID_PARAMETER");
        assert_eq!(reply.body["field"], "category", "{path}");
    }
    // In a path: it names nothing.
    app.get("/api/v1/codes/%00abc", &resident.token)
        .await
        .assert_error(404, "NOT_FOUND");
    app.get("/api/v1/uploads/%00", &resident.token)
        .await
        .assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn limits_outside_the_document_are_refused() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let resident = app.login("limit-resident").await;
    verified_resident(&app, &resident, w.community_a, &w.admin_a).await;
    let c = w.community_a;
    for path in [
        format!("/api/v1/communities/{c}/wishes?limit=101"),
        format!("/api/v1/communities/{c}/wishes?limit=0"),
        format!("/api/v1/communities/{c}/points/me/history?limit=100000"),
        format!("/api/v1/communities/{c}/points/ranking?limit=51"),
        format!("/api/v1/communities/{c}/points/ranking?limit=0"),
        format!("/api/v1/communities/{c}/points/ranking?month=0000-01"),
        format!("/api/v1/communities/{c}/points/ranking?limit=-1"),
    ] {
        let reply = app.get(&path, &resident.token).await;
        reply.assert_error(400, "INVALID_PARAMETER");
    }
    app.get(
        &format!("/api/v1/communities/{c}/points/ranking?limit=50"),
        &resident.token,
    )
    .await
    .assert_status(200);
    // The rebuild refuses before it rebuilds anything.
    app.post(
        &format!("/api/v1/communities/{c}/points/ranking/rebuild?limit=500"),
        &w.admin_a.token,
        json!({}),
    )
    .await
    .assert_error(400, "INVALID_PARAMETER");
}

/// The last line of defence: a value PostgreSQL refuses (too long for its column, a NUL)
/// that an edge check missed is the client's 422, not our 500. (SQLite stores either.)
#[tokio::test]
async fn a_value_the_database_refuses_is_a_422() {
    use linli::error::{AppError, ErrorCode};
    use sea_orm::ConnectionTrait;
    if std::env::var("LINLI_TEST_DATABASE_URL").is_err() {
        eprintln!("skipped: PostgreSQL only (LINLI_TEST_DATABASE_URL)");
        return;
    }
    let app = spawn_app().await;
    let long = "长".repeat(65);
    for sql in [
        format!("INSERT INTO districts (name, created_at) VALUES ('{long}', now())"),
        "SELECT convert_from('\\x00'::bytea, 'UTF8')".to_owned(),
    ] {
        let err = app
            .state
            .db
            .execute_unprepared(&sql)
            .await
            .expect_err("PostgreSQL refuses it");
        let err = AppError::from(err);
        assert_eq!(err.code(), ErrorCode::ValidationFailed, "{sql}");
    }
    // A broken statement stays our fault.
    let err = app
        .state
        .db
        .execute_unprepared("SELECT * FROM no_such_table")
        .await
        .expect_err("no such table");
    assert_eq!(AppError::from(err).code(), ErrorCode::InternalError);
}
