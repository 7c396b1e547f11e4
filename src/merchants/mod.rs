//! Merchants that accept 金豆: admitted by a community, staffed through invitation codes,
//! selling offers with stock, limits and validity, and redeeming residents' beans at the
//! counter by scanning the resident's one-minute pay code (付款码); its staff are listed and
//! removed by those who manage it (`staff`).

pub mod account;
pub mod pay_codes;
pub mod receipts;
pub mod redemption;
pub mod reversal;
pub mod routes;
pub mod service;
pub mod settlement;
pub mod staff;
pub mod staff_routes;
