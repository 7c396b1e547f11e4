//! An upload can belong to a merchant: its staff upload offer photos for the shop
//! (`POST /merchants/{id}/uploads`) without being residents, and an offer's photo must be one
//! of the shop's own uploads. The photo stays in the shop's home community's private storage.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Uploads {
    Table,
    MerchantId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Uploads::Table)
                .add_column(big_integer_null(Uploads::MerchantId))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Uploads::Table)
                .drop_column(Uploads::MerchantId)
                .to_owned(),
        )
        .await
    }
}
