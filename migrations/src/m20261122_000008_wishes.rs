//! 微心愿: wishes on a community's wall and the claims made on them. A wish moves through its
//! states by conditional updates; `claim_round` counts claims so each claim row is unique per
//! wish and round — at most one claim is active, enforced by the update that makes it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Wishes {
    Table,
    Id,
    CommunityId,
    PosterId,
    BeneficiaryId,
    BeneficiaryNameEnc,
    BeneficiaryMasked,
    ContactPhoneEnc,
    AddressEnc,
    Proxy,
    ConsentAt,
    Title,
    Description,
    Category,
    EstimatedCost,
    BeneficiaryGroup,
    DueAt,
    PhotoUploadIds,
    State,
    ReviewNote,
    CheckLabel,
    ReviewedBy,
    ClaimRound,
    ClaimerId,
    ClaimedAt,
    ClaimDeadline,
    FulfilNote,
    ProofUploadIds,
    FulfilledAt,
    ConfirmedBy,
    ConfirmedAt,
    DisputeReason,
    ThanksNote,
    ThanksAt,
    PublishedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WishClaims {
    Table,
    Id,
    WishId,
    Round,
    ClaimerId,
    Status,
    CreatedAt,
    EndedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Wishes::Table)
                .col(big_pk_auto(Wishes::Id))
                .col(big_integer(Wishes::CommunityId))
                .col(big_integer(Wishes::PosterId))
                .col(big_integer_null(Wishes::BeneficiaryId))
                .col(text(Wishes::BeneficiaryNameEnc))
                .col(string_len(Wishes::BeneficiaryMasked, 16))
                .col(text_null(Wishes::ContactPhoneEnc))
                .col(text_null(Wishes::AddressEnc))
                .col(boolean(Wishes::Proxy).default(false))
                .col(timestamp_with_time_zone_null(Wishes::ConsentAt))
                .col(string_len(Wishes::Title, 40))
                .col(string_len(Wishes::Description, 500))
                .col(string_len(Wishes::Category, 16))
                .col(integer(Wishes::EstimatedCost))
                .col(string_len(Wishes::BeneficiaryGroup, 16))
                .col(timestamp_with_time_zone(Wishes::DueAt))
                .col(text_null(Wishes::PhotoUploadIds))
                .col(string_len(Wishes::State, 16))
                .col(string_len_null(Wishes::ReviewNote, 200))
                .col(string_len_null(Wishes::CheckLabel, 64))
                .col(big_integer_null(Wishes::ReviewedBy))
                .col(integer(Wishes::ClaimRound).default(0))
                .col(big_integer_null(Wishes::ClaimerId))
                .col(timestamp_with_time_zone_null(Wishes::ClaimedAt))
                .col(timestamp_with_time_zone_null(Wishes::ClaimDeadline))
                .col(string_len_null(Wishes::FulfilNote, 500))
                .col(text_null(Wishes::ProofUploadIds))
                .col(timestamp_with_time_zone_null(Wishes::FulfilledAt))
                .col(big_integer_null(Wishes::ConfirmedBy))
                .col(timestamp_with_time_zone_null(Wishes::ConfirmedAt))
                .col(string_len_null(Wishes::DisputeReason, 200))
                .col(string_len_null(Wishes::ThanksNote, 300))
                .col(timestamp_with_time_zone_null(Wishes::ThanksAt))
                .col(timestamp_with_time_zone_null(Wishes::PublishedAt))
                .col(timestamp_with_time_zone(Wishes::CreatedAt))
                .col(timestamp_with_time_zone(Wishes::UpdatedAt))
                .check(Expr::col(Wishes::EstimatedCost).gte(0))
                .to_owned(),
        )
        .await?;
        // The wall: a community's wishes in a state, newest first or soonest due first.
        for (name, cols) in [
            (
                "ix_wishes_wall_newest",
                vec![Wishes::CommunityId, Wishes::State, Wishes::Id],
            ),
            (
                "ix_wishes_wall_due",
                vec![
                    Wishes::CommunityId,
                    Wishes::State,
                    Wishes::DueAt,
                    Wishes::Id,
                ],
            ),
            (
                "ix_wishes_claim_deadline",
                vec![Wishes::State, Wishes::ClaimDeadline],
            ),
            ("ix_wishes_poster", vec![Wishes::PosterId, Wishes::Id]),
            ("ix_wishes_claimer", vec![Wishes::ClaimerId, Wishes::Id]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Wishes::Table);
            for c in cols {
                index.col(c);
            }
            m.create_index(index.to_owned()).await?;
        }
        m.create_table(
            Table::create()
                .table(WishClaims::Table)
                .col(big_pk_auto(WishClaims::Id))
                .col(big_integer(WishClaims::WishId))
                .col(integer(WishClaims::Round))
                .col(big_integer(WishClaims::ClaimerId))
                .col(string_len(WishClaims::Status, 16))
                .col(timestamp_with_time_zone(WishClaims::CreatedAt))
                .col(timestamp_with_time_zone_null(WishClaims::EndedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_wish_claims_round")
                .table(WishClaims::Table)
                .col(WishClaims::WishId)
                .col(WishClaims::Round)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_wish_claims_claimer")
                .table(WishClaims::Table)
                .col(WishClaims::ClaimerId)
                .col(WishClaims::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(WishClaims::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Wishes::Table).to_owned())
            .await
    }
}
