//! One test binary (links once). Every test starts the real server on a random port with a
//! database of its own (a temporary SQLite file, or a fresh PostgreSQL database when
//! LINLI_TEST_DATABASE_URL is set) and its own cache namespace (in-process, or Redis when
//! LINLI_TEST_REDIS_URL is set), with a local fake of the WeChat API.
//!
//! A test's name says what it exercises: `<capability>::<url>::<behaviour>`, the capability as
//! in `src/`, the file named for the URL (each file's first line lists its URLs), e.g.
//! `merchants::redemptions::forty_buyers_race_for_five_in_stock` is
//! tests/api/merchants/redemptions.rs, about POST /api/v1/merchant/redemptions. A capability
//! with one file is that file (`codes`, `uploads`, `wishes`); what concerns the server as a
//! whole rather than one capability (bad input, outages, the process, the document) is at the
//! top. Helpers used by more than one file are in `helpers.rs` (the server, users, the world)
//! and `support/` (one file per capability whose steps others take as given).

mod helpers;
mod support;

mod audit;
mod auth {
    mod login;
    mod tokens;
}
mod codes;
mod communities {
    mod hierarchy;
    mod memberships;
    mod staff_scope;
    mod tenancy;
}
mod merchants {
    mod counter_payments;
    mod invites;
    mod offers;
    mod redemptions;
    mod staff;
    mod statements;
}
mod moderation {
    mod nicknames;
}
mod notifications {
    mod outbox;
}
mod points {
    mod adjustments;
    mod earning;
    mod ledger_race;
    mod ranking;
}
mod uploads;
mod users {
    mod erasure;
    mod export;
    mod me;
}
mod wechat {
    mod access_token;
}
mod wishes;

// The server as a whole.
mod cache;
mod config;
mod errors;
mod input;
mod metrics;
mod openapi;
mod outage;
mod process;
mod proxy;
