//! The CPU backend (placeholder: being written).
#![allow(missing_docs, unused)]
use crate::{Batch, Kernels, OrderStat, Result};

/// The CPU backend.
#[derive(Clone, Debug, Default)]
pub struct Cpu;

impl Cpu {
    pub fn new() -> Self {
        Cpu
    }
}

pub enum HostRows<'a> {
    Borrowed(Batch<'a>),
    Owned { data: Vec<f32>, k: usize, d: usize },
}

impl Kernels for Cpu {
    type Rows<'a> = HostRows<'a>;
    fn name(&self) -> &'static str {
        "cpu"
    }
    fn upload<'a>(&self, batch: &Batch<'a>) -> Result<HostRows<'a>> {
        todo!()
    }
    fn zeros(&self, k: usize, d: usize) -> Result<HostRows<'static>> {
        todo!()
    }
    fn download(&self, rows: &HostRows<'_>, out: &mut [f32]) -> Result<()> {
        todo!()
    }
    fn order_stats(
        &self,
        rows: &HostRows<'_>,
        weights: &[f64],
        stat: OrderStat,
    ) -> Result<HostRows<'static>> {
        todo!()
    }
    fn pairwise_dist(&self, rows: &HostRows<'_>) -> Result<Vec<f64>> {
        todo!()
    }
    fn center_dist(&self, rows: &HostRows<'_>, center: &HostRows<'_>) -> Result<Vec<f64>> {
        todo!()
    }
    fn mix(
        &self,
        rows: &HostRows<'_>,
        coeffs: &[f64],
        k: usize,
        base: Option<(&HostRows<'_>, f64)>,
    ) -> Result<HostRows<'static>> {
        todo!()
    }
}
