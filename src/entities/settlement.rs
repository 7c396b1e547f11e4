use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "settlements")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    /// YYYY-MM, China Standard Time.
    pub month: String,
    /// Beans moved from the merchant's account to the settlement account.
    pub amount: i64,
    /// None when there was nothing to settle.
    pub transaction_id: Option<i64>,
    pub settled_by: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
