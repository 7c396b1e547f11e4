//! What an operator needs when something goes wrong, as Prometheus/OpenMetrics text at
//! `/metrics` (prometheus-client): HTTP requests by route pattern and status, the database
//! pool, cache errors, the outbox backlog, background job runs, WeChat call outcomes, the
//! process itself, and business counters. One `Metrics` per application, in `AppState`.
//!
//! Labels are patterns and names from a fixed set — a route pattern
//! (`/api/v1/communities/{community_id}`), an API path, a job name, an error code — never an
//! id or anything a client typed, so the series stay few.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Seconds: from a cached read (1 ms) to a request that waited for a dead database (5 s).
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobNameLabels {
    pub job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WeChatLabels {
    pub api: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

type FloatGauge = Gauge<f64, AtomicU64>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    pub pool_size: Gauge,
    pub pool_idle: Gauge,
    pub pool_max: Gauge,
    pub pool_acquire_seconds: FloatGauge,
    cache_errors: Family<KindLabels, Counter>,
    pub outbox_pending: Gauge,
    pub outbox_oldest_pending_seconds: FloatGauge,
    job_runs: Family<JobLabels, Counter>,
    job_seconds: Family<JobNameLabels, Histogram, fn() -> Histogram>,
    wechat_calls: Family<WeChatLabels, Counter>,
    pub process_cpu_seconds: FloatGauge,
    pub process_resident_bytes: Gauge,
    pub process_open_fds: Gauge,
    pub redemptions: Gauge,
    pub beans_spent: Gauge,
    beans_awarded: Counter,
    pub wishes: Family<StateLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("linli");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route pattern and status",
            requests.clone(),
        );
        let latency = Family::new_with_constructor(histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route pattern",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being served now",
            in_flight.clone(),
        );
        let pool_size = Gauge::default();
        registry.register(
            "db_pool_connections",
            "Database connections open (in use and idle)",
            pool_size.clone(),
        );
        let pool_idle = Gauge::default();
        registry.register(
            "db_pool_idle_connections",
            "Database connections open and idle; in use = open - idle",
            pool_idle.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "db_pool_max_connections",
            "Most connections the pool opens; requests beyond wait, up to acquire_timeout_ms",
            pool_max.clone(),
        );
        let pool_acquire_seconds = FloatGauge::default();
        registry.register(
            "db_pool_acquire_seconds",
            "How long getting a connection took when /metrics was read (a probe; -1 if none came)",
            pool_acquire_seconds.clone(),
        );
        let cache_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "cache_errors",
            "Cache (Redis) calls that failed, by kind: timeout or error",
            cache_errors.clone(),
        );
        let outbox_pending = Gauge::default();
        registry.register(
            "outbox_pending",
            "Notifications waiting to be sent",
            outbox_pending.clone(),
        );
        let outbox_oldest_pending_seconds = FloatGauge::default();
        registry.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest notification waiting to be sent (0 when none)",
            outbox_oldest_pending_seconds.clone(),
        );
        let job_runs = Family::<JobLabels, Counter>::default();
        registry.register(
            "job_runs",
            "Background job passes by job and outcome (ok or error)",
            job_runs.clone(),
        );
        let job_seconds = Family::new_with_constructor(histogram as fn() -> Histogram);
        registry.register(
            "job_duration_seconds",
            "Background job pass duration by job",
            job_seconds.clone(),
        );
        let wechat_calls = Family::<WeChatLabels, Counter>::default();
        registry.register(
            "wechat_calls",
            "WeChat API calls by API and outcome (ok, errcode_<n>, busy, unreachable)",
            wechat_calls.clone(),
        );
        let process_cpu_seconds = FloatGauge::default();
        registry.register(
            "process_cpu_seconds",
            "CPU time this process has used (user and system)",
            process_cpu_seconds.clone(),
        );
        let process_resident_bytes = Gauge::default();
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of this process",
            process_resident_bytes.clone(),
        );
        let process_open_fds = Gauge::default();
        registry.register(
            "process_open_fds",
            "Open file descriptors of this process",
            process_open_fds.clone(),
        );
        let redemptions = Gauge::default();
        registry.register(
            "redemptions",
            "Redemptions that stand (not reversed), all processes, read at each scrape",
            redemptions.clone(),
        );
        let beans_spent = Gauge::default();
        registry.register(
            "beans_spent",
            "金豆 those redemptions spent, all processes, read at each scrape",
            beans_spent.clone(),
        );
        let beans_awarded = Counter::default();
        registry.register(
            "beans_awarded",
            "金豆 awarded through the earning rules by this process",
            beans_awarded.clone(),
        );
        let wishes = Family::<StateLabels, Gauge>::default();
        registry.register("wishes", "微心愿 by state, all communities", wishes.clone());
        Metrics {
            registry,
            requests,
            latency,
            in_flight,
            pool_size,
            pool_idle,
            pool_max,
            pool_acquire_seconds,
            cache_errors,
            outbox_pending,
            outbox_oldest_pending_seconds,
            job_runs,
            job_seconds,
            wechat_calls,
            process_cpu_seconds,
            process_resident_bytes,
            process_open_fds,
            redemptions,
            beans_spent,
            beans_awarded,
            wishes,
        }
    }

    /// A request is being served; the guard counts it out when dropped.
    pub fn request_started(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A cache call failed: `timeout` or `error`.
    pub fn cache_error(&self, kind: &'static str) {
        self.cache_errors
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// One pass of a background job.
    pub fn job_run(&self, job: &'static str, ok: bool, elapsed: Duration) {
        self.job_runs
            .get_or_create(&JobLabels {
                job: job.to_owned(),
                outcome: if ok { "ok" } else { "error" }.to_owned(),
            })
            .inc();
        self.job_seconds
            .get_or_create(&JobNameLabels {
                job: job.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// One WeChat call: `api` is the URL path, `outcome` ok / errcode_<n> / busy / unreachable.
    pub fn wechat_call(&self, api: &str, outcome: String) {
        self.wechat_calls
            .get_or_create(&WeChatLabels {
                api: api.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Beans awarded through the earning rules (what was posted, after caps).
    pub fn beans_awarded(&self, beans: i64) {
        self.beans_awarded.inc_by(beans.max(0) as u64);
    }

    /// The registry as OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "metrics could not be encoded");
        }
        out
    }

    /// Reads this process's CPU time, memory and open files (Linux; elsewhere they stay 0).
    pub fn sample_process(&self) {
        if let Some(cpu) = process_cpu_seconds() {
            self.process_cpu_seconds.set(cpu);
        }
        if let Some(rss) = process_resident_bytes() {
            self.process_resident_bytes.set(rss);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.process_open_fds.set(fds.count() as i64);
        }
    }
}

pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// User plus system time from `/proc/self/stat` (fields 14 and 15, in clock ticks of 1/100 s
/// on Linux).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; the fields after it start past its `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn process_resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_buckets_and_the_rest() {
        let m = Metrics::new();
        m.observe_request("GET", "/healthz", 200, Duration::from_millis(2));
        m.observe_request("GET", "/healthz", 200, Duration::from_millis(700));
        m.cache_error("timeout");
        m.job_run("outbox", true, Duration::from_millis(30));
        m.wechat_call("/wxa/msg_sec_check", "errcode_45009".into());
        m.redemptions.set(2);
        m.beans_spent.set(50);
        m.sample_process();
        let text = m.encode();
        assert!(
            text.contains(
                "linli_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("_bucket{le=\"0.0025\",method=\"GET\",route=\"/healthz\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("_bucket{le=\"1.0\",method=\"GET\",route=\"/healthz\"} 2"),
            "{text}"
        );
        assert!(text.contains(
            "linli_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"} 2"
        ));
        assert!(text.contains("linli_cache_errors_total{kind=\"timeout\"} 1"));
        assert!(text.contains("linli_job_runs_total{job=\"outbox\",outcome=\"ok\"} 1"));
        assert!(text.contains(
            "linli_wechat_calls_total{api=\"/wxa/msg_sec_check\",outcome=\"errcode_45009\"} 1"
        ));
        assert!(text.contains("linli_redemptions 2"));
        assert!(text.contains("linli_beans_spent 50"));
        if cfg!(target_os = "linux") {
            assert!(!text.contains("linli_process_open_fds 0\n"), "{text}");
        }
    }

    #[test]
    fn in_flight_counts_out_when_dropped() {
        let m = Metrics::new();
        {
            let _a = m.request_started();
            let _b = m.request_started();
            assert_eq!(m.in_flight.get(), 2);
        }
        assert_eq!(m.in_flight.get(), 0);
    }
}
