//! Photos as other tests use them: a small JPEG and POST /api/v1/communities/{id}/uploads.

use reqwest::multipart::{Form, Part};

use crate::helpers::{Reply, TestApp};

/// The smallest bytes the server takes for a JPEG.
pub const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 1, 2, 3,
];

/// POST /api/v1/communities/{community}/uploads with one file.
pub async fn upload(
    app: &TestApp,
    community: i64,
    token: &str,
    name: &str,
    mime: &str,
    bytes: Vec<u8>,
) -> Reply {
    let path = format!("/api/v1/communities/{community}/uploads");
    upload_to(app, &path, token, name, mime, bytes).await
}

/// A multipart POST of one file as the form field `file` (community and shop uploads alike).
pub async fn upload_to(
    app: &TestApp,
    path: &str,
    token: &str,
    name: &str,
    mime: &str,
    bytes: Vec<u8>,
) -> Reply {
    let part = Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .unwrap();
    let res = app
        .http
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    TestApp::reply(res).await
}

/// Uploads the JPEG as `name` into `community`; returns the upload's id.
pub async fn photo(app: &TestApp, community: i64, token: &str, name: &str) -> String {
    let up = upload(app, community, token, name, "image/jpeg", JPEG.to_vec()).await;
    up.assert_status(201)["id"].as_str().unwrap().to_owned()
}
