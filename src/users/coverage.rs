//! Which user-id columns the data export (`GET /me/export`) reads, and which it leaves out
//! and why. A test walks the database schema for every column that holds a user id and fails
//! when one is in neither list, so a new table cannot quietly stay out of the export: whoever
//! adds it either exports it (in its capability's `account` part) or says here why not.

/// (table, column) the export reads the user's rows by.
pub const EXPORTED: &[(&str, &str)] = &[
    ("auth_sessions", "user_id"),
    ("memberships", "user_id"),
    ("role_grants", "user_id"),
    ("uploads", "owner_id"),
    ("moderation_items", "author_id"),
    ("wishes", "poster_id"),
    ("wishes", "beneficiary_id"),
    // The current claim of a wish is also a row of wish_claims, exported as a claim.
    ("wishes", "claimer_id"),
    ("wish_claims", "claimer_id"),
    ("pair_unit_members", "user_id"),
    // Wallets (kind = wallet); the other kinds' owner is a merchant or nobody.
    ("ledger_accounts", "owner_id"),
    ("earning_awards", "user_id"),
    ("redemptions", "user_id"),
    // Sales made as staff (pay_code channel); on counter_code rows it is the buyer again.
    ("redemptions", "staff_id"),
    ("outbox", "user_id"),
];

/// (table, column, why it is not exported).
pub const NOT_EXPORTED: &[(&str, &str, &str)] = &[
    (
        "audit_entries",
        "actor_user_id",
        "the audit trail of staff actions on other people's records; it holds ids and states only",
    ),
    (
        "pay_codes",
        "user_id",
        "one-minute single-use codes, kept only as hashes; what they paid is a purchase",
    ),
    (
        "merchant_invites",
        "used_by",
        "the invitation they joined a shop with; the staff role itself is exported",
    ),
    (
        "memberships",
        "reviewed_by",
        "a staff decision on someone else's membership (audit trail)",
    ),
    (
        "role_grants",
        "granted_by",
        "a staff action on someone else's role (audit trail)",
    ),
    (
        "moderation_items",
        "reviewed_by",
        "a staff decision on someone else's text (audit trail)",
    ),
    (
        "wishes",
        "reviewed_by",
        "a staff review of someone else's wish (audit trail)",
    ),
    (
        "wishes",
        "confirmed_by",
        "who confirmed a fulfilment: the wish is exported to its poster and beneficiary",
    ),
    (
        "ledger_transactions",
        "created_by",
        "the staff member who moved someone else's beans (audit trail)",
    ),
    (
        "earning_rules",
        "updated_by",
        "a staff change to a community's rules (audit trail)",
    ),
    (
        "wish_settings",
        "updated_by",
        "a staff change to a community's rules (audit trail)",
    ),
    (
        "settlements",
        "settled_by",
        "a staff action on a shop's month (audit trail)",
    ),
    (
        "merchants",
        "created_by",
        "the staff member who admitted a shop (audit trail)",
    ),
    (
        "pair_units",
        "created_by",
        "the staff member who created a paired unit (audit trail)",
    ),
    (
        "qr_codes",
        "created_by",
        "who made a community's or a shop's code; the code is not theirs",
    ),
];

/// Whether a column's name says it holds a user id: `user_id`, `*_user_id`, `*_by`, or one
/// of the names the schema uses (or the capabilities still to come will use) for people.
pub fn holds_user_id(column: &str) -> bool {
    const PEOPLE: [&str; 13] = [
        "user_id",
        "owner_id",
        "poster_id",
        "beneficiary_id",
        "claimer_id",
        "author_id",
        "staff_id",
        "actor_id",
        "voter_id",
        "volunteer_id",
        "resident_id",
        "member_id",
        "recipient_id",
    ];
    PEOPLE.contains(&column) || column.ends_with("_user_id") || column.ends_with("_by")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_columns_by_name() {
        for c in [
            "user_id",
            "paired_user_id",
            "settled_by",
            "claimer_id",
            "voter_id",
        ] {
            assert!(holds_user_id(c), "{c}");
        }
        for c in ["id", "community_id", "merchant_id", "unit_id", "byline"] {
            assert!(!holds_user_id(c), "{c}");
        }
    }
}
