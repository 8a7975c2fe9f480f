//! byzagg's own environment variables, read in this one place: the backends' tuning
//! ([`wgpu_params`]: `BYZAGG_WGPU_CHUNK`, `BYZAGG_WGPU_MAX_GROUPS`,
//! `BYZAGG_WGPU_ORDER_STATS_WORK`; [`cuda_params`]: `BYZAGG_CUDA_CHUNK`,
//! `BYZAGG_CUDA_MEM_LIMIT`) maps onto the parameter structs a backend takes when it opens, so
//! that no launch reads the environment and code can pass the same settings without it. A
//! value given but unusable is an error naming the variable and what it accepts, never
//! silently ignored: a user who sets a chunk length to test the multi-chunk paths must not get
//! a run that quietly did not use it.
//!
//! The kernel-variant settings (`BYZAGG_CUDA_KERNELS`, `BYZAGG_WGPU_KERNELS`) are parsed where
//! their values live (`cuda/variant.rs`, `wgpu/kernel_variant.rs`), with the same rule.
//!
//! `BYZAGG_SIMD` (the CPU backend's SIMD cap) is parsed where its values live, by
//! `SimdLevel::from_str` in `cpu/simd.rs`, with the same rule: a bad value is an error.

use crate::error::{Error, Result};

/// The value of `name` as a whole number >= 1; `None` when the variable is unset or empty.
pub(crate) fn positive(name: &'static str) -> Result<Option<usize>> {
    let Some(raw) = std::env::var_os(name) else {
        return Ok(None);
    };
    let text = raw.to_string_lossy();
    if text.trim().is_empty() {
        return Ok(None);
    }
    match text.trim().parse::<usize>() {
        Ok(v) if v >= 1 => Ok(Some(v)),
        _ => Err(Error::invalid(
            name,
            format!("{text:?}"),
            "must be a whole number >= 1, or unset",
        )),
    }
}

/// The wgpu backend's tuning from the environment ([`crate::wgpu::WgpuParams`]; unset
/// variables leave the device's own limits).
#[cfg(feature = "wgpu")]
pub(crate) fn wgpu_params() -> Result<crate::wgpu::WgpuParams> {
    let chunk_cols = positive("BYZAGG_WGPU_CHUNK")?;
    let max_groups_x = match positive("BYZAGG_WGPU_MAX_GROUPS")? {
        Some(g) => Some(
            u32::try_from(g)
                .map_err(|_| Error::invalid("BYZAGG_WGPU_MAX_GROUPS", g, "must be at most 4294967295"))?,
        ),
        None => None,
    };
    Ok(crate::wgpu::WgpuParams {
        chunk_cols,
        max_groups_x,
        order_stats_work: positive("BYZAGG_WGPU_ORDER_STATS_WORK")?.map(|w| w as u64),
    })
}

/// The CUDA backend's tuning from the environment ([`crate::cuda::CudaParams`]; unset
/// variables leave the free memory and no chunk cap).
#[cfg(feature = "cuda")]
pub(crate) fn cuda_params() -> Result<crate::cuda::CudaParams> {
    Ok(crate::cuda::CudaParams {
        chunk: positive("BYZAGG_CUDA_CHUNK")?,
        mem_limit: positive("BYZAGG_CUDA_MEM_LIMIT")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_or_name_the_variable() {
        // A variable only this test sets (tests share the process environment).
        const NAME: &str = "BYZAGG_TEST_ENV_VAR_POSITIVE";
        // SAFETY: no other thread reads or writes this variable, which only this test uses.
        unsafe { std::env::remove_var(NAME) };
        assert_eq!(positive(NAME).unwrap(), None);
        for (value, expected) in [("64", Some(64)), (" 7 ", Some(7)), ("", None)] {
            // SAFETY: as above.
            unsafe { std::env::set_var(NAME, value) };
            assert_eq!(positive(NAME).unwrap(), expected, "{value:?}");
        }
        for value in ["0", "-1", "abc", "1e3", "99999999999999999999999"] {
            // SAFETY: as above.
            unsafe { std::env::set_var(NAME, value) };
            let err = positive(NAME).unwrap_err().to_string();
            assert!(err.contains(NAME) && err.contains(">= 1"), "{value}: {err}");
        }
        // SAFETY: as above.
        unsafe { std::env::remove_var(NAME) };
    }
}
