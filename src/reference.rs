//! The f64 reference (placeholder: being written).
#![allow(missing_docs, unused)]
use crate::{Batch, Plan, Result};

pub fn aggregate(plan: &Plan, batch: &Batch<'_>) -> Result<Vec<f64>> {
    todo!()
}
