//! One test binary (links once). Every test starts the real server on a random port with a
//! database of its own (a temporary SQLite file, or a fresh PostgreSQL database when
//! LINLI_TEST_DATABASE_URL is set) and its own cache namespace (in-process, or Redis when
//! LINLI_TEST_REDIS_URL is set), with a local fake of the WeChat API.

mod audit;
mod auth;
mod cache;
mod codes;
mod communities;
mod config;
mod content;
mod erasure;
mod errors;
mod export;
mod helpers;
mod input;
mod ledger_race;
mod me;
mod merchant_staff;
mod merchants;
mod metrics;
mod openapi;
mod outage;
mod outbox;
mod points;
mod process;
mod proxy;
mod tenancy;
mod tokens;
mod uploads;
mod wechat_token;
mod wishes;
