use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One staff action in the audit trail. Rows are only ever inserted (the database refuses
/// UPDATE and DELETE); `audit::record` writes them inside the action's transaction.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The community the action belongs to.
    pub community_id: Option<i64>,
    /// The street: the community's, or the street's own for a street action with no
    /// community (a street admin's grant, a paired unit).
    pub street_id: Option<i64>,
    /// Who acted; empty for the operator at the command line.
    pub actor_user_id: Option<i64>,
    pub kind: AuditKind,
    pub object_type: ObjectType,
    pub object_id: i64,
    /// JSON: the ids and states that matter, before and after. Never names or phones.
    pub detail: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// What a staff member did. The string values are stable: clients filter by them.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(64))")]
pub enum AuditKind {
    #[sea_orm(string_value = "membership.approved")]
    #[serde(rename = "membership.approved")]
    MembershipApproved,
    #[sea_orm(string_value = "membership.rejected")]
    #[serde(rename = "membership.rejected")]
    MembershipRejected,
    #[sea_orm(string_value = "role.granted")]
    #[serde(rename = "role.granted")]
    RoleGranted,
    #[sea_orm(string_value = "role.revoked")]
    #[serde(rename = "role.revoked")]
    RoleRevoked,
    #[sea_orm(string_value = "wish.approved")]
    #[serde(rename = "wish.approved")]
    WishApproved,
    #[sea_orm(string_value = "wish.rejected")]
    #[serde(rename = "wish.rejected")]
    WishRejected,
    #[sea_orm(string_value = "wish.dispute_resolved")]
    #[serde(rename = "wish.dispute_resolved")]
    WishDisputeResolved,
    #[sea_orm(string_value = "redemption.reversed")]
    #[serde(rename = "redemption.reversed")]
    RedemptionReversed,
    #[sea_orm(string_value = "settlement.settled")]
    #[serde(rename = "settlement.settled")]
    SettlementSettled,
    #[sea_orm(string_value = "merchant.admitted")]
    #[serde(rename = "merchant.admitted")]
    MerchantAdmitted,
    #[sea_orm(string_value = "merchant.suspended")]
    #[serde(rename = "merchant.suspended")]
    MerchantSuspended,
    #[sea_orm(string_value = "merchant.reinstated")]
    #[serde(rename = "merchant.reinstated")]
    MerchantReinstated,
    #[sea_orm(string_value = "merchant_staff.joined")]
    #[serde(rename = "merchant_staff.joined")]
    MerchantStaffJoined,
    #[sea_orm(string_value = "merchant_staff.removed")]
    #[serde(rename = "merchant_staff.removed")]
    MerchantStaffRemoved,
    #[sea_orm(string_value = "points.rules_changed")]
    #[serde(rename = "points.rules_changed")]
    PointsRulesChanged,
    #[sea_orm(string_value = "wishes.rules_changed")]
    #[serde(rename = "wishes.rules_changed")]
    WishesRulesChanged,
    #[sea_orm(string_value = "points.adjusted")]
    #[serde(rename = "points.adjusted")]
    PointsAdjusted,
    #[sea_orm(string_value = "pair_unit.created")]
    #[serde(rename = "pair_unit.created")]
    PairUnitCreated,
    #[sea_orm(string_value = "pair_unit.member_added")]
    #[serde(rename = "pair_unit.member_added")]
    PairUnitMemberAdded,
    #[sea_orm(string_value = "pair_unit.member_removed")]
    #[serde(rename = "pair_unit.member_removed")]
    PairUnitMemberRemoved,
}

/// The kind of object an entry is about; `object_id` is its id.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum ObjectType {
    #[sea_orm(string_value = "membership")]
    Membership,
    #[sea_orm(string_value = "role_grant")]
    RoleGrant,
    #[sea_orm(string_value = "wish")]
    Wish,
    #[sea_orm(string_value = "redemption")]
    Redemption,
    #[sea_orm(string_value = "settlement")]
    Settlement,
    #[sea_orm(string_value = "merchant")]
    Merchant,
    #[sea_orm(string_value = "earning_rule")]
    EarningRule,
    /// A community's wish rules; the id is the community's.
    #[sea_orm(string_value = "wish_rules")]
    WishRules,
    #[sea_orm(string_value = "ledger_transaction")]
    LedgerTransaction,
    #[sea_orm(string_value = "pair_unit")]
    PairUnit,
}

impl AuditKind {
    /// The stable name, as stored and as clients filter by it.
    pub fn name(self) -> String {
        self.to_value()
    }

    pub fn parse(s: &str) -> Option<AuditKind> {
        AuditKind::try_from_value(&s.to_owned()).ok()
    }
}
