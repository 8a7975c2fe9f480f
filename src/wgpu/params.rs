//! The wgpu backend's tuning: [`WgpuParams`], fixed when a handle is made ([`Wgpu::new`] from
//! the environment through [`WgpuParams::from_env`], [`Wgpu::with_params`] from code) and carried by the handle, so that no
//! launch reads the environment. Every setting changes how the work is cut (chunks, grids,
//! dispatches, submissions), never a result.
//!
//! [`Wgpu::new`]: super::Wgpu::new
//! [`Wgpu::with_params`]: super::Wgpu::with_params

use crate::env_var::positive;
use crate::error::{Error, Result};

/// Most comparisons (coordinates x rows^2) one `order_stats` dispatch, and one submission, may
/// hold: about 2^30 simple loads and compares, tens of milliseconds on a discrete GPU, far
/// below the OS watchdogs (2 s on Windows), however many rows and coordinates there are.
pub(crate) const ORDER_STATS_WORK: u64 = 1 << 30;

/// How the wgpu backend cuts its work. `None` everywhere ([`WgpuParams::default`]) is the
/// device's own limits; smaller values let small inputs reach the paths that only large inputs
/// reach otherwise (tests, and `byzagg verify` on a real driver). The environment maps onto
/// these fields in one place (`BYZAGG_WGPU_CHUNK`, `BYZAGG_WGPU_MAX_GROUPS`,
/// `BYZAGG_WGPU_ORDER_STATS_WORK`: [`WgpuParams::from_env`], which [`Wgpu::new`](super::Wgpu::new)
/// calls).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WgpuParams {
    /// Coordinates per chunk (at least 1); `None`: as many as one storage binding holds.
    pub chunk_cols: Option<usize>,
    /// Workgroups per row of the 2D launch grid (at least 1); `None`: the device's limit per
    /// dimension. With a small value every shader sees `workgroup_id.y > 0`.
    pub max_groups_x: Option<u32>,
    /// The work budget of one `order_stats` dispatch and submission, in comparisons
    /// (coordinates x rows^2, at least 1); `None`: 2^30.
    pub order_stats_work: Option<u64>,
}

impl WgpuParams {
    /// The tuning the environment gives (unset variables leave the device's own limits): the
    /// one place these variables are read. A value that is not a whole number >= 1 is an
    /// error naming the variable.
    pub fn from_env() -> Result<WgpuParams> {
        let chunk_cols = positive("BYZAGG_WGPU_CHUNK")?;
        let max_groups_x = match positive("BYZAGG_WGPU_MAX_GROUPS")? {
            Some(g) => Some(
                u32::try_from(g)
                    .map_err(|_| Error::invalid("BYZAGG_WGPU_MAX_GROUPS", g, "must be at most 4294967295"))?,
            ),
            None => None,
        };
        Ok(WgpuParams {
            chunk_cols,
            max_groups_x,
            order_stats_work: positive("BYZAGG_WGPU_ORDER_STATS_WORK")?.map(|w| w as u64),
        })
    }

    /// The `order_stats` budget in effect.
    pub(crate) fn order_stats_budget(&self) -> u64 {
        self.order_stats_work.unwrap_or(ORDER_STATS_WORK).max(1)
    }
}
