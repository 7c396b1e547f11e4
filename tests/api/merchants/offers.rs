//! PATCH /api/v1/offers/{offer_id}: staff edit their offers; bad edits change nothing.

use linli::entities::offer;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::support::merchants::*;

async fn edit_offer(app: &TestApp, token: &str, offer: i64, body: Value) -> Reply {
    app.call(
        reqwest::Method::PATCH,
        &format!("/api/v1/offers/{offer}"),
        Some(token),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn staff_edit_offers_and_bad_edits_change_nothing() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let rice = new_offer(
        &app,
        &s,
        json!({"name": "大米", "price": 50, "stock": 10, "per_resident_limit": 1}),
    )
    .await;
    let before = offer::Entity::find_by_id(rice)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();

    // Refused, each with its field, and the offer is as it was.
    for (body, field) in [
        (json!({"price": 0}), "price"),
        (json!({"name": "  "}), "name"),
        (json!({"stock": -1}), "stock"),
        (json!({"per_resident_limit": 0}), "per_resident_limit"),
        (
            json!({"valid_from": "2030-01-02T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}),
            "valid_until",
        ),
        (
            json!({"photo_upload_id": "no-such-upload"}),
            "photo_upload_id",
        ),
        (json!({"colour": "red"}), "colour"),
    ] {
        let reply = edit_offer(&app, &s.staff.token, rice, body.clone()).await;
        assert_eq!(reply.status, 422, "{body}: {:?}", reply.body);
        assert_eq!(reply.body["field"], field, "{body}");
    }
    let resident = funded_resident(&app, &s.w, "nosy", 0).await;
    edit_offer(&app, &resident.token, rice, json!({"price": 1}))
        .await
        .assert_error(404, "NOT_FOUND");
    let unchanged = offer::Entity::find_by_id(rice)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged, before);

    // A new name and price; `null` lifts the limit and the stock; what is left out stays.
    let edited = edit_offer(
        &app,
        &s.staff.token,
        rice,
        json!({"name": "东北大米", "price": 45, "per_resident_limit": null, "stock": null}),
    )
    .await;
    let edited = edited.assert_status(200);
    assert_eq!(edited["name"], "东北大米");
    assert_eq!(edited["price"], 45);
    assert_eq!(edited["per_resident_limit"], Value::Null);
    assert_eq!(edited["stock"], Value::Null);
    let after = offer::Entity::find_by_id(rice)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (after.valid_from, after.valid_until, after.active),
        (before.valid_from, before.valid_until, before.active)
    );
}
