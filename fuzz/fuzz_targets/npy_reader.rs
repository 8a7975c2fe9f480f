//! The `.npy` reader on arbitrary bytes: an error or a well-formed array, never a panic, a
//! stack overflow or an allocation beyond what the bytes can hold.
#![no_main]

use byzagg::npy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((values, n, d)) = npy::parse_matrix(data, "fuzz.npy") {
        assert!(n >= 1 && d >= 1);
        assert_eq!(values.len(), n * d);
    }
    if let Ok(values) = npy::parse_vector_f64(data, "fuzz.npy") {
        assert!(!values.is_empty());
    }
});
