//! Mini-program codes: making them, resolving scenes (valid, expired, revoked), and images
//! from WeChat (including its JSON error bodies) or, in development mode, plain QR codes.

use reqwest::Method;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRfake-image-bytes";

async fn make_code(app: &TestApp, w: &World) -> String {
    let made = app
        .post(
            &format!("/api/v1/communities/{}/codes", w.community_a),
            &w.admin_a.token,
            json!({"purpose": "join_community"}),
        )
        .await;
    let body = made.assert_status(201);
    assert_eq!(body["page"], "pages/community/join");
    body["scene"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn scenes_resolve_until_they_expire_or_are_revoked() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let visitor = app.login("visitor").await;
    let scene = make_code(&app, &w).await;
    assert_eq!(scene.len(), 16);
    assert!(scene.chars().all(|c| c.is_ascii_alphanumeric()));

    let resolved = app
        .get(&format!("/api/v1/codes/{scene}"), &visitor.token)
        .await;
    let body = resolved.assert_status(200);
    assert_eq!(body["purpose"], "join_community");
    assert_eq!(body["community_id"].as_i64(), Some(w.community_a));
    assert_eq!(body["community_name"], "阳光社区");

    // Unknown and malformed scenes are simply not there.
    app.get("/api/v1/codes/AAAAAAAAAAAAAAAA", &visitor.token)
        .await
        .assert_error(404, "NOT_FOUND");
    app.get("/api/v1/codes/bad%20scene", &visitor.token)
        .await
        .assert_error(404, "NOT_FOUND");

    // Only the community's admins make and manage codes.
    app.post(
        &format!("/api/v1/communities/{}/codes", w.community_a),
        &w.admin_b.token,
        json!({"purpose": "join_community"}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.post(
        &format!("/api/v1/communities/{}/codes", w.community_a),
        &w.admin_a.token,
        json!({"purpose": "open_sesame"}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    app.post(
        &format!("/api/v1/communities/{}/codes", w.community_a),
        &w.admin_a.token,
        json!({"purpose": "join_community", "valid_days": 0}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    app.post(
        &format!("/api/v1/codes/{scene}/revoke"),
        &w.admin_b.token,
        json!({}),
    )
    .await
    .assert_error(404, "NOT_FOUND");

    // Expired: the server decides, whatever the printed code says.
    let timed = app
        .post(
            &format!("/api/v1/communities/{}/codes", w.community_a),
            &w.admin_a.token,
            json!({"purpose": "join_community", "valid_days": 7}),
        )
        .await;
    let timed = timed.assert_status(201)["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&format!("/api/v1/codes/{timed}"), &visitor.token)
        .await
        .assert_status(200);
    let row = linli::entities::qr_code::Entity::find()
        .filter(linli::entities::qr_code::Column::Scene.eq(timed.as_str()))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut row: linli::entities::qr_code::ActiveModel = row.into();
    row.expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::minutes(1)));
    row.update(&app.state.db).await.unwrap();
    app.get(&format!("/api/v1/codes/{timed}"), &visitor.token)
        .await
        .assert_error(410, "CODE_EXPIRED");

    // Revoked.
    app.post(
        &format!("/api/v1/codes/{scene}/revoke"),
        &w.admin_a.token,
        json!({}),
    )
    .await
    .assert_status(200);
    app.get(&format!("/api/v1/codes/{scene}"), &visitor.token)
        .await
        .assert_error(410, "CODE_REVOKED");
    app.get(&format!("/api/v1/codes/{scene}/image"), &w.admin_a.token)
        .await
        .assert_error(410, "CODE_REVOKED");

    let listed = app
        .get(
            &format!("/api/v1/communities/{}/codes", w.community_a),
            &w.admin_a.token,
        )
        .await;
    assert_eq!(
        listed.assert_status(200)["items"].as_array().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn images_come_from_wechat_once_and_then_from_storage() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let scene = make_code(&app, &w).await;
    Mock::given(method("POST"))
        .and(path("/wxa/getwxacodeunlimit"))
        .and(body_partial_json(json!({
            "scene": scene, "page": "pages/community/join", "env_version": "release"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_raw(PNG.to_vec(), "image/png"))
        .expect(1)
        .mount(&app.wechat)
        .await;
    for _ in 0..2 {
        let res = app
            .http
            .get(format!("{}/api/v1/codes/{scene}/image", app.address))
            .bearer_auth(&w.admin_a.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/png");
        assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);
    }
    app.wechat.verify().await;
    // Residents cannot fetch the printable image.
    let resident = app.login("res").await;
    verified_resident(&app, &resident, w.community_a, &w.admin_a).await;
    app.get(&format!("/api/v1/codes/{scene}/image"), &resident.token)
        .await
        .assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn json_error_bodies_are_not_taken_for_images() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let cases = [
        (
            ResponseTemplate::new(200).set_body_raw(
                br#"{"errcode":41030,"errmsg":"invalid page"}"#.to_vec(),
                "application/json",
            ),
            502,
            "WECHAT_ERROR",
        ),
        (
            // WeChat has been seen to label its JSON errors as images.
            ResponseTemplate::new(200).set_body_raw(
                br#"{"errcode":40169,"errmsg":"invalid scene"}"#.to_vec(),
                "image/jpeg",
            ),
            502,
            "WECHAT_ERROR",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"errcode": 45009})),
            429,
            "WECHAT_RATE_LIMITED",
        ),
        (
            ResponseTemplate::new(200).set_body_raw(b"<html>oops</html>".to_vec(), "text/html"),
            502,
            "WECHAT_ERROR",
        ),
    ];
    for (reply, status, code) in cases {
        let scene = make_code(&app, &w).await;
        Mock::given(method("POST"))
            .and(path("/wxa/getwxacodeunlimit"))
            .and(body_partial_json(json!({"scene": scene})))
            .respond_with(reply)
            .mount(&app.wechat)
            .await;
        app.get(&format!("/api/v1/codes/{scene}/image"), &w.admin_a.token)
            .await
            .assert_error(status, code);
        // Nothing was kept as the code's image.
        let row = linli::entities::qr_code::Entity::find()
            .filter(linli::entities::qr_code::Column::Scene.eq(scene.as_str()))
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        assert!(row.image_key.is_none());
    }
}

#[tokio::test]
async fn development_mode_draws_a_plain_qr_code() {
    let app = spawn_app_with(|s| s.wechat.dev_login = true).await;
    let w = world(&app).await;
    let scene = make_code(&app, &w).await;
    let res = app
        .http
        .request(
            Method::GET,
            format!("{}/api/v1/codes/{scene}/image", app.address),
        )
        .bearer_auth(&w.admin_a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    let svg = res.text().await.unwrap();
    assert!(svg.contains("<svg"));
    assert!(
        app.wechat
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.url.path() != "/wxa/getwxacodeunlimit")
    );
}
