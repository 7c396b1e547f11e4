//! POST /api/v1/me/counter-payments: residents pay by scanning the shop's counter code.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::support::merchants::*;
use crate::support::points::{balance, books_are_right, transactions};

async fn counter_pay(app: &TestApp, user: &TestUser, key: &str, body: Value) -> Reply {
    app.post_with_key("/api/v1/me/counter-payments", &user.token, key, body)
        .await
}

#[tokio::test]
async fn residents_pay_by_scanning_the_shops_counter_code() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let a = s.w.community_a;
    let resident = funded_resident(&app, &s.w, "scanner", 100).await;
    let codes = format!("/api/v1/merchants/{}/counter-codes", s.merchant_id);
    app.post(&codes, &resident.token, json!({}))
        .await
        .assert_error(404, "NOT_FOUND");
    let made = app.post(&codes, &s.staff.token, json!({})).await;
    let scene = made.assert_status(201)["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    // Staff can print it: the image asks WeChat for the shop's page.
    use wiremock::matchers::{body_partial_json, method, path};
    wiremock::Mock::given(method("POST"))
        .and(path("/wxa/getwxacodeunlimit"))
        .and(body_partial_json(
            json!({"scene": scene, "page": "pages/points/counter"}),
        ))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_raw(crate::codes::PNG.to_vec(), "image/png"),
        )
        .expect(1)
        .mount(&app.wechat)
        .await;
    let image = app
        .http
        .get(format!("{}/api/v1/codes/{scene}/image", app.address))
        .bearer_auth(&s.staff.token)
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), 200);
    app.get(&format!("/api/v1/codes/{scene}/image"), &resident.token)
        .await
        .assert_error(404, "NOT_FOUND");
    let opened = app
        .get(&format!("/api/v1/codes/{scene}"), &resident.token)
        .await;
    assert_eq!(opened.assert_status(200)["purpose"], "merchant_counter");
    assert_eq!(opened.body["target_id"], s.merchant_id);

    let paid = counter_pay(
        &app,
        &resident,
        "c-1",
        json!({"scene": scene, "amount": 30}),
    )
    .await;
    let receipt = paid.assert_status(201).clone();
    assert_eq!(receipt["channel"], "counter_code");
    assert_eq!(
        (receipt["amount"].as_i64(), receipt["community_id"].as_i64()),
        (Some(30), Some(a))
    );
    // A retry replays the receipt; the same key for another amount is refused.
    let before = transactions(&app).await;
    let again = counter_pay(
        &app,
        &resident,
        "c-1",
        json!({"scene": scene, "amount": 30}),
    )
    .await;
    assert_eq!(again.assert_status(201), &receipt);
    counter_pay(
        &app,
        &resident,
        "c-1",
        json!({"scene": scene, "amount": 31}),
    )
    .await
    .assert_error(409, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(balance(&app, a, &resident).await, 70);
    // The shop sees it come in.
    let list = app
        .get(
            &format!("/api/v1/merchants/{}/redemptions", s.merchant_id),
            &s.staff.token,
        )
        .await;
    let first = &list.assert_status(200)["items"][0];
    assert_eq!(
        (first["channel"].as_str(), first["amount"].as_i64()),
        (Some("counter_code"), Some(30))
    );
    app.get(
        &format!("/api/v1/merchants/{}/redemptions", s.merchant_id),
        &resident.token,
    )
    .await
    .assert_error(404, "NOT_FOUND");

    // Refusals write nothing: too much, a resident of a community the shop does not serve,
    // a code that is not a counter code, a malformed scene.
    counter_pay(
        &app,
        &resident,
        "c-2",
        json!({"scene": scene, "amount": 1000}),
    )
    .await
    .assert_error(409, "INSUFFICIENT_BEANS");
    let outsider = app.login("outsider-b").await;
    verified_resident(&app, &outsider, s.w.community_b, &s.w.admin_b).await;
    counter_pay(&app, &outsider, "c-3", json!({"scene": scene, "amount": 1}))
        .await
        .assert_error(403, "COMMUNITY_NOT_SERVED");
    counter_pay(
        &app,
        &resident,
        "c-4",
        json!({"scene": scene, "amount": 1, "community_id": s.w.community_b}),
    )
    .await
    .assert_error(403, "COMMUNITY_NOT_SERVED");
    let join = app
        .post(
            &format!("/api/v1/communities/{a}/codes"),
            &s.w.admin_a.token,
            json!({"purpose": "join_community"}),
        )
        .await;
    let join_scene = join.assert_status(201)["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    counter_pay(
        &app,
        &resident,
        "c-5",
        json!({"scene": join_scene, "amount": 1}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    counter_pay(
        &app,
        &resident,
        "c-6",
        json!({"scene": "../etc", "amount": 1}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.post(
        &format!("/api/v1/communities/{a}/codes"),
        &s.w.admin_a.token,
        json!({"purpose": "merchant_counter"}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    assert_eq!(transactions(&app).await, before);

    // Seven of twenty concurrent payments of 10 fit in the 70 left.
    let shots = (0..20)
        .map(|i| {
            (
                "/api/v1/me/counter-payments".to_owned(),
                Some(format!("rush-{i}")),
                json!({"scene": scene, "amount": 10}),
            )
        })
        .collect();
    let replies = app.post_all(&resident.token, shots).await;
    assert_eq!(wins(&replies, 201, 409, "INSUFFICIENT_BEANS"), 7);
    assert_eq!(balance(&app, a, &resident).await, 0);

    // Staff revoke the code: it stops working.
    app.post(
        &format!("/api/v1/codes/{scene}/revoke"),
        &s.staff.token,
        json!({}),
    )
    .await
    .assert_status(200);
    counter_pay(&app, &resident, "c-7", json!({"scene": scene, "amount": 1}))
        .await
        .assert_error(410, "CODE_REVOKED");
    books_are_right(&app).await;
}
