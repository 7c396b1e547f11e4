//! POST /api/v1/districts, …/districts/{id}/streets, …/streets/{id}/communities (with its grids,
//! buildings and households) and /api/v1/role-grants: the hierarchy is built by the right roles,
//! and roles are granted only by those with authority over the scope.

use linli::auth::roles::Role;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn the_hierarchy_is_built_by_the_right_roles() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let nobody = app.login("nobody").await;

    app.post(
        "/api/v1/districts",
        &nobody.token,
        json!({"name": "五华区"}),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    app.post(
        "/api/v1/districts",
        &w.platform.token,
        json!({"name": "盘龙区"}),
    )
    .await
    .assert_error(409, "NAME_TAKEN");
    app.post(
        "/api/v1/districts",
        &w.platform.token,
        json!({"name": "  "}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");

    // A street admin creates communities in their own street only.
    let street_admin = app.login("street").await;
    app.grant(&street_admin, Role::StreetAdmin, w.street_id)
        .await;
    app.post(
        &format!("/api/v1/streets/{}/communities", w.street_id),
        &street_admin.token,
        json!({"name": "新村社区"}),
    )
    .await
    .assert_status(201);
    let districts = app.get("/api/v1/districts", &nobody.token).await;
    let district_id = districts.assert_status(200)[0]["id"].as_i64().unwrap();
    let other_street = app
        .post(
            &format!("/api/v1/districts/{district_id}/streets"),
            &w.platform.token,
            json!({"name": "鼓楼街道"}),
        )
        .await;
    let other_street = other_street.assert_status(201)["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/streets/{other_street}/communities"),
        &street_admin.token,
        json!({"name": "越界社区"}),
    )
    .await
    .assert_error(403, "FORBIDDEN");

    // A community admin builds grids, buildings and households in their community.
    let grid = app
        .post(
            &format!("/api/v1/communities/{}/grids", w.community_a),
            &w.admin_a.token,
            json!({"name": "第一网格"}),
        )
        .await;
    let grid_id = grid.assert_status(201)["id"].as_i64().unwrap();
    let building = app
        .post(
            &format!("/api/v1/communities/{}/buildings", w.community_a),
            &w.admin_a.token,
            json!({"name": "3栋", "grid_id": grid_id}),
        )
        .await;
    let building_id = building.assert_status(201)["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/communities/{}/households", w.community_a),
        &w.admin_a.token,
        json!({"building_id": building_id, "unit": "2单元", "room": "301"}),
    )
    .await
    .assert_status(201);
    app.post(
        &format!("/api/v1/communities/{}/households", w.community_a),
        &w.admin_a.token,
        json!({"building_id": building_id, "unit": "2单元", "room": "301"}),
    )
    .await
    .assert_error(409, "NAME_TAKEN");

    // Community B's admin cannot use A's grid or building, and cannot see A at all.
    app.post(
        &format!("/api/v1/communities/{}/buildings", w.community_b),
        &w.admin_b.token,
        json!({"name": "借用", "grid_id": grid_id}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    app.post(
        &format!("/api/v1/communities/{}/households", w.community_b),
        &w.admin_b.token,
        json!({"building_id": building_id, "unit": "1", "room": "1"}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    app.post(
        &format!("/api/v1/communities/{}/grids", w.community_a),
        &w.admin_b.token,
        json!({"name": "入侵"}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.get(
        &format!("/api/v1/communities/{}/grids", w.community_a),
        &w.admin_b.token,
    )
    .await
    .assert_error(404, "NOT_FOUND");

    // The street admin oversees every community of the street.
    let grids = app
        .get(
            &format!("/api/v1/communities/{}/grids", w.community_a),
            &street_admin.token,
        )
        .await;
    assert_eq!(
        grids.assert_status(200)["items"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn role_grants_follow_authority() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let helper = app.login("helper").await;
    let a = w.community_a;
    let b = w.community_b;

    let granted = app
        .post(
            "/api/v1/role-grants",
            &w.admin_a.token,
            json!({"user_id": helper.id, "role": "grid_worker", "scope_id": a}),
        )
        .await;
    let grant_id = granted.assert_status(201)["id"].as_i64().unwrap();
    app.post(
        "/api/v1/role-grants",
        &w.admin_a.token,
        json!({"user_id": helper.id, "role": "grid_worker", "scope_id": a}),
    )
    .await
    .assert_error(409, "ROLE_ALREADY_GRANTED");
    // The new grid worker can review at once.
    app.get(
        &format!("/api/v1/communities/{a}/memberships"),
        &helper.token,
    )
    .await
    .assert_status(200);

    // Not in another community, not a street or platform role, not "resident".
    app.post(
        "/api/v1/role-grants",
        &w.admin_a.token,
        json!({"user_id": helper.id, "role": "community_admin", "scope_id": b}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.post(
        "/api/v1/role-grants",
        &w.admin_a.token,
        json!({"user_id": helper.id, "role": "platform_admin"}),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    app.post(
        "/api/v1/role-grants",
        &w.admin_a.token,
        json!({"user_id": helper.id, "role": "street_admin", "scope_id": w.street_id}),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    app.post(
        "/api/v1/role-grants",
        &w.admin_a.token,
        json!({"user_id": helper.id, "role": "resident", "scope_id": a}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    app.post(
        "/api/v1/role-grants",
        &w.admin_a.token,
        json!({"user_id": helper.id, "role": "emperor", "scope_id": a}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");

    // Admin of B cannot revoke A's grant; it does not exist for them.
    app.call(
        Method::DELETE,
        &format!("/api/v1/role-grants/{grant_id}"),
        Some(&w.admin_b.token),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    let listed = app
        .get(
            &format!("/api/v1/communities/{a}/role-grants"),
            &w.admin_a.token,
        )
        .await;
    assert!(
        listed
            .assert_status(200)
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == grant_id)
    );
    app.call(
        Method::DELETE,
        &format!("/api/v1/role-grants/{grant_id}"),
        Some(&w.admin_a.token),
        None,
    )
    .await
    .assert_status(204);
    app.get(
        &format!("/api/v1/communities/{a}/memberships"),
        &helper.token,
    )
    .await
    .assert_error(404, "NOT_FOUND");
}
