//! Roles and where they apply. Community roles are granted per community, `street_admin` per
//! street and `platform_admin` everywhere. Being a verified resident is not a grant: it comes
//! from the membership.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 居民: a verified member of the community (from the membership, not granted).
    Resident,
    /// 居民代表: votes on topics put to representatives.
    Representative,
    /// 网格员: verifies residents, posts for those who cannot.
    GridWorker,
    /// 楼栋长.
    BuildingLeader,
    /// 社区两委.
    CommunityAdmin,
    /// 街道: sees and manages the communities of one street.
    StreetAdmin,
    /// Runs the platform: districts, streets, the first admins.
    PlatformAdmin,
    /// 商户店员: redeems 金豆 at one merchant's counter (scope: the merchant). Joined through the
    /// merchant's invitation code, never granted directly.
    MerchantStaff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Community,
    Street,
    Platform,
    Merchant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Resident => "resident",
            Role::Representative => "representative",
            Role::GridWorker => "grid_worker",
            Role::BuildingLeader => "building_leader",
            Role::CommunityAdmin => "community_admin",
            Role::StreetAdmin => "street_admin",
            Role::PlatformAdmin => "platform_admin",
            Role::MerchantStaff => "merchant_staff",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::Resident,
            Role::Representative,
            Role::GridWorker,
            Role::BuildingLeader,
            Role::CommunityAdmin,
            Role::StreetAdmin,
            Role::PlatformAdmin,
            Role::MerchantStaff,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    pub fn scope(self) -> Scope {
        match self {
            Role::StreetAdmin => Scope::Street,
            Role::PlatformAdmin => Scope::Platform,
            Role::MerchantStaff => Scope::Merchant,
            _ => Scope::Community,
        }
    }

    /// Whether the role can be granted directly (residents come from memberships, merchant
    /// staff from invitations).
    pub fn grantable(self) -> bool {
        !matches!(self, Role::Resident | Role::MerchantStaff)
    }
}
