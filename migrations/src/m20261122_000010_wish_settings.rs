//! Each community's own rules for wishes: its categories, the cost cap and the days a claimer
//! has. A community without a row uses the configured defaults.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WishSettings {
    Table,
    CommunityId,
    Categories,
    MaxCostYuan,
    ClaimDays,
    UpdatedBy,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(WishSettings::Table)
                .col(big_integer(WishSettings::CommunityId).primary_key())
                .col(text(WishSettings::Categories))
                .col(integer(WishSettings::MaxCostYuan))
                .col(integer(WishSettings::ClaimDays))
                .col(big_integer(WishSettings::UpdatedBy))
                .col(timestamp_with_time_zone(WishSettings::UpdatedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(WishSettings::Table).to_owned())
            .await
    }
}
