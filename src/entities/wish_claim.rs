use sea_orm::entity::prelude::*;

/// One claim on a wish; `round` is the wish's claim count when it was made.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wish_claims")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub wish_id: i64,
    pub round: i32,
    pub claimer_id: i64,
    /// active, released, expired, fulfilled, confirmed.
    pub status: String,
    pub created_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
    /// The paired unit the claim was made for, if any.
    pub unit_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
