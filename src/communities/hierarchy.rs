//! Creating and listing the places: districts and streets (platform admins), communities
//! (street admins), grids, buildings and households (community admins).

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::auth::access::CurrentUser;
use crate::entities::{building, community, district, grid, household, street};
use crate::error::{AppError, AppResult, ErrorCode, is_unique_violation};
use crate::pagination::Keyset;
use crate::state::AppState;
use crate::validate;

fn name_taken(err: DbErr) -> AppError {
    if is_unique_violation(&err) {
        AppError::new(ErrorCode::NameTaken, "同一范围内已存在同名记录")
    } else {
        err.into()
    }
}

pub async fn create_district(
    state: &AppState,
    current: &CurrentUser,
    name: &str,
) -> AppResult<district::Model> {
    current.require_platform_admin()?;
    let name = validate::text("name", name, 64)?;
    district::ActiveModel {
        name: Set(name),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db)
    .await
    .map_err(name_taken)
}

pub async fn list_districts(state: &AppState) -> AppResult<Vec<district::Model>> {
    Ok(district::Entity::find()
        .order_by_asc(district::Column::Id)
        .all(&state.db)
        .await?)
}

pub async fn create_street(
    state: &AppState,
    current: &CurrentUser,
    district_id: i64,
    name: &str,
) -> AppResult<street::Model> {
    current.require_platform_admin()?;
    let name = validate::text("name", name, 64)?;
    district::Entity::find_by_id(district_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    street::ActiveModel {
        district_id: Set(district_id),
        name: Set(name),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db)
    .await
    .map_err(name_taken)
}

pub async fn list_streets(state: &AppState, district_id: i64) -> AppResult<Vec<street::Model>> {
    district::Entity::find_by_id(district_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(street::Entity::find()
        .filter(street::Column::DistrictId.eq(district_id))
        .order_by_asc(street::Column::Id)
        .all(&state.db)
        .await?)
}

pub async fn create_community(
    state: &AppState,
    current: &CurrentUser,
    street_id: i64,
    name: &str,
    address: Option<&str>,
) -> AppResult<community::Model> {
    let street = street::Entity::find_by_id(street_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    if !current.is_street_admin(street.id) {
        return Err(AppError::forbidden());
    }
    let name = validate::text("name", name, 64)?;
    let address = validate::optional_text("address", address, 256)?;
    community::ActiveModel {
        street_id: Set(street.id),
        name: Set(name),
        address: Set(address),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db)
    .await
    .map_err(name_taken)
}

pub async fn list_communities(
    state: &AppState,
    street_id: i64,
    page: Keyset,
) -> AppResult<Vec<community::Model>> {
    street::Entity::find_by_id(street_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let query = community::Entity::find().filter(community::Column::StreetId.eq(street_id));
    Ok(page
        .ascending(query, community::Column::Id)
        .all(&state.db)
        .await?)
}

/// A community's public card (name, address): what its join poster shows anyway.
/// The ids of every community of a street.
pub async fn community_ids_of_street(state: &AppState, street_id: i64) -> AppResult<Vec<i64>> {
    Ok(community::Entity::find()
        .select_only()
        .column(community::Column::Id)
        .filter(community::Column::StreetId.eq(street_id))
        .order_by_asc(community::Column::Id)
        .into_tuple()
        .all(&state.db)
        .await?)
}

pub async fn community_card(state: &AppState, community_id: i64) -> AppResult<community::Model> {
    community::Entity::find_by_id(community_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)
}

pub async fn create_grid(
    state: &AppState,
    community_id: i64,
    name: &str,
) -> AppResult<grid::Model> {
    let name = validate::text("name", name, 64)?;
    grid::ActiveModel {
        community_id: Set(community_id),
        name: Set(name),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db)
    .await
    .map_err(name_taken)
}

pub async fn list_grids(
    state: &AppState,
    community_id: i64,
    page: Keyset,
) -> AppResult<Vec<grid::Model>> {
    let query = grid::Entity::find().filter(grid::Column::CommunityId.eq(community_id));
    Ok(page
        .ascending(query, grid::Column::Id)
        .all(&state.db)
        .await?)
}

pub async fn create_building(
    state: &AppState,
    community_id: i64,
    name: &str,
    grid_id: Option<i64>,
) -> AppResult<building::Model> {
    let name = validate::text("name", name, 64)?;
    if let Some(grid_id) = grid_id {
        // A grid of another community is, from here, a grid that does not exist.
        grid::Entity::find_by_id(grid_id)
            .filter(grid::Column::CommunityId.eq(community_id))
            .one(&state.db)
            .await?
            .ok_or_else(|| AppError::validation("grid_id", "网格不存在"))?;
    }
    building::ActiveModel {
        community_id: Set(community_id),
        grid_id: Set(grid_id),
        name: Set(name),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db)
    .await
    .map_err(name_taken)
}

pub async fn list_buildings(
    state: &AppState,
    community_id: i64,
    page: Keyset,
) -> AppResult<Vec<building::Model>> {
    let query = building::Entity::find().filter(building::Column::CommunityId.eq(community_id));
    Ok(page
        .ascending(query, building::Column::Id)
        .all(&state.db)
        .await?)
}

pub async fn create_household(
    state: &AppState,
    community_id: i64,
    building_id: i64,
    unit: &str,
    room: &str,
) -> AppResult<household::Model> {
    let unit = validate::text("unit", unit, 16)?;
    let room = validate::text("room", room, 16)?;
    building::Entity::find_by_id(building_id)
        .filter(building::Column::CommunityId.eq(community_id))
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::validation("building_id", "楼栋不存在"))?;
    household::ActiveModel {
        community_id: Set(community_id),
        building_id: Set(building_id),
        unit: Set(unit),
        room: Set(room),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db)
    .await
    .map_err(name_taken)
}

pub async fn list_households(
    state: &AppState,
    community_id: i64,
    building_id: Option<i64>,
    page: Keyset,
) -> AppResult<Vec<household::Model>> {
    let mut query =
        household::Entity::find().filter(household::Column::CommunityId.eq(community_id));
    if let Some(b) = building_id {
        query = query.filter(household::Column::BuildingId.eq(b));
    }
    Ok(page
        .ascending(query, household::Column::Id)
        .all(&state.db)
        .await?)
}
