use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_postings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub transaction_id: i64,
    pub account_id: i64,
    pub amount: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The transaction this posting is one leg of.
    #[sea_orm(
        belongs_to = "super::ledger_transaction::Entity",
        from = "Column::TransactionId",
        to = "super::ledger_transaction::Column::Id"
    )]
    Transaction,
    /// The account debited or credited.
    #[sea_orm(
        belongs_to = "super::ledger_account::Entity",
        from = "Column::AccountId",
        to = "super::ledger_account::Column::Id"
    )]
    Account,
}

impl Related<super::ledger_transaction::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Transaction.def()
    }
}

impl Related<super::ledger_account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
