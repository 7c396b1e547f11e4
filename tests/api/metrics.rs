//! `/metrics` shows the background jobs' passes by job and outcome.

use std::time::{Duration, Instant};

use crate::helpers::*;

#[tokio::test]
async fn the_outbox_worker_and_the_expiry_job_report_their_passes() {
    let app = spawn_app_with(|s| {
        s.notifications.worker_enabled = true;
        s.notifications.poll_interval_ms = 100;
        s.points.expiry_job_enabled = true;
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = app
            .http
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let seen = |job: &str| {
            text.contains(&format!(
                "linli_job_runs_total{{job=\"{job}\",outcome=\"ok\"}}"
            )) && text.contains(&format!(
                "linli_job_duration_seconds_count{{job=\"{job}\"}}"
            ))
        };
        if seen("notifications") && seen("bean_expiry") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no job passes in /metrics: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
