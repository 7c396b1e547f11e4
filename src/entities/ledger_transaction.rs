use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_transactions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub community_id: i64,
    pub kind: String,
    /// One key moves beans once: a business key or the client's Idempotency-Key.
    pub idempotency_key: String,
    /// What the request asked, hashed: the same key with another request is refused.
    pub request_hash: String,
    pub reverses_id: Option<i64>,
    pub reason: String,
    pub ref_type: Option<String>,
    pub ref_id: Option<i64>,
    pub created_by: Option<i64>,
    /// The answer given the first time, replayed to retries.
    pub response: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
