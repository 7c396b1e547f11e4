//! Erasing an account keeps, whole and detached from the person, what other people rely on:
//! the wish a volunteer fulfilled and its proof photo, the photos of a wish a grid worker
//! posted for someone, an offer's photo uploaded by its cashier, receipts, the ledger.

use linli::auth::roles::Role;
use linli::entities::{upload, wish_claim};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::support::points::books_are_right;
use crate::support::uploads::photo;
use crate::support::wishes::review;

/// A wish with one photo.
fn wish_body(photo: &str) -> Value {
    let mut body = crate::support::wishes::wish_body();
    body["photo_upload_ids"] = json!([photo]);
    body
}

/// The photo as `viewer` fetches it: its details, then the file behind the signed URL.
async fn fetch(app: &TestApp, viewer: &TestUser, id: &str) -> u16 {
    let seen = app
        .get(&format!("/api/v1/uploads/{id}"), &viewer.token)
        .await;
    if seen.status != 200 {
        return seen.status.as_u16();
    }
    let url = seen.body["url"].as_str().unwrap();
    let file = app
        .http
        .get(format!("{}{url}", app.address))
        .send()
        .await
        .unwrap();
    let status = file.status().as_u16();
    assert_eq!(
        file.bytes().await.unwrap().as_ref(),
        crate::support::uploads::JPEG
    );
    status
}

#[tokio::test]
async fn erasure_keeps_every_record_others_rely_on_whole() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    app.call(
        Method::PUT,
        &format!("/api/v1/communities/{a}/points/rules"),
        Some(&w.admin_a.token),
        Some(json!({"event_kind": "wish_fulfilled", "beans_per_unit": 30})),
    )
    .await
    .assert_status(200);
    let poster = app.login("poster").await;
    verified_resident(&app, &poster, a, &w.admin_a).await;
    let volunteer = app.login("volunteer").await;
    verified_resident(&app, &volunteer, a, &w.admin_a).await;
    let gridder = app.login("gridder").await;
    app.grant(&gridder, Role::GridWorker, a).await;
    let other_gridder = app.login("other-gridder").await;
    app.grant(&other_gridder, Role::GridWorker, a).await;

    // A wish the volunteer fulfils with a proof photo, confirmed (and paid).
    let wish_photo = photo(&app, a, &poster.token, "p.jpg").await;
    let made = app
        .post(
            &format!("/api/v1/communities/{a}/wishes"),
            &poster.token,
            wish_body(&wish_photo),
        )
        .await;
    let fulfilled = made.assert_status(201)["id"].as_i64().unwrap();
    review(&app, fulfilled, &w.admin_a.token, None)
        .await
        .assert_status(200);
    app.post(
        &format!("/api/v1/wishes/{fulfilled}/claim"),
        &volunteer.token,
        json!({}),
    )
    .await
    .assert_status(200);
    let proof = photo(&app, a, &volunteer.token, "p.jpg").await;
    app.post(
        &format!("/api/v1/wishes/{fulfilled}/fulfil"),
        &volunteer.token,
        json!({"note": "送到了", "proof_upload_ids": [proof]}),
    )
    .await
    .assert_status(200);
    app.post(
        &format!("/api/v1/wishes/{fulfilled}/confirm"),
        &poster.token,
        json!({}),
    )
    .await
    .assert_status(200);
    // A wish the grid worker posted for an elderly resident (代录), with the worker's photo.
    let proxy_photo = photo(&app, a, &gridder.token, "p.jpg").await;
    let mut body = wish_body(&proxy_photo);
    body["on_behalf"] = json!({"name": "李奶奶", "consent": true});
    let made = app
        .post(
            &format!("/api/v1/communities/{a}/wishes"),
            &gridder.token,
            body,
        )
        .await;
    let proxied = made.assert_status(201)["id"].as_i64().unwrap();
    review(&app, proxied, &w.admin_a.token, None)
        .await
        .assert_status(200);
    // A photo of the volunteer's that nothing uses.
    let loose = photo(&app, a, &volunteer.token, "p.jpg").await;

    // A shop whose cashier uploaded the offer's photo; the volunteer buys there both ways.
    let made = app
        .post(
            &format!("/api/v1/communities/{a}/merchants"),
            &w.admin_a.token,
            json!({"name": "惠民超市", "address": "人民路1号", "category": "超市", "contact": "0871-1234567"}),
        )
        .await;
    let m = made.assert_status(201)["id"].as_i64().unwrap();
    let invite = app
        .post(
            &format!("/api/v1/merchants/{m}/invites"),
            &w.admin_a.token,
            json!({}),
        )
        .await;
    let cashier = app.login("cashier").await;
    app.post(
        "/api/v1/merchant/staff/join",
        &cashier.token,
        json!({"code": invite.assert_status(201)["code"]}),
    )
    .await
    .assert_status(200);
    let part = reqwest::multipart::Part::bytes(crate::support::uploads::JPEG.to_vec())
        .file_name("rice.jpg")
        .mime_str("image/jpeg")
        .unwrap();
    let res = app
        .http
        .post(format!("{}/api/v1/merchants/{m}/uploads", app.address))
        .bearer_auth(&cashier.token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    let offer_photo = TestApp::reply(res).await.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let made = app
        .post(
            &format!("/api/v1/merchants/{m}/offers"),
            &cashier.token,
            json!({"name": "大米 5kg", "price": 10, "photo_upload_id": offer_photo}),
        )
        .await;
    let offer = made.assert_status(201)["id"].as_i64().unwrap();
    let code = app
        .get(
            &format!("/api/v1/me/pay-code?community_id={a}"),
            &volunteer.token,
        )
        .await;
    let sold = app.post_with_key("/api/v1/merchant/redemptions",
        &cashier.token,
        "sale-1",
        json!({"merchant_id": m, "pay_code": code.assert_status(200)["code"], "offer_id": offer}),
    )
    .await;
    let receipt = sold.assert_status(201)["redemption_id"].as_i64().unwrap();
    let counter = app
        .post(
            &format!("/api/v1/merchants/{m}/counter-codes"),
            &cashier.token,
            json!({}),
        )
        .await;
    let scene = counter.assert_status(201)["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    let paid = app
        .post_with_key(
            "/api/v1/me/counter-payments",
            &volunteer.token,
            "pay-1",
            json!({"scene": scene, "amount": 5}),
        )
        .await;
    let counter_receipt = paid.assert_status(201)["redemption_id"].as_i64().unwrap();

    // The volunteer, the cashier and the grid worker erase their accounts.
    for who in [&volunteer, &cashier, &gridder] {
        app.call(Method::DELETE, "/api/v1/me", Some(&who.token), None)
            .await
            .assert_status(204);
    }

    // The fulfilled wish is whole, its proof fetchable by the other grid worker's signed URL.
    let seen = app
        .get(&format!("/api/v1/wishes/{fulfilled}"), &other_gridder.token)
        .await;
    assert_eq!(seen.assert_status(200)["state"], "confirmed");
    assert_eq!(seen.body["proof_upload_ids"], json!([proof]));
    assert_eq!(
        seen.body["private"]["photo_upload_ids"],
        json!([wish_photo])
    );
    assert_eq!(fetch(&app, &other_gridder, &proof).await, 200);
    assert_eq!(fetch(&app, &other_gridder, &wish_photo).await, 200);
    let claims = wish_claim::Entity::find()
        .filter(wish_claim::Column::WishId.eq(fulfilled))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].claimer_id, volunteer.id);
    // The wish posted for 李奶奶 keeps its photo.
    let seen = app
        .get(&format!("/api/v1/wishes/{proxied}"), &other_gridder.token)
        .await;
    assert_eq!(seen.assert_status(200)["state"], "published");
    assert_eq!(
        seen.body["private"]["photo_upload_ids"],
        json!([proxy_photo])
    );
    assert_eq!(fetch(&app, &other_gridder, &proxy_photo).await, 200);
    // The offer and its photo, for residents.
    let offers = app
        .get(&format!("/api/v1/communities/{a}/offers"), &poster.token)
        .await;
    assert_eq!(
        offers.assert_status(200)["items"][0]["photo_upload_id"],
        offer_photo.as_str()
    );
    assert_eq!(fetch(&app, &poster, &offer_photo).await, 200);
    // Receipts of both sales, on the shop's books.
    for id in [receipt, counter_receipt] {
        app.get(&format!("/api/v1/redemptions/{id}"), &w.admin_a.token)
            .await
            .assert_status(200);
    }
    let lines = app
        .get(
            &format!("/api/v1/merchants/{m}/redemptions"),
            &w.admin_a.token,
        )
        .await;
    assert_eq!(
        lines.assert_status(200)["items"].as_array().unwrap().len(),
        2
    );

    // Kept photos belong to no one now; the unused one is gone.
    for id in [&proof, &proxy_photo, &offer_photo] {
        let row = upload::Entity::find_by_id(id.clone())
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.owner_id, linli::users::service::NO_OWNER, "{id}");
    }
    let poster_own = upload::Entity::find_by_id(wish_photo.clone())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(poster_own.owner_id, poster.id);
    assert!(
        upload::Entity::find_by_id(loose.clone())
            .one(&app.state.db)
            .await
            .unwrap()
            .is_none()
    );
    app.get(&format!("/api/v1/uploads/{loose}"), &w.admin_a.token)
        .await
        .assert_error(404, "NOT_FOUND");
    books_are_right(&app).await;
}
