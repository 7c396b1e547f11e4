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
    /// The staff member who scanned the pay code; for a counter-code payment, the resident
    /// who paid.
    pub staff_id: i64,
    pub transaction_id: i64,
    /// completed or reversed.
    pub status: String,
    pub reversal_transaction_id: Option<i64>,
    pub created_at: DateTimeUtc,
    /// pay_code (staff scanned the resident's code) or counter_code (the resident scanned the
    /// shop's code and confirmed the amount).
    pub channel: String,
    /// The shop's name at the sale (empty on rows from before it was kept).
    pub merchant_name: Option<String>,
    /// The offer's name at the sale, for a sale of an offer.
    pub offer_name: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
