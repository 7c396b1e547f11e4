//! Every URL inside a community answers another community's staff 404.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn another_communitys_staff_get_404_for_everything_inside() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let resident_b = app.login("resident-b").await;
    let mb = verified_resident(&app, &resident_b, w.community_b, &w.admin_b).await;
    let applicant_b = app.login("applicant-b").await;
    let pending_b = app
        .post(
            &format!("/api/v1/communities/{}/join", w.community_b),
            &applicant_b.token,
            json!({}),
        )
        .await;
    let pending_b = pending_b.assert_status(201)["membership_id"]
        .as_i64()
        .unwrap();
    let a = w.community_a;
    let b = w.community_b;

    // Admin of A, asking about B directly.
    for path in [
        format!("/api/v1/communities/{b}/memberships"),
        format!("/api/v1/communities/{b}/grids"),
        format!("/api/v1/communities/{b}/role-grants"),
        format!("/api/v1/communities/{b}/households"),
    ] {
        app.get(&path, &w.admin_a.token)
            .await
            .assert_error(404, "NOT_FOUND");
    }
    // Admin of A, using A's path with B's membership id.
    app.post(
        &format!("/api/v1/communities/{a}/memberships/{pending_b}/approve"),
        &w.admin_a.token,
        json!({}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.post(
        &format!("/api/v1/communities/{b}/memberships/{pending_b}/approve"),
        &w.admin_a.token,
        json!({}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    // A resident of B sees nothing of A.
    app.get(
        &format!("/api/v1/communities/{a}/buildings"),
        &resident_b.token,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    // And nothing was changed in B.
    let queue = app
        .get(
            &format!("/api/v1/communities/{b}/memberships"),
            &w.admin_b.token,
        )
        .await;
    assert_eq!(
        queue.assert_status(200)["items"][0]["membership_id"].as_i64(),
        Some(pending_b)
    );
    assert_ne!(mb, pending_b);
}
