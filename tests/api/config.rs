//! The production profile refuses unsafe configuration and says what to set.

use linli::config::{DEV_DATA_KEY, DEV_JWT_SECRET, Profile, Settings};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJEjQ=";

fn safe() -> Vec<(&'static str, &'static str)> {
    vec![
        ("LINLI__DATABASE__URL", "postgres://linli@db/linli"),
        ("LINLI__WECHAT__APPID", "wx1234"),
        ("LINLI__WECHAT__APP_SECRET", "a-real-app-secret"),
        (
            "LINLI__AUTH__JWT_SECRET",
            "0123456789abcdef0123456789abcdef-prod",
        ),
        ("LINLI__CRYPTO__DATA_KEY", KEY),
        ("LINLI__STORAGE__BACKEND", "s3"),
        ("LINLI__STORAGE__S3_BUCKET", "linli-photos"),
        ("LINLI__STORAGE__S3_ACCESS_KEY_ID", "AKID"),
        ("LINLI__STORAGE__S3_SECRET_ACCESS_KEY", "s3-secret"),
    ]
}

fn refused(vars: Vec<(&str, &str)>, expect: &str) {
    let err = Settings::load(Profile::Production, env(&vars)).expect_err("must refuse");
    let text = err.to_string();
    assert!(text.contains(expect), "{text}");
}

#[test]
fn production_accepts_a_complete_safe_configuration() {
    let s = Settings::load(Profile::Production, env(&safe())).unwrap();
    assert!(!s.wechat.dev_login);
    assert_eq!(s.database.url, "postgres://linli@db/linli");
}

#[test]
fn production_refuses_unsafe_configuration() {
    let without = |key: &str| {
        safe()
            .into_iter()
            .filter(|(k, _)| *k != key)
            .collect::<Vec<_>>()
    };
    let with = |key: &'static str, value: &'static str| {
        let mut v = without(key);
        v.push((key, value));
        v
    };
    refused(
        with("LINLI__WECHAT__DEV_LOGIN", "true"),
        "LINLI__WECHAT__DEV_LOGIN=false",
    );
    refused(without("LINLI__DATABASE__URL"), "LINLI__DATABASE__URL");
    refused(
        without("LINLI__AUTH__JWT_SECRET"),
        "LINLI__AUTH__JWT_SECRET",
    );
    refused(
        without("LINLI__WECHAT__APP_SECRET"),
        "LINLI__WECHAT__APP_SECRET",
    );
    refused(
        without("LINLI__CRYPTO__DATA_KEY"),
        "LINLI__CRYPTO__DATA_KEY",
    );
    refused(
        with("LINLI__AUTH__JWT_SECRET", DEV_JWT_SECRET),
        "development default",
    );
    refused(
        with("LINLI__CRYPTO__DATA_KEY", DEV_DATA_KEY),
        "development default",
    );
    refused(with("LINLI__CRYPTO__DATA_KEY", "c2hvcnQ="), "32 bytes");
    refused(with("LINLI__AUTH__JWT_SECRET", "short"), "at least 32");
    refused(with("LINLI__AUTH__ACCESS_TTL_SECS", "86400"), "two hours");
    refused(
        with("LINLI__DATABASE__URL", "sqlite://data/x.db"),
        "PostgreSQL",
    );
    refused(
        with("LINLI__CACHE__BACKEND", "memory"),
        "LINLI__CACHE__BACKEND=redis",
    );
    refused(
        with("LINLI__STORAGE__BACKEND", "local"),
        "LINLI__STORAGE__BACKEND=s3",
    );
    refused(
        without("LINLI__STORAGE__S3_SECRET_ACCESS_KEY"),
        "S3_SECRET_ACCESS_KEY",
    );
}

#[test]
fn development_runs_with_nothing_set() {
    let s = Settings::load(Profile::Development, Vec::new()).unwrap();
    assert!(s.wechat.dev_login);
    assert!(s.database.url.starts_with("sqlite:"));
    assert_eq!(s.server.port, 8080);
    assert_eq!(s.server.host, "127.0.0.1");
}
