//! Where a merchant's beans come from: the communities it serves (a street can admit one
//! merchant for several of its communities), how a redemption was started (the resident's pay
//! code or the shop's counter code), and an index for the monthly 志愿之星 ranking.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MerchantCommunities {
    Table,
    MerchantId,
    CommunityId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Redemptions {
    Table,
    Channel,
}

#[derive(DeriveIden)]
enum LedgerTransactions {
    Table,
    CommunityId,
    Kind,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(MerchantCommunities::Table)
                .col(big_integer(MerchantCommunities::MerchantId))
                .col(big_integer(MerchantCommunities::CommunityId))
                .col(timestamp_with_time_zone(MerchantCommunities::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(MerchantCommunities::MerchantId)
                        .col(MerchantCommunities::CommunityId),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_merchant_communities_community")
                .table(MerchantCommunities::Table)
                .col(MerchantCommunities::CommunityId)
                .col(MerchantCommunities::MerchantId)
                .to_owned(),
        )
        .await?;
        // Every merchant admitted so far serves the community that admitted it.
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO merchant_communities (merchant_id, community_id, created_at) \
                 SELECT id, community_id, created_at FROM merchants",
            )
            .await?;
        m.alter_table(
            Table::alter()
                .table(Redemptions::Table)
                .add_column(string_len(Redemptions::Channel, 16).default("pay_code"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_ledger_transactions_community_kind_time")
                .table(LedgerTransactions::Table)
                .col(LedgerTransactions::CommunityId)
                .col(LedgerTransactions::Kind)
                .col(LedgerTransactions::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_ledger_transactions_community_kind_time")
                .table(LedgerTransactions::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Redemptions::Table)
                .drop_column(Redemptions::Channel)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(MerchantCommunities::Table).to_owned())
            .await
    }
}
