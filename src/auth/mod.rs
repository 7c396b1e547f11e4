//! Signing in with WeChat, access and refresh tokens, and who the caller is.

pub mod access;
pub mod extract;
pub mod roles;
pub mod routes;
pub mod service;
pub mod tokens;
