//! Load test for counter redemption and the wish wall. Run it beside a Linli server on this machine, with the
//! same database and cache settings in the environment (it sets up through the library: a
//! platform admin, a community, a merchant with staff, funded residents and their pay codes),
//! then fires redemptions at the server from many clients, measures a trivial endpoint the
//! same way, and finally verifies the ledger. Only loopback targets are accepted; every run
//! stops by itself.
//!
//!   linli-load --base-url http://127.0.0.1:8080 --clients 64 --seconds 15
//!   linli-load --scenario wall --wishes 100000

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Parser;
use sea_orm::{EntityTrait, Set};
use serde_json::{Value, json};

use linli::auth::roles::Role;
use linli::config::Settings;
use linli::entities::pay_code;

#[derive(Parser)]
#[command(about = "Counter-redemption load test against a Linli server on loopback")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds per measured phase (at most 120).
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Residents to spread the redemptions over.
    #[arg(long, default_value_t = 256)]
    residents: usize,
    /// What to measure: counter redemptions, or the first page of a community's wish wall.
    #[arg(long, value_enum, default_value_t = Scenario::Redemption)]
    scenario: Scenario,
    /// Wishes in the database for the wall scenario, spread over 500 communities.
    #[arg(long, default_value_t = 100_000)]
    wishes: usize,
    /// After the redemption scenario, write here a pgbench script that runs a redemption's
    /// statements against the same database, to compare with what PostgreSQL itself sustains:
    /// `pgbench -n -M prepared -c 64 -j 2 -T 15 -f <script> <database>`.
    #[arg(long)]
    pgbench_script: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    Redemption,
    Wall,
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let res = req.send().await?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            anyhow::bail!("{status}: {body}");
        }
        Ok(body)
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> anyhow::Result<Value> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    async fn login(&self, name: &str) -> anyhow::Result<(String, i64)> {
        let body = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"code": format!("dev:{name}")}),
            )
            .await?;
        Ok((
            body["access_token"].as_str().unwrap_or_default().to_owned(),
            body["user"]["id"].as_i64().unwrap_or_default(),
        ))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Phase {
    name: &'static str,
    ok: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn report(&mut self) {
        self.latencies.sort();
        println!(
            "{:<12} {:>8} ok {:>6} failed {:>10.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
            self.name,
            self.ok,
            self.failed,
            self.ok as f64 / self.elapsed.as_secs_f64(),
            percentile(&self.latencies, 0.50),
            percentile(&self.latencies, 0.99),
        );
    }
}

/// Runs `clients` loops of `one` for `seconds`, collecting latencies.
async fn run_phase<F, Fut>(name: &'static str, clients: usize, seconds: u64, one: F) -> Phase
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let one = Arc::new(one);
    let counter = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let one = one.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut ok, mut failed) = (0, 0);
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                if one(client, n).await {
                    ok += 1;
                    lat.push(t.elapsed());
                } else {
                    failed += 1;
                }
            }
            (ok, failed, lat)
        }));
    }
    let mut phase = Phase {
        name,
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for t in tasks {
        if let Ok((ok, failed, lat)) = t.await {
            phase.ok += ok;
            phase.failed += failed;
            phase.latencies.extend(lat);
        }
    }
    phase.elapsed = started.elapsed();
    phase
}

/// The trivial endpoint, measured the same way as the real ones.
async fn healthz(api: &Arc<Api>, clients: usize, seconds: u64) -> Phase {
    let api = api.clone();
    run_phase("healthz", clients, seconds, move |_, _| {
        let api = api.clone();
        async move {
            api.http
                .get(format!("{}/healthz", api.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await
}

/// The wish wall: fills the database with `--wishes` wishes in various states, spread over
/// 500 communities (this one among them), prints PostgreSQL's plan for
/// the wall's first page, then measures that page beside `/healthz`.
async fn wall_load(
    api: &Arc<Api>,
    state: &linli::state::AppState,
    admin: &str,
    community: i64,
    args: &Args,
    seconds: u64,
) -> anyhow::Result<()> {
    use linli::entities::wish;
    use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};
    let (resident, id) = api
        .login(&format!("wall-reader-{}", Utc::now().timestamp_millis()))
        .await?;
    let joined = api
        .post(
            &format!("/api/v1/communities/{community}/join"),
            Some(&resident),
            json!({}),
        )
        .await?;
    api.post(
        &format!(
            "/api/v1/communities/{community}/memberships/{}/approve",
            joined["membership_id"]
        ),
        Some(admin),
        json!({}),
    )
    .await?;
    println!("inserting {} wishes…", args.wishes);
    let now = Utc::now();
    let name = state.crypto.encrypt("王小明")?;
    let categories = ["生活用品", "学习用品", "助医", "陪伴", "维修", "其他"];
    let states = [
        "published",
        "published",
        "claimed",
        "confirmed",
        "pending_review",
    ];
    let mut batch = Vec::new();
    for i in 0..args.wishes {
        let on_wall = i % 500 == 0;
        batch.push(wish::ActiveModel {
            community_id: Set(if on_wall {
                community
            } else {
                1_000_000 + (i % 500) as i64
            }),
            poster_id: Set(id),
            beneficiary_id: Set(None),
            beneficiary_name_enc: Set(name.clone()),
            beneficiary_masked: Set("王**".into()),
            proxy: Set(false),
            title: Set(format!("压测心愿 {i}")),
            description: Set("想要一台收音机，旧的坏了。".into()),
            category: Set(categories[i % categories.len()].into()),
            estimated_cost: Set(80),
            beneficiary_group: Set("独居老人".into()),
            due_at: Set(now + chrono::Duration::days(1 + (i % 90) as i64)),
            state: Set(states[i % states.len()].into()),
            claim_round: Set(0),
            published_at: Set(Some(now)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        if batch.len() == 1000 {
            wish::Entity::insert_many(std::mem::take(&mut batch))
                .exec_without_returning(&state.db)
                .await?;
        }
    }
    if !batch.is_empty() {
        wish::Entity::insert_many(batch)
            .exec_without_returning(&state.db)
            .await?;
    }
    if state.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        state.db.execute_unprepared("ANALYZE wishes").await?;
        // The first page exactly as the service asks for it.
        let first_page = wish::Entity::find()
            .filter(wish::Column::CommunityId.is_in([community]))
            .filter(wish::Column::State.is_in(["published"]))
            .order_by_desc(wish::Column::Id)
            .limit(21)
            .build(sea_orm::DbBackend::Postgres)
            .to_string();
        println!("EXPLAIN ANALYZE {first_page}");
        let plan = state
            .db
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("EXPLAIN ANALYZE {first_page}"),
            ))
            .await?;
        for row in plan {
            let line: String = row.try_get_by_index(0)?;
            println!("  {line}");
        }
    }
    let mut trivial = healthz(api, args.clients, seconds).await;
    let resident = Arc::new(resident);
    let wall_api = api.clone();
    let mut wall = run_phase("wall", args.clients, seconds, move |_, _| {
        let api = wall_api.clone();
        let token = resident.clone();
        async move {
            api.http
                .get(format!(
                    "{}/api/v1/communities/{community}/wishes?limit=20",
                    api.base
                ))
                .bearer_auth(token.as_str())
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    trivial.report();
    wall.report();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = reqwest::Url::parse(&args.base_url)?;
    if !matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) {
        anyhow::bail!("only a server on this machine (loopback) may be load-tested");
    }
    let seconds = args.seconds.clamp(1, 120);
    let settings = Settings::from_env()?;
    if !settings.wechat.dev_login {
        anyhow::bail!(
            "the server must run in development mode (dev:<name> logins) for the load test"
        );
    }
    let state = linli::startup::build_state(settings).await?;
    let api = Arc::new(Api {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(args.clients)
            .build()?,
        base: args.base_url.trim_end_matches('/').to_owned(),
    });
    let run = Utc::now().timestamp_millis();

    // Set up: an admin, a community, a merchant with one cashier.
    let (admin, admin_id) = api.login(&format!("load-admin-{run}")).await?;
    linli::communities::grants::insert_grant(&state, admin_id, Role::PlatformAdmin, 0, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let d = api
        .post(
            "/api/v1/districts",
            Some(&admin),
            json!({"name": format!("压测区{run}")}),
        )
        .await?;
    let s = api
        .post(
            &format!("/api/v1/districts/{}/streets", d["id"]),
            Some(&admin),
            json!({"name": "压测街道"}),
        )
        .await?;
    let c = api
        .post(
            &format!("/api/v1/streets/{}/communities", s["id"]),
            Some(&admin),
            json!({"name": "压测社区"}),
        )
        .await?;
    let community = c["id"].as_i64().unwrap_or_default();
    if args.scenario == Scenario::Wall {
        return wall_load(&api, &state, &admin, community, &args, seconds).await;
    }
    let m = api
        .post(
            &format!("/api/v1/communities/{community}/merchants"),
            Some(&admin),
            json!({"name": "压测商户", "address": "本机", "category": "超市", "contact": "-"}),
        )
        .await?;
    let merchant = m["id"].as_i64().unwrap_or_default();
    let invite = api
        .post(
            &format!("/api/v1/merchants/{merchant}/invites"),
            Some(&admin),
            json!({}),
        )
        .await?;
    let (staff, staff_id) = api.login(&format!("load-staff-{run}")).await?;
    api.post(
        "/api/v1/merchant/staff/join",
        Some(&staff),
        json!({"code": invite["code"]}),
    )
    .await?;

    // Residents: joined, verified, funded.
    println!("setting up {} residents…", args.residents);
    let mut residents = Vec::new();
    for i in 0..args.residents {
        let (token, id) = api.login(&format!("load-r{i}-{run}")).await?;
        let joined = api
            .post(
                &format!("/api/v1/communities/{community}/join"),
                Some(&token),
                json!({}),
            )
            .await?;
        api.post(
            &format!(
                "/api/v1/communities/{community}/memberships/{}/approve",
                joined["membership_id"]
            ),
            Some(&admin),
            json!({}),
        )
        .await?;
        let req = api
            .http
            .post(format!(
                "{}/api/v1/communities/{community}/points/adjustments",
                api.base
            ))
            .bearer_auth(&admin)
            .header("Idempotency-Key", format!("fund-{i}"))
            .json(&json!({"user_id": id, "amount": 100000, "reason": "压测充值"}));
        api.send(req).await?;
        residents.push(id);
    }
    // Pay codes, made ahead so the measured phase is redemptions only.
    let per_resident = (12_000 * seconds as usize / args.residents).max(20);
    println!("issuing {} pay codes…", per_resident * residents.len());
    let expires = Utc::now() + chrono::Duration::minutes(30);
    let mut codes = Vec::new();
    for (i, user) in residents.iter().enumerate() {
        let mut rows = Vec::new();
        for j in 0..per_resident {
            let code = format!(
                "{:018}",
                (run as u64 % 1_000_000) * 1_000_000_000_000 + (i * per_resident + j) as u64
            );
            rows.push(pay_code::ActiveModel {
                code_hash: Set(state.crypto.lookup_hash("pay-code", &code)),
                user_id: Set(*user),
                community_id: Set(community),
                expires_at: Set(expires),
                used_at: Set(None),
                created_at: Set(Utc::now()),
                ..Default::default()
            });
            codes.push(code);
        }
        pay_code::Entity::insert_many(rows)
            .exec_without_returning(&state.db)
            .await?;
    }
    // Interleave the residents, so that concurrent clients spend from different wallets (one
    // wallet's redemptions are serialised, as they must be).
    let mut interleaved = Vec::with_capacity(codes.len());
    for j in 0..per_resident {
        for i in 0..residents.len() {
            interleaved.push(codes[i * per_resident + j].clone());
        }
    }
    let codes = Arc::new(interleaved);

    println!(
        "measuring with {} clients for {seconds} s per phase",
        args.clients
    );
    let mut trivial = healthz(&api, args.clients, seconds).await;
    let staff = Arc::new(staff);
    let redeem_api = api.clone();
    let mut redemptions = run_phase("redemption", args.clients, seconds, move |_, n| {
        let api = redeem_api.clone();
        let staff = staff.clone();
        let codes = codes.clone();
        async move {
            let Some(code) = codes.get(n) else {
                return false;
            };
            api.http
                .post(format!("{}/api/v1/merchant/redemptions", api.base))
                .bearer_auth(staff.as_str())
                .header("Idempotency-Key", format!("load-{n}"))
                .json(&json!({"merchant_id": merchant, "pay_code": code, "amount": 1}))
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() == 201)
        }
    })
    .await;
    trivial.report();
    redemptions.report();

    if let Some(path) = &args.pgbench_script {
        let script = pgbench_script(&state, community, merchant, staff_id).await?;
        std::fs::write(path, script)?;
        println!("pgbench script written to {}", path.display());
    }
    let problems = linli::points::ledger::verify(&state.db).await?;
    if problems.is_empty() {
        println!("ledger verify: ok");
        Ok(())
    } else {
        for p in &problems {
            println!("{p}");
        }
        anyhow::bail!("ledger verify found {} problem(s)", problems.len())
    }
}

/// A pgbench script of what the server sends PostgreSQL for one redemption — the signed-in
/// user with their roles, then the sale as one call to `linli_sale` — with the ids of the
/// database the run set up. Each sale takes the next unused pay code, dealt out by a table and
/// a sequence this creates in that database, so no two pgbench clients scan the same code.
async fn pgbench_script(
    state: &linli::state::AppState,
    community: i64,
    merchant: i64,
    staff_id: i64,
) -> anyhow::Result<String> {
    use linli::entities::auth_session;
    use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder};
    let session = auth_session::Entity::find()
        .filter(auth_session::Column::UserId.eq(staff_id))
        .order_by_desc(auth_session::Column::CreatedAt)
        .one(&state.db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the cashier has no session"))?;
    // The unused pay codes in random order (so consecutive sales spend from random wallets),
    // numbered for the sequence to deal out.
    state
        .db
        .execute_unprepared(&format!(
            "DROP TABLE IF EXISTS pgbench_pay_codes; DROP SEQUENCE IF EXISTS pgbench_pay_code; \
             CREATE TABLE pgbench_pay_codes AS SELECT row_number() OVER (ORDER BY random()) AS n, \
               code_hash FROM pay_codes WHERE community_id = {community} AND used_at IS NULL; \
             ALTER TABLE pgbench_pay_codes ADD PRIMARY KEY (n); \
             CREATE SEQUENCE pgbench_pay_code"
        ))
        .await?;
    let shards = linli::points::ledger::TILL_SHARDS;
    Ok(format!(
        r#"\set k random(1, 1000000000000)
SELECT u.*, g.* FROM users u JOIN auth_sessions s ON s.user_id = u.id LEFT JOIN role_grants g ON g.user_id = u.id WHERE s.id = '{session}' AND s.user_id = {staff_id} AND s.revoked_at IS NULL AND u.id = {staff_id} AND u.deleted_at IS NULL;
SELECT * FROM linli_sale({merchant}, (SELECT code_hash FROM pgbench_pay_codes WHERE n = (SELECT nextval('pgbench_pay_code'))), NULL, NULL, NULL, 1, 'pgbench:' || :k || ':' || :client_id, 'pgbench', {staff_id}, 'pay_code', now(), {shards});
"#,
        session = session.id,
    ))
}
