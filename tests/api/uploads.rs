//! Photo uploads: each allowed type, disguised non-images, oversized files, tenancy, and the
//! signed file URLs.

use linli::entities::upload;
use reqwest::multipart::{Form, Part};
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::helpers::*;
use crate::support::uploads::{JPEG, upload};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR0123456789";
const WEBP: &[u8] = b"RIFF\x24\0\0\0WEBPVP8 0123456789";

async fn stored(app: &TestApp) -> u64 {
    upload::Entity::find().count(&app.state.db).await.unwrap()
}

#[tokio::test]
async fn each_allowed_image_type_is_stored_and_served_back() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let resident = app.login("photographer").await;
    verified_resident(&app, &resident, w.community_a, &w.admin_a).await;
    for (bytes, name, expected) in [
        (JPEG, "a.jpg", "image/jpeg"),
        (PNG, "b.png", "image/png"),
        // The name and the declared type do not matter; the bytes do.
        (WEBP, "c.bin", "image/webp"),
    ] {
        let reply = upload(
            &app,
            w.community_a,
            &resident.token,
            name,
            "application/octet-stream",
            bytes.to_vec(),
        )
        .await;
        let body = reply.assert_status(201).clone();
        assert_eq!(body["content_type"], expected);
        assert_eq!(body["size"].as_u64(), Some(bytes.len() as u64));
        let url = body["url"].as_str().unwrap();
        assert!(url.starts_with("/files/"));
        let res = app
            .http
            .get(format!("{}{url}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], expected);
        assert_eq!(res.bytes().await.unwrap().as_ref(), bytes);
    }
    assert_eq!(stored(&app).await, 3);
}

#[tokio::test]
async fn disguised_oversized_and_malformed_uploads_are_refused() {
    let app = spawn_app_with(|s| s.storage.max_upload_bytes = 1024).await;
    let w = world(&app).await;
    let token = &w.admin_a.token;
    let a = w.community_a;

    // A web page and a GIF dressed as JPEGs.
    upload(
        &app,
        a,
        token,
        "evil.jpg",
        "image/jpeg",
        b"<html><script>x</script></html>".to_vec(),
    )
    .await
    .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    upload(
        &app,
        a,
        token,
        "anim.jpg",
        "image/jpeg",
        b"GIF89a....".to_vec(),
    )
    .await
    .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    // Too large, however it is labelled.
    let mut big = JPEG.to_vec();
    big.resize(4096, 0);
    upload(&app, a, token, "big.jpg", "image/jpeg", big)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    // Far too large: refused from the declared length without reading it.
    let mut huge = JPEG.to_vec();
    huge.resize(512 * 1024, 0);
    upload(&app, a, token, "huge.jpg", "image/jpeg", huge)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    // Not multipart at all.
    app.post(
        &format!("/api/v1/communities/{a}/uploads"),
        token,
        serde_json::json!({}),
    )
    .await
    .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    // Multipart without a file part.
    let res = app
        .http
        .post(format!("{}/api/v1/communities/{a}/uploads", app.address))
        .bearer_auth(token)
        .multipart(Form::new().text("note", "hello"))
        .send()
        .await
        .unwrap();
    TestApp::reply(res)
        .await
        .assert_error(422, "VALIDATION_FAILED");
    // Broken multipart framing.
    let res = app
        .http
        .post(format!("{}/api/v1/communities/{a}/uploads", app.address))
        .bearer_auth(token)
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc")
        .send()
        .await
        .unwrap();
    let broken = TestApp::reply(res).await;
    assert!(broken.status.is_client_error(), "{}", broken.body);
    assert_eq!(stored(&app).await, 0, "nothing written");
}

#[tokio::test]
async fn uploads_stay_inside_their_community() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let resident_a = app.login("ra").await;
    verified_resident(&app, &resident_a, w.community_a, &w.admin_a).await;
    let resident_b = app.login("rb").await;
    verified_resident(&app, &resident_b, w.community_b, &w.admin_b).await;
    let outsider = app.login("outsider").await;

    upload(
        &app,
        w.community_a,
        &outsider.token,
        "x.png",
        "image/png",
        PNG.to_vec(),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    let made = upload(
        &app,
        w.community_a,
        &resident_a.token,
        "x.png",
        "image/png",
        PNG.to_vec(),
    )
    .await;
    let body = made.assert_status(201).clone();
    let id = body["id"].as_str().unwrap();
    let url = body["url"].as_str().unwrap().to_owned();

    app.get(&format!("/api/v1/uploads/{id}"), &w.admin_a.token)
        .await
        .assert_status(200);
    app.get(&format!("/api/v1/uploads/{id}"), &resident_b.token)
        .await
        .assert_error(404, "NOT_FOUND");
    for bad in ["not-an-id", "%00", "a%00b"] {
        app.get(&format!("/api/v1/uploads/{bad}"), &resident_a.token)
            .await
            .assert_error(404, "NOT_FOUND");
    }

    // A signed URL works only as signed: not altered, not moved to another file, not expired.
    let get = |u: String| {
        let http = app.http.clone();
        let base = app.address.clone();
        async move {
            http.get(format!("{base}{u}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(url.clone()).await, 200);
    let flipped = if url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &url[..url.len() - 1]);
    assert_eq!(get(tampered).await, 404);
    let other = upload(
        &app,
        w.community_b,
        &resident_b.token,
        "y.png",
        "image/png",
        PNG.to_vec(),
    )
    .await;
    let other_id = other.assert_status(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(get(url.replace(id, &other_id)).await, 404);
    let (path, query) = url.split_once('?').unwrap();
    let sig = query.split('&').find(|p| p.starts_with("s=")).unwrap();
    assert_eq!(get(format!("{path}?e=1000&{sig}")).await, 404);
    assert_eq!(get(format!("{path}?e=abc&{sig}")).await, 400);

    // A file gone from storage (say, local disk of another machine) is not there: 404, not 500.
    let key = storage_key(&app, id).await;
    assert!(app.state.storage.get(&key).await.unwrap().is_some());
    app.state.storage.delete(&key).await.unwrap();
    assert_eq!(get(url).await, 404);
}

/// The form has one field, as a JSON body has its documented ones: another part, before or
/// after the file, or a second file, is refused naming it, and nothing is stored.
#[tokio::test]
async fn an_upload_form_has_only_its_file() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let resident = app.login("extra-parts").await;
    verified_resident(&app, &resident, w.community_a, &w.admin_a).await;
    let png = || Part::bytes(PNG.to_vec()).file_name("p.png");
    for (form, field) in [
        (Form::new().text("note", "hi").part("file", png()), "note"),
        (Form::new().part("file", png()).text("x", "{}"), "x"),
        (Form::new().part("file", png()).part("file", png()), "file"),
    ] {
        let res = app
            .http
            .post(format!(
                "{}/api/v1/communities/{}/uploads",
                app.address, w.community_a
            ))
            .bearer_auth(&resident.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let reply = TestApp::reply(res).await;
        reply.assert_error(422, "VALIDATION_FAILED");
        assert_eq!(reply.body["field"], field);
    }
    assert_eq!(stored(&app).await, 0);
}

async fn storage_key(app: &TestApp, id: &str) -> String {
    upload::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .expect("upload row")
        .storage_key
}

/// Erasing an account removes the person's private photos from storage itself (on S3 too):
/// the object is gone and its signed URL answers 404.
#[tokio::test]
async fn a_private_photo_leaves_storage_when_its_owner_erases() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let resident = app.login("camera-shy").await;
    verified_resident(&app, &resident, w.community_a, &w.admin_a).await;
    let made = upload(
        &app,
        w.community_a,
        &resident.token,
        "me.webp",
        "image/webp",
        WEBP.to_vec(),
    )
    .await;
    let body = made.assert_status(201).clone();
    let id = body["id"].as_str().unwrap();
    let url = body["url"].as_str().unwrap();
    if s3_endpoint().is_some() {
        assert!(app.state.storage.describe().starts_with("S3 bucket"));
    }
    let key = storage_key(&app, id).await;
    let stored = app.state.storage.get(&key).await.unwrap();
    assert_eq!(stored.as_deref(), Some(WEBP));
    let file = app
        .http
        .get(format!("{}{url}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "image/webp");
    assert_eq!(file.bytes().await.unwrap().as_ref(), WEBP);

    app.call(
        reqwest::Method::DELETE,
        "/api/v1/me",
        Some(&resident.token),
        None,
    )
    .await
    .assert_status(204);
    assert!(app.state.storage.get(&key).await.unwrap().is_none());
    let file = app
        .http
        .get(format!("{}{url}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 404);
}
