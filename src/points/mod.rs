//! 金豆 points: a double-entry ledger that every award and spend goes through.
//!
//! Beans are integers. Every movement is one transaction of postings that sum to zero,
//! written in one database transaction with the stored balances it changes; a wallet never
//! goes below zero (a conditional update, and a check constraint behind it); one idempotency
//! key never moves beans twice; postings are never changed, mistakes are reversed.

pub mod account;
pub mod adjustments;
pub mod earning;
pub mod expiry;
pub mod ledger;
pub mod ranking;
pub mod routes;
