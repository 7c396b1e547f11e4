//! Communities and the people in them: the hierarchy 区 district → 街道 street → 社区 community
//! → 网格 grid → 楼栋 building → household, residents' memberships, and role grants.

pub mod grants;
pub mod hierarchy;
pub mod membership;
pub mod residents;
pub mod routes;
pub mod types;
