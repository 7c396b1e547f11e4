//! Request and response bodies of the community endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::roles::Role;
use crate::entities::{building, community, district, grid, household, street};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlace {
    #[schema(example = "盘龙区")]
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCommunity {
    #[schema(example = "阳光社区")]
    pub name: String,
    pub address: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBuilding {
    #[schema(example = "3栋")]
    pub name: String,
    pub grid_id: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHousehold {
    pub building_id: i64,
    #[schema(example = "2单元")]
    pub unit: String,
    #[schema(example = "301")]
    pub room: String,
}

#[derive(Serialize, ToSchema)]
pub struct DistrictView {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<district::Model> for DistrictView {
    fn from(m: district::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            created_at: m.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct StreetView {
    pub id: i64,
    pub district_id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<street::Model> for StreetView {
    fn from(m: street::Model) -> Self {
        Self {
            id: m.id,
            district_id: m.district_id,
            name: m.name,
            created_at: m.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CommunityView {
    pub id: i64,
    pub street_id: i64,
    pub name: String,
    pub address: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<community::Model> for CommunityView {
    fn from(m: community::Model) -> Self {
        Self {
            id: m.id,
            street_id: m.street_id,
            name: m.name,
            address: m.address,
            created_at: m.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct GridView {
    pub id: i64,
    pub community_id: i64,
    pub name: String,
}

impl From<grid::Model> for GridView {
    fn from(m: grid::Model) -> Self {
        Self {
            id: m.id,
            community_id: m.community_id,
            name: m.name,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BuildingView {
    pub id: i64,
    pub community_id: i64,
    pub grid_id: Option<i64>,
    pub name: String,
}

impl From<building::Model> for BuildingView {
    fn from(m: building::Model) -> Self {
        Self {
            id: m.id,
            community_id: m.community_id,
            grid_id: m.grid_id,
            name: m.name,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HouseholdView {
    pub id: i64,
    pub community_id: i64,
    pub building_id: i64,
    pub unit: String,
    pub room: String,
}

impl From<household::Model> for HouseholdView {
    fn from(m: household::Model) -> Self {
        Self {
            id: m.id,
            community_id: m.community_id,
            building_id: m.building_id,
            unit: m.unit,
            room: m.room,
        }
    }
}

/// A membership as staff see it: the phone only masked.
#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub membership_id: i64,
    pub user_id: i64,
    pub nickname: Option<String>,
    /// Masked: 138****1234.
    pub phone_masked: Option<String>,
    /// pending, verified, rejected or left.
    pub status: String,
    pub household_id: Option<i64>,
    pub reject_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembershipFilter {
    /// pending (default), verified, rejected or left.
    #[param(pattern = "^(pending|verified|rejected|left)$")]
    pub status: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HouseholdFilter {
    pub building_id: Option<i64>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    /// Place the resident in this household of the community.
    pub household_id: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    /// Shown to the applicant.
    #[schema(example = "未能核实住址，请联系网格员")]
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetHousehold {
    pub household_id: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    pub user_id: i64,
    pub role: Role,
    /// The community id for community roles, the street id for `street_admin`; ignored for
    /// `platform_admin`.
    #[serde(default)]
    pub scope_id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct GrantDetail {
    pub id: i64,
    pub user_id: i64,
    pub nickname: Option<String>,
    pub role: Role,
    pub scope_id: i64,
    pub granted_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}
