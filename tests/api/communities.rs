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
async fn join_review_and_verification() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let resident = app.login("resident").await;
    let a = w.community_a;

    // Before joining, the community's inside is invisible; its public card is not.
    app.get(&format!("/api/v1/communities/{a}/grids"), &resident.token)
        .await
        .assert_error(404, "NOT_FOUND");
    app.get(&format!("/api/v1/communities/{a}"), &resident.token)
        .await
        .assert_status(200);

    let joined = app
        .post(
            &format!("/api/v1/communities/{a}/join"),
            &resident.token,
            json!({}),
        )
        .await;
    let membership_id = joined.assert_status(201)["membership_id"].as_i64().unwrap();
    assert_eq!(joined.body["status"], "pending");
    app.post(
        &format!("/api/v1/communities/{a}/join"),
        &resident.token,
        json!({}),
    )
    .await
    .assert_error(409, "ALREADY_MEMBER");

    // Pending: an outsider until verified (tests/api/tenancy.rs walks every route).
    app.get(&format!("/api/v1/communities/{a}/grids"), &resident.token)
        .await
        .assert_error(404, "NOT_FOUND");
    // An applicant cannot review anyone, not even themselves.
    app.post(
        &format!("/api/v1/communities/{a}/memberships/{membership_id}/approve"),
        &resident.token,
        json!({}),
    )
    .await
    .assert_error(404, "NOT_FOUND");

    // A grid worker reviews: sees the queue, approves into a household.
    let grid_worker = app.login("gridder").await;
    app.grant(&grid_worker, Role::GridWorker, a).await;
    let queue = app
        .get(
            &format!("/api/v1/communities/{a}/memberships"),
            &grid_worker.token,
        )
        .await;
    let items = queue.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["user_id"].as_i64(), Some(resident.id));

    let building = app
        .post(
            &format!("/api/v1/communities/{a}/buildings"),
            &w.admin_a.token,
            json!({"name": "1栋"}),
        )
        .await;
    let building_id = building.assert_status(201)["id"].as_i64().unwrap();
    let household = app
        .post(
            &format!("/api/v1/communities/{a}/households"),
            &w.admin_a.token,
            json!({"building_id": building_id, "unit": "1单元", "room": "101"}),
        )
        .await;
    let household_id = household.assert_status(201)["id"].as_i64().unwrap();

    let approved = app
        .post(
            &format!("/api/v1/communities/{a}/memberships/{membership_id}/approve"),
            &grid_worker.token,
            json!({"household_id": household_id}),
        )
        .await;
    assert_eq!(approved.assert_status(200)["status"], "verified");
    assert_eq!(approved.body["household_id"].as_i64(), Some(household_id));
    app.post(
        &format!("/api/v1/communities/{a}/memberships/{membership_id}/approve"),
        &grid_worker.token,
        json!({}),
    )
    .await
    .assert_error(409, "MEMBERSHIP_NOT_PENDING");

    // Verified: a member now, and `me` says so.
    app.get(&format!("/api/v1/communities/{a}/grids"), &resident.token)
        .await
        .assert_status(200);
    let me = app.get("/api/v1/me", &resident.token).await;
    let memberships = me.assert_status(200)["memberships"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(memberships[0]["status"], "verified");
    assert_eq!(memberships[0]["community_name"], "阳光社区");

    // Rejection carries a reason the applicant sees, and they may apply again.
    let second = app.login("second").await;
    let m2 = app
        .post(
            &format!("/api/v1/communities/{a}/join"),
            &second.token,
            json!({}),
        )
        .await;
    let m2 = m2.assert_status(201)["membership_id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/communities/{a}/memberships/{m2}/reject"),
        &w.admin_a.token,
        json!({"reason": ""}),
    )
    .await
    .assert_error(422, "VALIDATION_FAILED");
    app.post(
        &format!("/api/v1/communities/{a}/memberships/{m2}/reject"),
        &w.admin_a.token,
        json!({"reason": "未能核实住址"}),
    )
    .await
    .assert_status(200);
    let me = app.get("/api/v1/me", &second.token).await;
    assert_eq!(me.body["memberships"][0]["status"], "rejected");
    assert_eq!(me.body["memberships"][0]["reject_reason"], "未能核实住址");
    // Rejected: an outsider again.
    app.get(&format!("/api/v1/communities/{a}/grids"), &second.token)
        .await
        .assert_error(404, "NOT_FOUND");
    app.call(
        Method::PUT,
        &format!("/api/v1/communities/{a}/memberships/{m2}/household"),
        Some(&w.admin_a.token),
        Some(json!({"household_id": household_id})),
    )
    .await
    .assert_error(409, "MEMBERSHIP_NOT_VERIFIED");
    let again = app
        .post(
            &format!("/api/v1/communities/{a}/join"),
            &second.token,
            json!({}),
        )
        .await;
    assert_eq!(again.assert_status(201)["status"], "pending");

    // Unknown status filter and bad page sizes are refused clearly.
    app.get(
        &format!("/api/v1/communities/{a}/memberships?status=bogus"),
        &w.admin_a.token,
    )
    .await
    .assert_error(400, "INVALID_PARAMETER");
    app.get(
        &format!("/api/v1/communities/{a}/memberships?limit=100000"),
        &w.admin_a.token,
    )
    .await
    .assert_error(400, "INVALID_PARAMETER");
}

#[tokio::test]
async fn memberships_page_by_cursor() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    for i in 0..5 {
        let u = app.login(&format!("p{i}")).await;
        app.post(
            &format!("/api/v1/communities/{a}/join"),
            &u.token,
            json!({}),
        )
        .await
        .assert_status(201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/communities/{a}/memberships?limit=2&cursor={c}"),
            None => format!("/api/v1/communities/{a}/memberships?limit=2"),
        };
        let page = app.get(&url, &w.admin_a.token).await;
        let body = page.assert_status(200).clone();
        for item in body["items"].as_array().unwrap() {
            seen.push(item["membership_id"].as_i64().unwrap());
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "ascending, no repeats");
    app.get(
        &format!("/api/v1/communities/{a}/memberships?cursor=not-a-cursor"),
        &w.admin_a.token,
    )
    .await
    .assert_error(400, "INVALID_PARAMETER");
}

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

#[tokio::test]
async fn concurrent_reviews_of_one_application_have_one_winner() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.community_a;
    let applicant = app.login("applicant").await;
    let joined = app
        .post(
            &format!("/api/v1/communities/{a}/join"),
            &applicant.token,
            json!({}),
        )
        .await;
    let membership_id = joined.assert_status(201)["membership_id"].as_i64().unwrap();
    let mut reviewers = Vec::new();
    for i in 0..8 {
        let r = app.login(&format!("reviewer{i}")).await;
        app.grant(&r, Role::GridWorker, a).await;
        reviewers.push(r);
    }
    let mut tasks = Vec::new();
    for (i, r) in reviewers.iter().enumerate() {
        let http = app.http.clone();
        let action = if i % 2 == 0 { "approve" } else { "reject" };
        let url = format!(
            "{}/api/v1/communities/{a}/memberships/{membership_id}/{action}",
            app.address
        );
        let body = if action == "approve" {
            json!({})
        } else {
            json!({"reason": "重复"})
        };
        let token = r.token.clone();
        tasks.push(tokio::spawn(async move {
            let res = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            TestApp::reply(res).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        let reply = t.await.unwrap();
        if reply.status.as_u16() == 200 {
            wins += 1;
        } else {
            reply.assert_error(409, "MEMBERSHIP_NOT_PENDING");
        }
    }
    assert_eq!(wins, 1);
}
