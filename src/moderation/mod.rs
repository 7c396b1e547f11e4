//! 内容安全 and moderation: every text a user publishes is checked (by WeChat, or by a local word
//! list in development mode). What WeChat wants reviewed — or what could not be checked
//! because WeChat was unreachable — waits in a moderation queue, never going straight to the
//! public; what is risky is refused.

pub mod check;
pub mod queue;
pub mod routes;
