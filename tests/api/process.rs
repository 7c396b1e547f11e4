//! The real binary: `linli serve` shuts down gracefully on SIGTERM (the request in flight
//! finishes), and `linli admin grant` makes the first platform admin.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn linli(db_url: &str, wechat: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_linli"));
    cmd.env("LINLI_PROFILE", "test")
        .env("LINLI__DATABASE__URL", db_url)
        .env("LINLI__WECHAT__BASE_URL", wechat)
        .env("LINLI__CACHE__BACKEND", "memory")
        .env("LINLI__SERVER__WORKERS", "1")
        .env(
            "LINLI__STORAGE__LOCAL_DIR",
            std::env::temp_dir().join("linli-proc-files"),
        )
        .env_remove("RUST_LOG");
    cmd
}

async fn serve(db_url: &str, wechat: &str) -> Server {
    let port = free_port();
    let server = Server {
        child: linli(db_url, wechat)
            .env("LINLI__SERVER__PORT", port.to_string())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if reqwest::get(format!("{}/healthz", server.base))
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("linli did not start");
}

/// A SQLite file for one test, removed when the test ends.
struct TempDb(std::path::PathBuf);

impl TempDb {
    fn new() -> Self {
        TempDb(std::env::temp_dir().join(format!("linli-proc-{}.db", uuid::Uuid::new_v4())))
    }

    fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish() {
    let wechat = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"openid": "slow", "session_key": "k"}))
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&wechat)
        .await;
    let db = TempDb::new();
    let mut server = serve(&db.url(), &wechat.uri()).await;
    let url = format!("{}/api/v1/auth/login", server.base);
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&json!({"code": "slow-code"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );

    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        200,
        "the request in flight finished"
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "process did not exit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "clean exit: {status:?}");
    // New connections are refused once it has stopped.
    assert!(
        reqwest::get(format!("{}/healthz", server.base))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_admin_command_makes_the_first_platform_admin() {
    let wechat = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/sns/jscode2session"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"openid": "first-admin", "session_key": "k"})),
        )
        .mount(&wechat)
        .await;
    let temp = TempDb::new();
    let db = temp.url();
    let server = serve(&db, &wechat.uri()).await;
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"code": "c"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let create = |token: String| {
        let http = http.clone();
        let url = format!("{}/api/v1/districts", server.base);
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"name": "盘龙区"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(create(token.clone()).await, 403);

    let out = linli(&db, &wechat.uri())
        .args([
            "admin",
            "grant",
            "--openid",
            "first-admin",
            "--role",
            "platform_admin",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Roles are read on every request: the same token now carries the new power.
    assert_eq!(create(token.clone()).await, 201);

    let unknown = linli(&db, &wechat.uri())
        .args([
            "admin",
            "grant",
            "--openid",
            "nobody",
            "--role",
            "platform_admin",
        ])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    let bad_role = linli(&db, &wechat.uri())
        .args([
            "admin",
            "grant",
            "--openid",
            "first-admin",
            "--role",
            "king",
        ])
        .output()
        .unwrap();
    assert!(!bad_role.status.success());

    let revoke = linli(&db, &wechat.uri())
        .args([
            "admin",
            "revoke",
            "--openid",
            "first-admin",
            "--role",
            "platform_admin",
        ])
        .output()
        .unwrap();
    assert!(revoke.status.success());
    assert_eq!(create(token).await, 403);
}
