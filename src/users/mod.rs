//! The signed-in user's own account: profile, phone binding, data export and erasure (PIPL).

pub mod coverage;
pub mod live;
pub mod routes;
pub mod service;
pub mod views;
