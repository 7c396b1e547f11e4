//! Monthly merchant settlements (对账): one row per merchant and month once settled.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Settlements {
    Table,
    Id,
    MerchantId,
    Month,
    Amount,
    TransactionId,
    SettledBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Settlements::Table)
                .col(big_pk_auto(Settlements::Id))
                .col(big_integer(Settlements::MerchantId))
                .col(string_len(Settlements::Month, 7))
                .col(big_integer(Settlements::Amount))
                .col(big_integer_null(Settlements::TransactionId))
                .col(big_integer(Settlements::SettledBy))
                .col(timestamp_with_time_zone(Settlements::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_settlements_merchant_month")
                .table(Settlements::Table)
                .col(Settlements::MerchantId)
                .col(Settlements::Month)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Settlements::Table).to_owned())
            .await
    }
}
