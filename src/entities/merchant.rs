use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "merchants")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The merchant's home community: the one that admitted it (or, for a merchant admitted
    /// by a street, the first it serves). `merchant_communities` lists all it serves.
    pub community_id: i64,
    pub name: String,
    pub address: String,
    pub category: String,
    /// The shop's business contact (not a resident's number).
    pub contact: String,
    /// active or suspended.
    pub status: String,
    pub created_by: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
