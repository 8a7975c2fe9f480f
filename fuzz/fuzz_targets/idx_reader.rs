//! The IDX (MNIST) reader on arbitrary bytes: an error or an array whose data holds exactly
//! the product of its dimensions, never a panic or a wrapped size.
#![no_main]

use byzagg::train::Idx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(idx) = Idx::parse(data, "fuzz.idx") {
        let len = idx.dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        assert_eq!(len, Some(idx.data.len()), "{:?}", idx.dims);
    }
});
