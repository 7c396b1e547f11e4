//! What several capabilities' tests need, written once: each file holds the steps of one
//! capability (a shop and its sales, the bean ledger, a wish on its way, a photo) that tests of
//! other capabilities take as given. The HTTP plumbing (`spawn_app`, `TestApp`, `world`) is in
//! `helpers.rs`.

pub mod merchants;
pub mod points;
pub mod uploads;
pub mod wishes;
