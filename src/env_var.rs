//! How byzagg reads its own environment variables: a value given but unusable is an error
//! naming the variable and what it accepts, never silently ignored (a user who sets a chunk
//! length to test the multi-chunk paths must not get a run that quietly did not use it).
//!
//! The backends' tuning variables map onto their parameter structs, each beside its struct
//! and read only when a backend opens, never inside a launch: `WgpuParams::from_env` in
//! `wgpu/params.rs` (`BYZAGG_WGPU_CHUNK`, `BYZAGG_WGPU_MAX_GROUPS`,
//! `BYZAGG_WGPU_ORDER_STATS_WORK`) and `CudaParams::from_env` in `cuda/params.rs`
//! (`BYZAGG_CUDA_CHUNK`, `BYZAGG_CUDA_MEM_LIMIT`). This file stays a leaf, below the backends
//! that use it.
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
