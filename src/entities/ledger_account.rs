use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub community_id: i64,
    /// wallet, issuing, settlement, expiry or merchant.
    pub kind: String,
    /// The user for a wallet, the merchant for a merchant account, 0 for community accounts.
    pub owner_id: i64,
    /// 0, or for a merchant's till one of its shards.
    pub shard: i32,
    /// Always the sum of the account's postings (`linli ledger verify` checks it).
    pub balance: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
