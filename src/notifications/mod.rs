//! 订阅消息 through an outbox: a capability records "notify user U of event E" in the same
//! database transaction as the change that causes it; a background worker sends the messages,
//! retrying transient failures with backoff and giving up on permanent ones. Rows are claimed
//! with a conditional update, so with any number of server processes each message is sent by
//! exactly one of them.

pub mod account;
pub mod outbox;
pub mod routes;
pub mod worker;
