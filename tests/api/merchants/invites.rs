//! POST /api/v1/merchant/staff/join: an invitation accepted twice at once makes one member of
//! staff.

use serde_json::json;

use crate::helpers::*;
use crate::support::merchants::*;

#[tokio::test]
async fn accepting_two_invitations_at_once_makes_one_member_of_staff() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let mut codes = Vec::new();
    for _ in 0..2 {
        let invite = app
            .post(
                &format!("/api/v1/merchants/{}/invites", s.merchant_id),
                &s.w.admin_a.token,
                json!({}),
            )
            .await;
        codes.push(
            invite.assert_status(201)["code"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let newcomer = app.login("eager").await;
    let shots = codes
        .into_iter()
        .map(|c| {
            (
                "/api/v1/merchant/staff/join".to_owned(),
                None,
                json!({"code": c}),
            )
        })
        .collect();
    let replies = app.post_all(&newcomer.token, shots).await;
    assert_eq!(wins(&replies, 200, 500, "never"), 2);
    let me = app.get("/api/v1/me", &newcomer.token).await;
    let staff_roles = me.assert_status(200)["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["role"] == "merchant_staff")
        .count();
    assert_eq!(staff_roles, 1);
}
