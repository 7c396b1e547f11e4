//! A redemption keeps the shop's and the offer's names as they were at the sale, so its
//! receipt can be given again from the row alone — to a retry of the same request, or to
//! anyone who opens it later — whatever the shop is called by then. Rows from before this
//! migration leave them empty and are answered from the receipt stored with their ledger
//! transaction.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Redemptions {
    Table,
    MerchantName,
    OfferName,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [Redemptions::MerchantName, Redemptions::OfferName] {
            m.alter_table(
                Table::alter()
                    .table(Redemptions::Table)
                    .add_column(string_null(column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Redemptions::OfferName, Redemptions::MerchantName] {
            m.alter_table(
                Table::alter()
                    .table(Redemptions::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
