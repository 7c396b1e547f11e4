//! The one audit trail of staff actions: membership decisions, role grants and revocations,
//! wish reviews and dispute decisions, reversals, settlements, merchant admission and
//! suspension, staff changes, rule changes and manual 金豆 adjustments.
//!
//! Every capability writes its entry with [`record`] inside the transaction of the action, so
//! an action that fails leaves no entry and an entry that cannot be written undoes the action.
//! The table is append-only in the database itself (triggers refuse UPDATE and DELETE).
//! Community admins read their community's trail, street admins their street's (all its
//! communities and the street's own actions); both can export it as a workbook.

pub mod routes;
pub mod service;

pub use crate::entities::audit_entry::{AuditKind, ObjectType};
pub use service::{Entry, record};
