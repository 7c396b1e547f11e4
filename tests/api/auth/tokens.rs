//! Attacks on the access token: forged, expired, for another audience or issuer, `alg: none`,
//! another algorithm, garbage.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use linli::auth::tokens::Claims;
use linli::config::DEV_JWT_SECRET;
use reqwest::Method;

use crate::helpers::*;

fn claims(user_id: i64, sid: &str) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        iss: "linli".into(),
        aud: "linli-miniprogram".into(),
        sub: user_id.to_string(),
        iat: now,
        exp: now + 600,
        jti: uuid::Uuid::new_v4().to_string(),
        sid: sid.into(),
    }
}

fn sign(claims: &Claims, alg: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn session_of(app: &TestApp, token: &str) -> Claims {
    app.state.tokens.verify(token).map_err(|_| ()).unwrap()
}

#[tokio::test]
async fn tampered_tokens_are_rejected() {
    let app = spawn_app().await;
    let user = app.login("victim").await;
    let sid = session_of(&app, &user.token).sid;

    // The genuine article works, so the rejections below are about the tampering.
    let good = sign(&claims(user.id, &sid), Algorithm::HS256, DEV_JWT_SECRET);
    app.get("/api/v1/me", &good).await.assert_status(200);

    let forged = sign(
        &claims(user.id, &sid),
        Algorithm::HS256,
        "some-other-secret",
    );
    app.get("/api/v1/me", &forged)
        .await
        .assert_error(401, "TOKEN_INVALID");

    let mut expired = claims(user.id, &sid);
    expired.iat -= 7200;
    expired.exp = chrono::Utc::now().timestamp() - 120;
    app.get(
        "/api/v1/me",
        &sign(&expired, Algorithm::HS256, DEV_JWT_SECRET),
    )
    .await
    .assert_error(401, "TOKEN_EXPIRED");

    let mut audience = claims(user.id, &sid);
    audience.aud = "another-app".into();
    app.get(
        "/api/v1/me",
        &sign(&audience, Algorithm::HS256, DEV_JWT_SECRET),
    )
    .await
    .assert_error(401, "TOKEN_INVALID");

    let mut issuer = claims(user.id, &sid);
    issuer.iss = "someone-else".into();
    app.get(
        "/api/v1/me",
        &sign(&issuer, Algorithm::HS256, DEV_JWT_SECRET),
    )
    .await
    .assert_error(401, "TOKEN_INVALID");

    let hs512 = sign(&claims(user.id, &sid), Algorithm::HS512, DEV_JWT_SECRET);
    app.get("/api/v1/me", &hs512)
        .await
        .assert_error(401, "TOKEN_INVALID");

    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(user.id, &sid)).unwrap());
    for none in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        app.get("/api/v1/me", &none)
            .await
            .assert_error(401, "TOKEN_INVALID");
    }

    // Someone else's id in a token for the victim's session.
    let other = app.login("attacker").await;
    let swapped = sign(&claims(other.id, &sid), Algorithm::HS256, DEV_JWT_SECRET);
    app.get("/api/v1/me", &swapped)
        .await
        .assert_error(401, "TOKEN_INVALID");

    app.get("/api/v1/me", "garbage")
        .await
        .assert_error(401, "TOKEN_INVALID");
}

#[tokio::test]
async fn missing_or_malformed_authorization_is_401() {
    let app = spawn_app().await;
    app.call(Method::GET, "/api/v1/me", None, None)
        .await
        .assert_error(401, "UNAUTHENTICATED");
    let res = app
        .http
        .get(format!("{}/api/v1/me", app.address))
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    TestApp::reply(res).await.assert_error(401, "TOKEN_INVALID");
}
