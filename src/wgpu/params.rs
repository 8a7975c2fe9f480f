//! The wgpu backend's tuning: [`WgpuParams`], fixed when a handle is made ([`Wgpu::new`] from
//! the environment, [`Wgpu::with_params`] from code) and carried by the handle, so that no
//! launch reads the environment. Every setting changes how the work is cut (chunks, grids,
//! dispatches, submissions), never a result.
//!
//! [`Wgpu::new`]: super::Wgpu::new
//! [`Wgpu::with_params`]: super::Wgpu::with_params

/// Most comparisons (coordinates x rows^2) one `order_stats` dispatch, and one submission, may
/// hold: about 2^30 simple loads and compares, tens of milliseconds on a discrete GPU, far
/// below the OS watchdogs (2 s on Windows), however many rows and coordinates there are.
pub(crate) const ORDER_STATS_WORK: u64 = 1 << 30;

/// How the wgpu backend cuts its work. `None` everywhere ([`WgpuParams::default`]) is the
/// device's own limits; smaller values let small inputs reach the paths that only large inputs
/// reach otherwise (tests, and `byzagg verify` on a real driver). The environment maps onto
/// these fields in one place (`BYZAGG_WGPU_CHUNK`, `BYZAGG_WGPU_MAX_GROUPS`,
/// `BYZAGG_WGPU_ORDER_STATS_WORK`, read by [`Wgpu::new`](super::Wgpu::new)).
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
    /// The `order_stats` budget in effect.
    pub(crate) fn order_stats_budget(&self) -> u64 {
        self.order_stats_work.unwrap_or(ORDER_STATS_WORK).max(1)
    }
}
