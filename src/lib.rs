//! Linli (邻里): the server behind a WeChat mini-program for community life — 微心愿 wishes,
//! volunteers, 金豆 points and 居民议事 voting.
//!
//! Layers run one way: HTTP handlers (`*/routes.rs`: parse, authorise, call) → services
//! (rules, transactions) → entities. Shared infrastructure sits beside the capabilities.

pub mod api;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod calendar;
pub mod cli;
pub mod codes;
pub mod communities;
pub mod config;
pub mod crypto;
pub mod csv;
pub mod db;
pub mod entities;
pub mod error;
pub mod http;
pub mod jobs;
pub mod json_text;
pub mod merchants;
pub mod metrics;
pub mod moderation;
pub mod notifications;
pub mod openapi;
pub mod pagination;
pub mod points;
pub mod reads;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod uploads;
pub mod users;
pub mod validate;
pub mod wechat;
pub mod wishes;
