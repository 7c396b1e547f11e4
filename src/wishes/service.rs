//! The wishes service as its callers see it: one name for each operation, whichever file of
//! the capability holds it. Handlers call `service::claim`, `service::wall`, …; the work
//! lives where its concern does:
//!
//! - `input`: checking what a poster sends, and encrypting the beneficiary's details;
//! - `posting`: a new wish, and the poster's edits;
//! - `lifecycle`: every later move of a wish's life, each through the one gate and one
//!   sequence (load → guard → begin → change → reload → notify → commit → walls forgotten);
//! - `standing`: whether the caller may see a wish, and who they are to it;
//! - `queries`: the walls, the caller's wishes and claims, share codes;
//! - `account`: privacy — the export of one's data, erasure, decrypting for those entitled;
//! - `payment` and `jobs`: paying the claimer, and the periodic release and payment job.

pub use crate::wishes::account::{MyWishData, export_of, forget_beneficiary, reveal};
pub use crate::wishes::input::{OnBehalf, WishInput, mask_name};
pub use crate::wishes::jobs::{pay_missed, release_overdue, run_release_job};
pub use crate::wishes::lifecycle::{
    claim, confirm, fulfil, release, resolve, review, thank, withdraw,
};
pub use crate::wishes::posting::{edit, post};
pub use crate::wishes::queries::{WallOrder, forget_walls, mine, my_claims, share_code, wall};
pub use crate::wishes::standing::{Standing, load, standing, state_of};
