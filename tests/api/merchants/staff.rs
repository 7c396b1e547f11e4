//! A merchant's staff: listed with their sales, removed by those who manage the shop (and
//! then refused at the counter), named on each sale; and staff uploading the shop's photos.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::support::merchants::{cashier, funded_resident, new_merchant, sell};
use crate::support::points::books_are_right;

fn items(r: &Reply) -> Vec<Value> {
    r.assert_status(200)["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn managers_list_and_remove_staff_and_see_who_sold_what() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let m = new_merchant(&app, a, &w.admin_a, "惠民超市").await;
    let li = cashier(&app, m, &w.admin_a, "li").await;
    app.call(
        Method::PATCH,
        "/api/v1/me",
        Some(&li.token),
        Some(json!({"nickname": "李晓红"})),
    )
    .await
    .assert_status(200);
    let zhao = cashier(&app, m, &w.admin_a, "zhao").await;
    let resident = funded_resident(&app, &w, "buyer", 100).await;
    sell(&app, w.community_a, m, &li, &resident, "s1", 5)
        .await
        .assert_status(201);
    sell(&app, w.community_a, m, &li, &resident, "s2", 5)
        .await
        .assert_status(201);
    sell(&app, w.community_a, m, &zhao, &resident, "s3", 5)
        .await
        .assert_status(201);

    // The community's admin sees both, with their sales and the grant behind each.
    let listed = app
        .get(&format!("/api/v1/merchants/{m}/staff"), &w.admin_a.token)
        .await;
    let staff = items(&listed);
    assert_eq!(staff.len(), 2);
    assert_eq!(staff[0]["user_id"].as_i64(), Some(li.id));
    assert_eq!(staff[0]["nickname_masked"], "李**");
    assert_eq!(staff[0]["redemptions"], 2);
    assert!(staff[0]["grant_id"].as_i64().is_some());
    assert!(staff[0]["joined_at"].as_str().is_some());
    assert_eq!(staff[1]["user_id"].as_i64(), Some(zhao.id));
    assert_eq!(staff[1]["redemptions"], 1);
    // Colleagues see each other; the platform admin sees them too.
    assert_eq!(
        items(
            &app.get(&format!("/api/v1/merchants/{m}/staff"), &zhao.token)
                .await
        )
        .len(),
        2
    );
    app.get(&format!("/api/v1/merchants/{m}/staff"), &w.platform.token)
        .await
        .assert_status(200);
    // Another community's admin, a resident and a stranger are told it does not exist.
    for token in [&w.admin_b.token, &resident.token] {
        app.get(&format!("/api/v1/merchants/{m}/staff"), token)
            .await
            .assert_error(404, "NOT_FOUND");
        app.call(
            Method::DELETE,
            &format!("/api/v1/merchants/{m}/staff/{}", li.id),
            Some(token),
            None,
        )
        .await
        .assert_error(404, "NOT_FOUND");
    }
    // Staff do not remove each other.
    app.call(
        Method::DELETE,
        &format!("/api/v1/merchants/{m}/staff/{}", li.id),
        Some(&zhao.token),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");

    // Who sold what: every pay-code sale names its cashier, and the list filters by one.
    let sales = items(
        &app.get(
            &format!("/api/v1/merchants/{m}/redemptions"),
            &w.admin_a.token,
        )
        .await,
    );
    assert_eq!(sales.len(), 3);
    assert_eq!(sales[0]["staff_user_id"].as_i64(), Some(zhao.id));
    assert_eq!(sales[2]["staff_user_id"].as_i64(), Some(li.id));
    assert_eq!(sales[2]["staff_name_masked"], "李**");
    let lis = items(
        &app.get(
            &format!("/api/v1/merchants/{m}/redemptions?staff_user_id={}", li.id),
            &w.admin_a.token,
        )
        .await,
    );
    assert_eq!(lis.len(), 2);
    assert!(
        lis.iter()
            .all(|s| s["staff_user_id"].as_i64() == Some(li.id))
    );
    app.get(
        &format!("/api/v1/merchants/{m}/redemptions?staff_user_id=x"),
        &w.admin_a.token,
    )
    .await
    .assert_error(400, "INVALID_PARAMETER");

    // Removed: once, then 404; a user who is not staff is 404 too.
    let remove = |who: i64| {
        let path = format!("/api/v1/merchants/{m}/staff/{who}");
        let app = &app;
        let token = w.admin_a.token.clone();
        async move { app.call(Method::DELETE, &path, Some(&token), None).await }
    };
    remove(li.id).await.assert_status(204);
    remove(li.id).await.assert_error(404, "NOT_FOUND");
    remove(resident.id).await.assert_error(404, "NOT_FOUND");
    // The removed cashier can no longer redeem or see the shop.
    sell(&app, w.community_a, m, &li, &resident, "s4", 5)
        .await
        .assert_error(403, "NOT_MERCHANT_STAFF");
    app.get(&format!("/api/v1/merchants/{m}/offers"), &li.token)
        .await
        .assert_error(404, "NOT_FOUND");
    app.get(&format!("/api/v1/merchants/{m}/staff"), &li.token)
        .await
        .assert_error(404, "NOT_FOUND");
    // Their past sales stay on the shop's records, under their id.
    let staff = items(
        &app.get(&format!("/api/v1/merchants/{m}/staff"), &w.admin_a.token)
            .await,
    );
    assert_eq!(staff.len(), 1);
    assert_eq!(staff[0]["user_id"].as_i64(), Some(zhao.id));
    let lis = items(
        &app.get(
            &format!("/api/v1/merchants/{m}/redemptions?staff_user_id={}", li.id),
            &w.admin_a.token,
        )
        .await,
    );
    assert_eq!(lis.len(), 2);
    books_are_right(&app).await;
}

/// POST /api/v1/merchants/{merchant_id}/uploads: a photo of the shop's own.
async fn shop_upload(app: &TestApp, merchant_id: i64, token: &str) -> Reply {
    let path = format!("/api/v1/merchants/{merchant_id}/uploads");
    let jpeg = crate::support::uploads::JPEG.to_vec();
    crate::support::uploads::upload_to(app, &path, token, "rice.jpg", "image/jpeg", jpeg).await
}

#[tokio::test]
async fn staff_put_the_shops_own_photos_on_its_offers() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let m = new_merchant(&app, a, &w.admin_a, "惠民超市").await;
    let other = new_merchant(&app, w.community_b, &w.admin_b, "和平便利店").await;
    let staff = cashier(&app, m, &w.admin_a, "cashier").await;
    let resident = app.login("resident").await;
    verified_resident(&app, &resident, a, &w.admin_a).await;

    // Staff are not residents: the community's uploads stay closed to them ...
    crate::support::uploads::upload(
        &app,
        a,
        &staff.token,
        "x.jpg",
        "image/jpeg",
        crate::support::uploads::JPEG.to_vec(),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    // ... and the shop's are open.
    let up = shop_upload(&app, m, &staff.token).await;
    let photo = up.assert_status(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(up.body["community_id"].as_i64(), Some(a));
    let seen = app
        .get(&format!("/api/v1/uploads/{photo}"), &staff.token)
        .await;
    let url = seen.assert_status(200)["url"].as_str().unwrap().to_owned();
    let file = app
        .http
        .get(format!("{}{url}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    // Residents of the community see it; another community's admin cannot upload for the shop.
    app.get(&format!("/api/v1/uploads/{photo}"), &resident.token)
        .await
        .assert_status(200);
    shop_upload(&app, m, &w.admin_b.token)
        .await
        .assert_error(404, "NOT_FOUND");
    shop_upload(&app, m, &resident.token)
        .await
        .assert_error(404, "NOT_FOUND");

    let made = app
        .post(
            &format!("/api/v1/merchants/{m}/offers"),
            &staff.token,
            json!({"name": "大米 5kg", "price": 10, "photo_upload_id": photo}),
        )
        .await;
    let offer = made.assert_status(201);
    assert_eq!(offer["photo_upload_id"], photo.as_str());
    assert_eq!(offer["merchant_name"], "惠民超市");
    let offer_id = offer["id"].as_i64().unwrap();
    let mine = items(
        &app.get(&format!("/api/v1/merchants/{m}/offers"), &staff.token)
            .await,
    );
    assert_eq!(mine[0]["merchant_name"], "惠民超市");
    let edited = app
        .call(
            Method::PATCH,
            &format!("/api/v1/offers/{offer_id}"),
            Some(&staff.token),
            Some(json!({"name": "大米 10kg"})),
        )
        .await;
    assert_eq!(edited.assert_status(200)["merchant_name"], "惠民超市");

    // An offer's photo is the shop's own: a resident's photo, or another shop's, is refused,
    // for staff and the platform admin alike.
    let residents = crate::support::uploads::upload(
        &app,
        a,
        &resident.token,
        "r.jpg",
        "image/jpeg",
        crate::support::uploads::JPEG.to_vec(),
    )
    .await;
    let residents = residents.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let others = shop_upload(&app, other, &w.admin_b.token).await;
    let others = others.assert_status(201)["id"].as_str().unwrap().to_owned();
    for token in [&staff.token, &w.platform.token] {
        for foreign in [&residents, &others] {
            app.post(
                &format!("/api/v1/merchants/{m}/offers"),
                token,
                json!({"name": "面粉", "price": 10, "photo_upload_id": foreign}),
            )
            .await
            .assert_error(422, "VALIDATION_FAILED");
        }
    }
    let platform_up = shop_upload(&app, m, &w.platform.token).await;
    let platform_photo = platform_up.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/v1/merchants/{m}/offers"),
        &w.platform.token,
        json!({"name": "面粉", "price": 10, "photo_upload_id": platform_photo}),
    )
    .await
    .assert_status(201);
}

#[tokio::test]
async fn a_street_shops_photo_is_seen_in_every_community_it_serves() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let made = app
        .post(
            &format!("/api/v1/streets/{}/merchants", w.street_id),
            &w.platform.token,
            json!({"name": "街道超市", "address": "人民路2号", "category": "超市", "contact": "0871-7654321", "community_ids": [w.community_a, w.community_b]}),
        )
        .await;
    let m = made.assert_status(201)["id"].as_i64().unwrap();
    let up = shop_upload(&app, m, &w.platform.token).await;
    let photo = up.assert_status(201)["id"].as_str().unwrap().to_owned();
    let in_b = app.login("resident-b").await;
    verified_resident(&app, &in_b, w.community_b, &w.admin_b).await;
    app.get(&format!("/api/v1/uploads/{photo}"), &in_b.token)
        .await
        .assert_status(200);
    let stranger = app.login("stranger").await;
    app.get(&format!("/api/v1/uploads/{photo}"), &stranger.token)
        .await
        .assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn two_removals_of_one_cashier_at_once_remove_once() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let m = new_merchant(&app, w.community_a, &w.admin_a, "惠民超市").await;
    let staff = cashier(&app, m, &w.admin_a, "cashier").await;
    let url = format!("{}/api/v1/merchants/{m}/staff/{}", app.address, staff.id);
    let mut tasks = Vec::new();
    for token in [w.admin_a.token.clone(), w.platform.token.clone()] {
        let req = app.http.delete(&url).bearer_auth(token);
        tasks.push(tokio::spawn(async move {
            TestApp::reply(req.send().await.unwrap()).await
        }));
    }
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    assert_eq!(wins(&replies, 204, 404, "NOT_FOUND"), 1);
}
