use linli::auth::roles::Role;
use linli::config::{CacheBackend, Profile, Settings, StorageBackend};
use linli::startup::Application;
use linli::state::AppState;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub wechat: MockServer,
    pub state: AppState,
    _files: TempFiles,
}

/// Removes a test's SQLite files and stored files when the test ends.
struct TempFiles {
    sqlite: Option<String>,
    storage: String,
}

impl Drop for TempFiles {
    fn drop(&mut self) {
        if let Some(path) = &self.sqlite {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
        let _ = std::fs::remove_dir_all(&self.storage);
    }
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://")?;
    Some(rest.split('?').next().unwrap_or(rest).to_owned())
}

pub struct TestUser {
    pub id: i64,
    pub token: String,
    pub refresh: String,
    pub openid: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// Asserts an error reply: the status, the stable code, and a Chinese message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.body);
        assert_eq!(self.code(), code, "code; body: {}", self.body);
        let message = self.body["message"].as_str().unwrap_or_default();
        assert!(
            message
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "message should be Chinese: {message}"
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        &self.body
    }
}

/// A database of the test's own: a fresh PostgreSQL database, or a temporary SQLite file.
async fn test_database_url() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    match std::env::var("LINLI_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("linli_t_{}", &id[..20]);
            let admin = Database::connect(admin_url.as_str())
                .await
                .expect("LINLI_TEST_DATABASE_URL unreachable");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let base = admin_url.split('?').next().unwrap_or(&admin_url);
            let cut = base.rfind('/').expect("database URL has a path");
            format!("{}/{name}", &base[..cut])
        }
        _ => {
            let file = std::env::temp_dir().join(format!("linli-test-{id}.db"));
            format!("sqlite://{}?mode=rwc", file.display())
        }
    }
}

pub fn redis_url() -> Option<String> {
    std::env::var("LINLI_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// Settings for a test: the test profile, a database and cache namespace of its own, and the
/// fake WeChat server.
pub async fn test_settings(wechat: &MockServer) -> Settings {
    let mut s = Settings::load(Profile::Test, Vec::new()).expect("test settings");
    s.server.host = "127.0.0.1".into();
    s.server.port = 0;
    s.server.workers = 1;
    s.database.url = test_database_url().await;
    s.database.max_connections = 8;
    s.cache.key_prefix = format!("linli-test:{}:", uuid::Uuid::new_v4().simple());
    if let Some(url) = redis_url() {
        s.cache.backend = CacheBackend::Redis;
        s.cache.redis_url = url;
    } else {
        s.cache.backend = CacheBackend::Memory;
    }
    s.wechat.base_url = wechat.uri();
    s.wechat.appid = "wx-test-app".into();
    s.storage.local_dir = std::env::temp_dir()
        .join(format!("linli-files-{}", uuid::Uuid::new_v4().simple()))
        .display()
        .to_string();
    if let Some(endpoint) = s3_endpoint() {
        s3_storage(&mut s, &endpoint).await;
    }
    s
}

/// An S3-compatible server to keep files in instead of a local directory (`.ci/run` starts
/// moto's server for the upload tests).
pub fn s3_endpoint() -> Option<String> {
    std::env::var("LINLI_TEST_S3_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
}

/// A bucket of the test's own on the S3 server. Made with a bare `PUT /bucket`: moto's server
/// does not check signatures, and object_store has no call to make buckets.
async fn s3_storage(s: &mut Settings, endpoint: &str) {
    let bucket = format!("linli-t-{}", uuid::Uuid::new_v4().simple());
    let made = reqwest::Client::new()
        .put(format!("{}/{bucket}", endpoint.trim_end_matches('/')))
        .send()
        .await
        .expect("LINLI_TEST_S3_ENDPOINT unreachable");
    assert!(
        made.status().is_success(),
        "bucket not made: {}",
        made.status()
    );
    s.storage.backend = StorageBackend::S3;
    s.storage.s3_endpoint = endpoint.to_owned();
    s.storage.s3_bucket = bucket;
    s.storage.s3_region = "us-east-1".into();
    // A local test server speaks plain HTTP; object_store refuses it unless told.
    s.storage.s3_allow_http = true;
    s.storage.s3_access_key_id = Some("linli-test".into());
    s.storage.s3_secret_access_key = Some("linli-test-secret".into());
}

/// What the fake WeChat answers when a test has not said otherwise: an access token, and
/// "pass" for every content check. Tests mount their own answers at a higher priority.
pub async fn default_wechat(wechat: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/cgi-bin/stable_token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "TEST-TOKEN", "expires_in": 7200})),
        )
        .with_priority(10)
        .mount(wechat)
        .await;
    Mock::given(method("POST"))
        .and(path("/wxa/msg_sec_check"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"errcode": 0, "errmsg": "ok", "result": {"suggest": "pass", "label": 100}}),
        ))
        .with_priority(10)
        .mount(wechat)
        .await;
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let wechat = MockServer::start().await;
    default_wechat(&wechat).await;
    let mut settings = test_settings(&wechat).await;
    adjust(&mut settings);
    start(settings, wechat).await
}

pub async fn start(settings: Settings, wechat: MockServer) -> TestApp {
    let files = TempFiles {
        sqlite: sqlite_path(&settings.database.url),
        storage: settings.storage.local_dir.clone(),
    };
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state.clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        http: reqwest::Client::new(),
        wechat,
        state,
        _files: files,
    }
}

impl TestApp {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.address, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        Self::reply(res).await
    }

    pub async fn reply(res: reqwest::Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// A POST carrying an `Idempotency-Key`, as every route that moves beans wants.
    pub async fn post_with_key(&self, path: &str, token: &str, key: &str, body: Value) -> Reply {
        let res = self
            .http
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .expect("request sent");
        Self::reply(res).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// Makes the fake WeChat answer `code2Session` for `code` with this reply.
    pub async fn wechat_session_reply(&self, code: &str, reply: Value) {
        Mock::given(method("GET"))
            .and(path("/sns/jscode2session"))
            .and(query_param("js_code", code))
            .respond_with(ResponseTemplate::new(200).set_body_json(reply))
            .mount(&self.wechat)
            .await;
    }

    pub async fn login_reply(&self, code: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "code": code })),
        )
        .await
    }

    /// Signs in a WeChat user with openid `openid-<name>` through the fake WeChat server.
    pub async fn login(&self, name: &str) -> TestUser {
        let code = format!("code-{name}-{}", uuid::Uuid::new_v4().simple());
        let openid = format!("openid-{name}");
        self.wechat_session_reply(
            &code,
            json!({ "openid": openid, "session_key": format!("sk-{name}") }),
        )
        .await;
        let reply = self.login_reply(&code).await;
        let body = reply.assert_status(200);
        TestUser {
            id: body["user"]["id"].as_i64().expect("user id"),
            token: body["access_token"].as_str().expect("token").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh").to_owned(),
            openid,
        }
    }

    /// Sends every POST at once — (path, Idempotency-Key, body), all with `token` — and returns
    /// the replies in the same order.
    pub async fn post_all(
        &self,
        token: &str,
        shots: Vec<(String, Option<String>, Value)>,
    ) -> Vec<Reply> {
        let mut tasks = Vec::new();
        for (path, key, body) in shots {
            let mut req = self
                .http
                .post(format!("{}{path}", self.address))
                .bearer_auth(token)
                .json(&body);
            if let Some(k) = key {
                req = req.header("Idempotency-Key", k);
            }
            tasks.push(tokio::spawn(async move {
                TestApp::reply(req.send().await.expect("request sent")).await
            }));
        }
        let mut replies = Vec::new();
        for t in tasks {
            replies.push(t.await.expect("request task"));
        }
        replies
    }

    /// Grants a role directly, as the `linli admin grant` command does.
    pub async fn grant(&self, user: &TestUser, role: Role, scope_id: i64) {
        linli::communities::grants::insert_grant(&self.state, user.id, role, scope_id, None)
            .await
            .map_err(|e| format!("{e:?}"))
            .expect("grant");
    }
}

/// Counts the replies with `won` status; every other one must be the given error.
#[track_caller]
pub fn wins(replies: &[Reply], won: u16, lost: u16, code: &str) -> usize {
    let mut n = 0;
    for r in replies {
        if r.status.as_u16() == won {
            n += 1;
        } else {
            r.assert_error(lost, code);
        }
    }
    n
}

/// A small world: a platform admin, a district, a street and two communities (A and B),
/// each with its own community admin.
pub struct World {
    pub platform: TestUser,
    pub street_id: i64,
    pub community_a: i64,
    pub community_b: i64,
    pub admin_a: TestUser,
    pub admin_b: TestUser,
}

pub async fn world(app: &TestApp) -> World {
    let platform = app.login("platform").await;
    app.grant(&platform, Role::PlatformAdmin, 0).await;
    let district = app
        .post(
            "/api/v1/districts",
            &platform.token,
            json!({"name": "盘龙区"}),
        )
        .await;
    let district_id = district.assert_status(201)["id"].as_i64().unwrap();
    let street = app
        .post(
            &format!("/api/v1/districts/{district_id}/streets"),
            &platform.token,
            json!({"name": "拓东街道"}),
        )
        .await;
    let street_id = street.assert_status(201)["id"].as_i64().unwrap();
    let mut ids = Vec::new();
    for name in ["阳光社区", "和平社区"] {
        let c = app
            .post(
                &format!("/api/v1/streets/{street_id}/communities"),
                &platform.token,
                json!({"name": name, "address": "昆明市盘龙区"}),
            )
            .await;
        ids.push(c.assert_status(201)["id"].as_i64().unwrap());
    }
    let admin_a = app.login("admin-a").await;
    app.grant(&admin_a, Role::CommunityAdmin, ids[0]).await;
    let admin_b = app.login("admin-b").await;
    app.grant(&admin_b, Role::CommunityAdmin, ids[1]).await;
    World {
        platform,
        street_id,
        community_a: ids[0],
        community_b: ids[1],
        admin_a,
        admin_b,
    }
}

/// `user` applies to join `community`; returns the (pending) membership id.
pub async fn join(app: &TestApp, user: &TestUser, community: i64) -> i64 {
    let joined = app
        .post(
            &format!("/api/v1/communities/{community}/join"),
            &user.token,
            json!({}),
        )
        .await;
    joined.assert_status(201)["membership_id"].as_i64().unwrap()
}

/// Joins `user` to `community` and has `admin` verify them; returns the membership id.
pub async fn verified_resident(
    app: &TestApp,
    user: &TestUser,
    community: i64,
    admin: &TestUser,
) -> i64 {
    let membership_id = join(app, user, community).await;
    app.post(
        &format!("/api/v1/communities/{community}/memberships/{membership_id}/approve"),
        &admin.token,
        json!({}),
    )
    .await
    .assert_status(200);
    membership_id
}

/// An XLSX workbook's shared strings and its first sheet, as XML text.
pub fn workbook(bytes: &[u8]) -> (String, String) {
    let mut book = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a zip");
    let mut read = |name: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut book.by_name(name).expect(name), &mut text)
            .expect("UTF-8 XML");
        text
    };
    let strings = read("xl/sharedStrings.xml");
    let sheet = read("xl/worksheets/sheet1.xml");
    (strings, sheet)
}
