use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "redemptions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    pub offer_id: Option<i64>,
    pub user_id: i64,
    pub community_id: i64,
    pub amount: i64,
    pub staff_id: i64,
    pub transaction_id: i64,
    /// completed or reversed.
    pub status: String,
    pub reversal_transaction_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
