//! 小程序码: QR codes that open the mini-program. A code carries only a short random `scene`
//! that points to a row saying what it is for, its community, and until when it is valid.
//! WeChat codes never expire, so the server decides validity when the scene is resolved.

pub mod routes;
pub mod service;
