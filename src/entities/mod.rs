//! sea-orm entities, one per table. Services use these; handlers never do.

pub mod auth_session;
pub mod bean_lot;
pub mod building;
pub mod community;
pub mod district;
pub mod earning_award;
pub mod earning_rule;
pub mod grid;
pub mod household;
pub mod ledger_account;
pub mod ledger_posting;
pub mod ledger_transaction;
pub mod membership;
pub mod merchant;
pub mod merchant_invite;
pub mod moderation_item;
pub mod offer;
pub mod outbox;
pub mod pay_code;
pub mod qr_code;
pub mod redemption;
pub mod refresh_token;
pub mod role_grant;
pub mod street;
pub mod upload;
pub mod user;
