//! What the merchants capability holds about one person, for their export and erasure: what
//! they bought (receipts of pay-code sales and their counter-code payments), the sales they
//! made as a shop's staff, and which of their photos are offers' photos (those outlive the
//! account: the shop relies on them).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::entities::{merchant, offer, redemption};
use crate::error::AppResult;
use crate::merchants::redemption::Channel;

/// A purchase: the receipt of a sale at a counter, by either channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyPurchase {
    pub redemption_id: i64,
    pub merchant_id: i64,
    pub merchant_name: Option<String>,
    pub offer_name: Option<String>,
    /// The community whose beans paid.
    pub community_id: i64,
    pub amount: i64,
    /// pay_code (staff scanned their code) or counter_code (they scanned the shop's and paid).
    pub channel: String,
    /// completed or reversed.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// A sale they made as a member of a shop's staff (the buyer is not theirs to export).
#[derive(Debug, Serialize, ToSchema)]
pub struct MySale {
    pub redemption_id: i64,
    pub merchant_id: i64,
    pub amount: i64,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyShopData {
    pub purchases: Vec<MyPurchase>,
    pub sales_as_staff: Vec<MySale>,
}

pub async fn export_of(db: &impl ConnectionTrait, user_id: i64) -> AppResult<MyShopData> {
    let bought = redemption::Entity::find()
        .filter(redemption::Column::UserId.eq(user_id))
        .order_by_asc(redemption::Column::Id)
        .all(db)
        .await?;
    // Rows from before names were kept on the sale fall back to the shop's name now.
    let shops: HashMap<i64, String> = merchant::Entity::find()
        .filter(merchant::Column::Id.is_in(bought.iter().map(|r| r.merchant_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id, m.name))
        .collect();
    let sold = redemption::Entity::find()
        .filter(redemption::Column::StaffId.eq(user_id))
        .filter(redemption::Column::Channel.eq(Channel::PayCode.as_str()))
        .order_by_asc(redemption::Column::Id)
        .all(db)
        .await?;
    Ok(MyShopData {
        purchases: bought
            .into_iter()
            .map(|r| MyPurchase {
                redemption_id: r.id,
                merchant_id: r.merchant_id,
                merchant_name: r
                    .merchant_name
                    .filter(|n| !n.is_empty())
                    .or_else(|| shops.get(&r.merchant_id).cloned()),
                offer_name: r.offer_name,
                community_id: r.community_id,
                amount: r.amount,
                channel: r.channel,
                status: r.status,
                created_at: r.created_at,
            })
            .collect(),
        sales_as_staff: sold
            .into_iter()
            .map(|r| MySale {
                redemption_id: r.id,
                merchant_id: r.merchant_id,
                amount: r.amount,
                status: r.status,
                created_at: r.created_at,
            })
            .collect(),
    })
}

/// Which of `ids` are the photo of an offer.
pub async fn photos_in_use(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> AppResult<HashSet<String>> {
    let mut used = HashSet::new();
    for chunk in ids.chunks(500) {
        let offers = offer::Entity::find()
            .filter(offer::Column::PhotoUploadId.is_in(chunk.iter().cloned()))
            .all(db)
            .await?;
        used.extend(offers.into_iter().filter_map(|o| o.photo_upload_id));
    }
    Ok(used)
}
