//! Platform services: the content moderation queue, mini-program codes (scenes), the
//! notification outbox and uploaded files.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ModerationItems {
    Table,
    Id,
    CommunityId,
    Kind,
    TargetId,
    AuthorId,
    Content,
    Source,
    Label,
    Status,
    ReviewedBy,
    ReviewedAt,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden)]
enum QrCodes {
    Table,
    Id,
    Scene,
    Purpose,
    CommunityId,
    TargetId,
    Page,
    ExpiresAt,
    RevokedAt,
    ImageKey,
    ImageType,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    CommunityId,
    UserId,
    Event,
    TemplateId,
    Page,
    Data,
    State,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    ClaimToken,
    LastError,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum Uploads {
    Table,
    Id,
    CommunityId,
    OwnerId,
    ContentType,
    Size,
    Sha256,
    StorageKey,
    IsPublic,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // community_id is NULL for platform-level items (a nickname belongs to no community).
        m.create_table(
            Table::create()
                .table(ModerationItems::Table)
                .col(big_pk_auto(ModerationItems::Id))
                .col(big_integer_null(ModerationItems::CommunityId))
                .col(string_len(ModerationItems::Kind, 32))
                .col(big_integer(ModerationItems::TargetId))
                .col(big_integer(ModerationItems::AuthorId))
                .col(text(ModerationItems::Content))
                .col(string_len(ModerationItems::Source, 32))
                .col(string_len_null(ModerationItems::Label, 64))
                .col(string_len(ModerationItems::Status, 16))
                .col(big_integer_null(ModerationItems::ReviewedBy))
                .col(timestamp_with_time_zone_null(ModerationItems::ReviewedAt))
                .col(string_len_null(ModerationItems::Reason, 200))
                .col(timestamp_with_time_zone(ModerationItems::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_moderation_community_status_id")
                .table(ModerationItems::Table)
                .col(ModerationItems::CommunityId)
                .col(ModerationItems::Status)
                .col(ModerationItems::Id)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(QrCodes::Table)
                .col(big_pk_auto(QrCodes::Id))
                .col(string_len(QrCodes::Scene, 32))
                .col(string_len(QrCodes::Purpose, 32))
                .col(big_integer(QrCodes::CommunityId))
                .col(big_integer(QrCodes::TargetId))
                .col(string_len(QrCodes::Page, 128))
                .col(timestamp_with_time_zone_null(QrCodes::ExpiresAt))
                .col(timestamp_with_time_zone_null(QrCodes::RevokedAt))
                .col(string_len_null(QrCodes::ImageKey, 256))
                .col(string_len_null(QrCodes::ImageType, 64))
                .col(big_integer(QrCodes::CreatedBy))
                .col(timestamp_with_time_zone(QrCodes::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_qr_codes_scene")
                .table(QrCodes::Table)
                .col(QrCodes::Scene)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_qr_codes_community_id")
                .table(QrCodes::Table)
                .col(QrCodes::CommunityId)
                .col(QrCodes::Id)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Outbox::Table)
                .col(big_pk_auto(Outbox::Id))
                .col(big_integer_null(Outbox::CommunityId))
                .col(big_integer(Outbox::UserId))
                .col(string_len(Outbox::Event, 64))
                .col(string_len_null(Outbox::TemplateId, 128))
                .col(string_len_null(Outbox::Page, 256))
                .col(text(Outbox::Data))
                .col(string_len(Outbox::State, 16))
                .col(integer(Outbox::Attempts).default(0))
                .col(timestamp_with_time_zone(Outbox::NextAttemptAt))
                .col(timestamp_with_time_zone_null(Outbox::LockedUntil))
                .col(string_len_null(Outbox::ClaimToken, 36))
                .col(string_len_null(Outbox::LastError, 256))
                .col(timestamp_with_time_zone(Outbox::CreatedAt))
                .col(timestamp_with_time_zone_null(Outbox::SentAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_outbox_state_due")
                .table(Outbox::Table)
                .col(Outbox::State)
                .col(Outbox::NextAttemptAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_outbox_community_id")
                .table(Outbox::Table)
                .col(Outbox::CommunityId)
                .col(Outbox::Id)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Uploads::Table)
                .col(string_len(Uploads::Id, 36).primary_key())
                .col(big_integer(Uploads::CommunityId))
                .col(big_integer(Uploads::OwnerId))
                .col(string_len(Uploads::ContentType, 32))
                .col(big_integer(Uploads::Size))
                .col(string_len(Uploads::Sha256, 64))
                .col(string_len(Uploads::StorageKey, 256))
                .col(boolean(Uploads::IsPublic).default(false))
                .col(timestamp_with_time_zone(Uploads::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_uploads_community")
                .table(Uploads::Table)
                .col(Uploads::CommunityId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Uploads::Table.into_iden(),
            Outbox::Table.into_iden(),
            QrCodes::Table.into_iden(),
            ModerationItems::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
