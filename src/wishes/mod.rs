//! 微心愿 wishes: residents in difficulty post small, concrete wishes; a community admin
//! reviews them; volunteers of the community claim one each (圆梦使者), fulfil it with proof,
//! and are paid 金豆 through the earning rules once the beneficiary (or poster, or a grid
//! worker) confirms. The wall never shows who the beneficiary is.

pub mod account;
pub mod input;
pub mod jobs;
pub mod lifecycle;
pub mod payment;
pub mod posting;
pub mod queries;
pub mod routes;
pub mod rules;
pub mod service;
pub mod staff;
pub mod standing;
pub mod state;
pub mod units;
pub mod views;
