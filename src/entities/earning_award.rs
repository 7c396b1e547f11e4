use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "earning_awards")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub community_id: i64,
    pub user_id: i64,
    pub event_kind: String,
    /// Events, or minutes of approved service for activity hours.
    pub units: i64,
    /// What the rule gave before caps.
    pub requested: i64,
    /// What was paid; requested - granted was held back by a cap.
    pub granted: i64,
    pub idempotency_key: String,
    /// The ledger transaction, when anything was paid.
    pub transaction_id: Option<i64>,
    pub ref_type: Option<String>,
    pub ref_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
