//! POST /api/v1/communities/{community_id}/join and …/memberships/{id}/approve|reject, GET
//! …/memberships: applications, their review and verification, paging, and one winner when two
//! reviews race.

use linli::auth::roles::Role;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

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

    // Pending: an outsider until verified (tests/api/communities/tenancy.rs walks every route).
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
