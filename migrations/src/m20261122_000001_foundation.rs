//! The foundation: users and login sessions, the community hierarchy
//! (district → street → community → grid → building → household), memberships and role grants.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Openid,
    Unionid,
    Nickname,
    AvatarUrl,
    PhoneEnc,
    PhoneHash,
    SessionKeyEnc,
    IsPartyMember,
    PartyWorkUnit,
    PartyReportCommunityId,
    DeletedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuthSessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    RevokedAt,
    RevokedReason,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    SessionId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Districts {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Streets {
    Table,
    Id,
    DistrictId,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Communities {
    Table,
    Id,
    StreetId,
    Name,
    Address,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Grids {
    Table,
    Id,
    CommunityId,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Buildings {
    Table,
    Id,
    CommunityId,
    GridId,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Households {
    Table,
    Id,
    CommunityId,
    BuildingId,
    Unit,
    Room,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
    CommunityId,
    UserId,
    Status,
    HouseholdId,
    ReviewedBy,
    ReviewedAt,
    RejectReason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RoleGrants {
    Table,
    Id,
    UserId,
    Role,
    ScopeId,
    GrantedBy,
    CreatedAt,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(big_pk_auto(Users::Id))
                .col(string_len(Users::Openid, 128))
                .col(string_len_null(Users::Unionid, 128))
                .col(string_len_null(Users::Nickname, 64))
                .col(string_len_null(Users::AvatarUrl, 512))
                .col(text_null(Users::PhoneEnc))
                .col(string_len_null(Users::PhoneHash, 64))
                .col(text_null(Users::SessionKeyEnc))
                .col(boolean(Users::IsPartyMember).default(false))
                .col(string_len_null(Users::PartyWorkUnit, 128))
                .col(big_integer_null(Users::PartyReportCommunityId))
                .col(timestamp_with_time_zone_null(Users::DeletedAt))
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .col(timestamp_with_time_zone(Users::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_users_openid")
                .table(Users::Table)
                .col(Users::Openid)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_users_phone_hash")
                .table(Users::Table)
                .col(Users::PhoneHash)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuthSessions::Table)
                .col(string_len(AuthSessions::Id, 36).primary_key())
                .col(big_integer(AuthSessions::UserId))
                .col(timestamp_with_time_zone(AuthSessions::CreatedAt))
                .col(timestamp_with_time_zone_null(AuthSessions::RevokedAt))
                .col(string_len_null(AuthSessions::RevokedReason, 32))
                .foreign_key(&mut fk(
                    "fk_auth_sessions_user",
                    (AuthSessions::Table, AuthSessions::UserId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_auth_sessions_user")
                .table(AuthSessions::Table)
                .col(AuthSessions::UserId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RefreshTokens::Table)
                .col(big_pk_auto(RefreshTokens::Id))
                .col(string_len(RefreshTokens::SessionId, 36))
                .col(string_len(RefreshTokens::TokenHash, 64))
                .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                .foreign_key(&mut fk(
                    "fk_refresh_tokens_session",
                    (RefreshTokens::Table, RefreshTokens::SessionId),
                    (AuthSessions::Table, AuthSessions::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_refresh_tokens_hash")
                .table(RefreshTokens::Table)
                .col(RefreshTokens::TokenHash)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_refresh_tokens_session")
                .table(RefreshTokens::Table)
                .col(RefreshTokens::SessionId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Districts::Table)
                .col(big_pk_auto(Districts::Id))
                .col(string_len(Districts::Name, 64))
                .col(timestamp_with_time_zone(Districts::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_districts_name")
                .table(Districts::Table)
                .col(Districts::Name)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Streets::Table)
                .col(big_pk_auto(Streets::Id))
                .col(big_integer(Streets::DistrictId))
                .col(string_len(Streets::Name, 64))
                .col(timestamp_with_time_zone(Streets::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_streets_district",
                    (Streets::Table, Streets::DistrictId),
                    (Districts::Table, Districts::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_streets_district_name")
                .table(Streets::Table)
                .col(Streets::DistrictId)
                .col(Streets::Name)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Communities::Table)
                .col(big_pk_auto(Communities::Id))
                .col(big_integer(Communities::StreetId))
                .col(string_len(Communities::Name, 64))
                .col(string_len_null(Communities::Address, 256))
                .col(timestamp_with_time_zone(Communities::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_communities_street",
                    (Communities::Table, Communities::StreetId),
                    (Streets::Table, Streets::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_communities_street_name")
                .table(Communities::Table)
                .col(Communities::StreetId)
                .col(Communities::Name)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Grids::Table)
                .col(big_pk_auto(Grids::Id))
                .col(big_integer(Grids::CommunityId))
                .col(string_len(Grids::Name, 64))
                .col(timestamp_with_time_zone(Grids::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_grids_community",
                    (Grids::Table, Grids::CommunityId),
                    (Communities::Table, Communities::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_grids_community_name")
                .table(Grids::Table)
                .col(Grids::CommunityId)
                .col(Grids::Name)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Buildings::Table)
                .col(big_pk_auto(Buildings::Id))
                .col(big_integer(Buildings::CommunityId))
                .col(big_integer_null(Buildings::GridId))
                .col(string_len(Buildings::Name, 64))
                .col(timestamp_with_time_zone(Buildings::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_buildings_community",
                    (Buildings::Table, Buildings::CommunityId),
                    (Communities::Table, Communities::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_buildings_grid",
                    (Buildings::Table, Buildings::GridId),
                    (Grids::Table, Grids::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_buildings_community_name")
                .table(Buildings::Table)
                .col(Buildings::CommunityId)
                .col(Buildings::Name)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Households::Table)
                .col(big_pk_auto(Households::Id))
                .col(big_integer(Households::CommunityId))
                .col(big_integer(Households::BuildingId))
                .col(string_len(Households::Unit, 16))
                .col(string_len(Households::Room, 16))
                .col(timestamp_with_time_zone(Households::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_households_community",
                    (Households::Table, Households::CommunityId),
                    (Communities::Table, Communities::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_households_building",
                    (Households::Table, Households::BuildingId),
                    (Buildings::Table, Buildings::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_households_building_unit_room")
                .table(Households::Table)
                .col(Households::BuildingId)
                .col(Households::Unit)
                .col(Households::Room)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Memberships::Table)
                .col(big_pk_auto(Memberships::Id))
                .col(big_integer(Memberships::CommunityId))
                .col(big_integer(Memberships::UserId))
                .col(string_len(Memberships::Status, 16))
                .col(big_integer_null(Memberships::HouseholdId))
                .col(big_integer_null(Memberships::ReviewedBy))
                .col(timestamp_with_time_zone_null(Memberships::ReviewedAt))
                .col(string_len_null(Memberships::RejectReason, 200))
                .col(timestamp_with_time_zone(Memberships::CreatedAt))
                .col(timestamp_with_time_zone(Memberships::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_memberships_community",
                    (Memberships::Table, Memberships::CommunityId),
                    (Communities::Table, Communities::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_memberships_user",
                    (Memberships::Table, Memberships::UserId),
                    (Users::Table, Users::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_memberships_household",
                    (Memberships::Table, Memberships::HouseholdId),
                    (Households::Table, Households::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_memberships_community_user")
                .table(Memberships::Table)
                .col(Memberships::CommunityId)
                .col(Memberships::UserId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_memberships_community_status_id")
                .table(Memberships::Table)
                .col(Memberships::CommunityId)
                .col(Memberships::Status)
                .col(Memberships::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_memberships_user")
                .table(Memberships::Table)
                .col(Memberships::UserId)
                .to_owned(),
        )
        .await?;

        // scope_id is the community id for community roles, the street id for street_admin and
        // 0 for platform_admin, so that one unique index covers every kind of grant (NULLs
        // would not collide in a unique index).
        m.create_table(
            Table::create()
                .table(RoleGrants::Table)
                .col(big_pk_auto(RoleGrants::Id))
                .col(big_integer(RoleGrants::UserId))
                .col(string_len(RoleGrants::Role, 32))
                .col(big_integer(RoleGrants::ScopeId))
                .col(big_integer_null(RoleGrants::GrantedBy))
                .col(timestamp_with_time_zone(RoleGrants::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_role_grants_user",
                    (RoleGrants::Table, RoleGrants::UserId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_role_grants_user_role_scope")
                .table(RoleGrants::Table)
                .col(RoleGrants::UserId)
                .col(RoleGrants::Role)
                .col(RoleGrants::ScopeId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_role_grants_role_scope")
                .table(RoleGrants::Table)
                .col(RoleGrants::Role)
                .col(RoleGrants::ScopeId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RoleGrants::Table.into_iden(),
            Memberships::Table.into_iden(),
            Households::Table.into_iden(),
            Buildings::Table.into_iden(),
            Grids::Table.into_iden(),
            Communities::Table.into_iden(),
            Streets::Table.into_iden(),
            Districts::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            AuthSessions::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
