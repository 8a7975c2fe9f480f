//! Where a CUDA matrix lives, and the coordinate chunks every primitive walks.
//!
//! A [`CudaRows`] is a `k x d` row-major f32 matrix held in one of five ways: a buffer byzagg
//! owns on the device; the caller's `CudaSlice<f32>` (borrowed, nothing copied); the caller's
//! raw device row pointers (separate gradient buffers, nothing copied); the caller's host
//! [`Batch`] when it does not fit in device memory; or an owned host matrix for outputs that
//! do not fit either. Kernels always receive device arrays of row pointers offset to the first
//! coordinate of the current chunk, so all five look alike to them.
//!
//! Chunking (ARCHITECTURE.md: coordinate chunks are the one mechanism for size): when every
//! operand is on the device a primitive runs in one chunk of `d` coordinates; when some are
//! on the host, the chunk is sized so that their staged copies and the primitive's scratch
//! (sort scratch, partial sums, pointer arrays: `launch::Footprint`) fit in half of the free
//! device memory. The handle's `CudaParams` (`BYZAGG_CUDA_MEM_LIMIT`, bytes, caps the memory
//! byzagg assumes free; `BYZAGG_CUDA_CHUNK`, coordinates, caps every chunk) let so the host path and the chunk
//! boundaries can be exercised on any GPU.

use cudarc::driver::{
    CudaFunction, CudaSlice, DevicePtr, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};

use super::launch::{self, Footprint};
use super::{Cuda, backend_err};
use crate::batch::Batch;
use crate::error::{Error, Result};

/// A `k x d` row-major f32 matrix for the CUDA backend (see the module docs for the forms).
pub struct CudaRows<'a> {
    k: usize,
    d: usize,
    pub(super) data: Data<'a>,
}

pub(super) enum Data<'a> {
    Owned(CudaSlice<f32>),
    Slice(&'a CudaSlice<f32>),
    Pointers(Vec<u64>),
    Host(Batch<'a>),
    HostOwned(Vec<f32>),
}

impl<'a> CudaRows<'a> {
    /// Number of rows.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of coordinates per row.
    pub fn d(&self) -> usize {
        self.d
    }

    /// Whether the matrix is in device memory.
    pub fn is_on_device(&self) -> bool {
        matches!(self.data, Data::Owned(_) | Data::Slice(_) | Data::Pointers(_))
    }

    /// The contiguous device buffer, if the matrix is one (byzagg's own or the caller's).
    pub fn as_slice(&self) -> Option<&CudaSlice<f32>> {
        match &self.data {
            Data::Owned(s) => Some(s),
            Data::Slice(s) => Some(s),
            _ => None,
        }
    }

    /// The device buffer byzagg allocated for this matrix, if it has one: the way to keep a
    /// result on the GPU.
    pub fn into_slice(self) -> Option<CudaSlice<f32>> {
        match self.data {
            Data::Owned(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn from_slice(slice: &'a CudaSlice<f32>, k: usize) -> Result<Self> {
        if k == 0 || slice.is_empty() || !slice.len().is_multiple_of(k) {
            return Err(Error::invalid(
                "rows",
                format!("{} values for {k} rows", slice.len()),
                "must be a positive multiple of the number of rows",
            ));
        }
        Ok(CudaRows {
            k,
            d: slice.len() / k,
            data: Data::Slice(slice),
        })
    }

    pub(crate) fn from_pointers(ptrs: Vec<u64>, d: usize) -> Result<Self> {
        if ptrs.is_empty() || d == 0 || ptrs.contains(&0) {
            return Err(Error::invalid(
                "rows",
                format!("{} pointers of {d} values", ptrs.len()),
                "need at least one non-null row pointer and d >= 1",
            ));
        }
        // A misaligned f32 load is a sticky CUDA error: it would poison the context for
        // every later call of the process, so it is refused here.
        if let Some((i, p)) = ptrs.iter().enumerate().find(|(_, p)| **p % 4 != 0) {
            return Err(Error::invalid(
                "rows",
                format!("row {i} at address {p:#x}"),
                "every row pointer must be 4-byte aligned (f32)",
            ));
        }
        Ok(CudaRows {
            k: ptrs.len(),
            d,
            data: Data::Pointers(ptrs),
        })
    }
}

impl Cuda {
    /// Device memory byzagg may use now: the free memory, capped by the handle's
    /// [`CudaParams::mem_limit`](super::CudaParams::mem_limit) (`BYZAGG_CUDA_MEM_LIMIT`).
    pub(crate) fn budget(&self) -> Result<usize> {
        let (free, _) = self.ctx().mem_get_info().map_err(backend_err)?;
        Ok(self.params().mem_limit.map_or(free, |l: usize| l.min(free)))
    }

    /// Coordinates per chunk for a primitive that allocates `fp` while it walks the chunks
    /// (its scratch, and the rows it stages from the host): [`launch::plan_chunk`] on the
    /// budget, capped by the handle's [`CudaParams::chunk`](super::CudaParams::chunk)
    /// (`BYZAGG_CUDA_CHUNK`).
    pub(crate) fn chunk_len(&self, d: usize, fp: Footprint) -> Result<usize> {
        launch::plan_chunk(d, self.budget()?, fp, self.params().chunk).map_err(backend_err)
    }

    /// Uploads the batch once, or keeps it on the host if it does not fit (with room to spare
    /// for one matrix of the same size, such as NNM's mixed rows).
    pub(crate) fn upload_batch<'a>(&self, batch: &Batch<'a>) -> Result<CudaRows<'a>> {
        let (n, d) = (batch.n(), batch.d());
        if n * d * 4 * 2 > self.budget()? {
            return Ok(CudaRows {
                k: n,
                d,
                data: Data::Host(batch.clone()),
            });
        }
        let stream = self.stream();
        // SAFETY: every element is written by the copies below before any kernel reads it.
        let mut buf = unsafe { stream.alloc::<f32>(n * d) }.map_err(backend_err)?;
        for (i, row) in batch.rows().enumerate() {
            stream
                .memcpy_htod(row, &mut buf.slice_mut(i * d..(i + 1) * d))
                .map_err(backend_err)?;
        }
        Ok(CudaRows {
            k: n,
            d,
            data: Data::Owned(buf),
        })
    }

    /// A zeroed `k x d` matrix: on the device if it fits in half the budget, else on the host.
    pub(crate) fn alloc_rows(&self, k: usize, d: usize) -> Result<CudaRows<'static>> {
        let data = if k * d * 4 * 2 <= self.budget()? {
            Data::Owned(self.stream().alloc_zeros::<f32>(k * d).map_err(backend_err)?)
        } else {
            Data::HostOwned(vec![0.0; k * d])
        };
        Ok(CudaRows { k, d, data })
    }

    /// Copies `v` to a new device buffer (one element at least, so that empty lists are valid).
    pub(crate) fn to_device<T: DeviceRepr + ValidAsZeroBits + Copy>(&self, v: &[T]) -> Result<CudaSlice<T>> {
        if v.is_empty() {
            return self.stream().alloc_zeros::<T>(1).map_err(backend_err);
        }
        self.stream().clone_htod(v).map_err(backend_err)
    }

    /// The raw device address of a buffer, for kernel arguments and pointer arrays.
    pub(crate) fn address<T>(&self, s: &CudaSlice<T>) -> u64 {
        let (ptr, _sync) = s.device_ptr(self.stream());
        ptr
    }

    /// Adds the `splits` slices of `m` f64 partial sums in `partial` with `reduce` (a
    /// `*_reduce` kernel of signature (pointer, i32, i32, pointer): thread e < m sums
    /// `partial[z * m + e]` over z and writes `out[e]`) and reads the `m` sums back.
    pub(crate) fn sum_splits(
        &self,
        reduce: &CudaFunction,
        partial: &CudaSlice<f64>,
        splits: usize,
        m: usize,
    ) -> Result<Vec<f64>> {
        let reduced = self.stream().alloc_zeros::<f64>(m).map_err(backend_err)?;
        let (partial_ptr, reduced_ptr) = (self.address(partial), self.address(&reduced));
        let (splits32, m32) = (splits as i32, m as i32);
        let mut launch = self.stream().launch_builder(reduce);
        launch
            .arg(&partial_ptr)
            .arg(&splits32)
            .arg(&m32)
            .arg(&reduced_ptr);
        let cfg = LaunchConfig {
            grid_dim: (m.div_ceil(256) as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the caller passes a kernel of signature (pointer, i32, i32, pointer) whose
        // threads e < m read partial[z * m + e] for z < splits (splits * m doubles, as
        // allocated by the caller) and write reduced[e] (m doubles allocated here).
        unsafe { launch.launch(cfg) }.map_err(backend_err)?;
        self.stream().clone_dtoh(&reduced).map_err(backend_err)
    }

    /// Device pointers to coordinates `j0..j0 + len` of the rows `which` (all rows if `None`).
    /// Host rows are first copied into a staging buffer, which is pushed on `keep` so that it
    /// outlives the kernels that read it.
    pub(crate) fn chunk_ptrs(
        &self,
        m: &CudaRows<'_>,
        which: Option<&[usize]>,
        j0: usize,
        len: usize,
        keep: &mut Vec<CudaSlice<f32>>,
    ) -> Result<Vec<u64>> {
        let all: Vec<usize>;
        let which = match which {
            Some(w) => w,
            None => {
                all = (0..m.k).collect();
                &all
            }
        };
        let d = m.d;
        let offset = |base: u64, i: usize| base + ((i * d + j0) * 4) as u64;
        Ok(match &m.data {
            Data::Owned(s) => which.iter().map(|&i| offset(self.address(s), i)).collect(),
            Data::Slice(s) => which.iter().map(|&i| offset(self.address(s), i)).collect(),
            Data::Pointers(p) => which.iter().map(|&i| p[i] + (j0 * 4) as u64).collect(),
            Data::Host(_) | Data::HostOwned(_) => {
                let stream = self.stream();
                // SAFETY: every element is written by the copies below before any kernel reads it.
                let mut stage = unsafe { stream.alloc::<f32>(which.len() * len) }.map_err(backend_err)?;
                for (q, &i) in which.iter().enumerate() {
                    let src = match &m.data {
                        Data::Host(b) => &b.row(i)[j0..j0 + len],
                        Data::HostOwned(v) => &v[i * d + j0..i * d + j0 + len],
                        _ => unreachable!("host forms only"),
                    };
                    stream
                        .memcpy_htod(src, &mut stage.slice_mut(q * len..(q + 1) * len))
                        .map_err(backend_err)?;
                }
                let base = self.address(&stage);
                keep.push(stage);
                (0..which.len()).map(|q| base + (q * len * 4) as u64).collect()
            }
        })
    }

    /// Device pointers where a kernel writes coordinates `j0..j0 + len` of every row of `out`;
    /// for a host matrix, a staging buffer that [`Cuda::finish_chunk`] copies back.
    pub(crate) fn out_ptrs(
        &self,
        out: &CudaRows<'_>,
        j0: usize,
        len: usize,
        keep: &mut Vec<CudaSlice<f32>>,
    ) -> Result<Vec<u64>> {
        if matches!(out.data, Data::HostOwned(_)) {
            let stage = self
                .stream()
                .alloc_zeros::<f32>(out.k * len)
                .map_err(backend_err)?;
            let base = self.address(&stage);
            keep.push(stage);
            return Ok((0..out.k).map(|q| base + (q * len * 4) as u64).collect());
        }
        self.chunk_ptrs(out, None, j0, len, keep)
    }

    /// Waits for the chunk's kernels; copies a host output's staging buffer (the last one on
    /// `keep`) back into place and frees the staging buffers.
    pub(crate) fn finish_chunk(
        &self,
        out: Option<&mut CudaRows<'_>>,
        j0: usize,
        len: usize,
        keep: &mut Vec<CudaSlice<f32>>,
    ) -> Result<()> {
        if let Some(out) = out
            && let Data::HostOwned(v) = &mut out.data
        {
            let stage = keep
                .last()
                .ok_or_else(|| backend_err("host output without staging buffer"))?;
            let host = self.stream().clone_dtoh(stage).map_err(backend_err)?;
            for q in 0..out.k {
                v[q * out.d + j0..q * out.d + j0 + len].copy_from_slice(&host[q * len..(q + 1) * len]);
            }
        }
        self.stream().synchronize().map_err(backend_err)?;
        keep.clear();
        Ok(())
    }

    /// Copies a matrix into `out` (length `k * d`, row-major).
    /// The length of `out` is checked by the caller (`kernels::shape`).
    pub(crate) fn download_rows(&self, m: &CudaRows<'_>, out: &mut [f32]) -> Result<()> {
        let d = m.d;
        match &m.data {
            Data::Owned(s) => self.stream().memcpy_dtoh(s, out).map_err(backend_err)?,
            Data::Slice(s) => self.stream().memcpy_dtoh(*s, out).map_err(backend_err)?,
            Data::Pointers(p) => {
                for (i, &ptr) in p.iter().enumerate() {
                    // SAFETY: the caller of `Cuda::rows_from_pointers` promised d readable
                    // f32 at every pointer; the destination holds exactly d values.
                    unsafe {
                        cudarc::driver::result::memcpy_dtoh_async(
                            &mut out[i * d..(i + 1) * d],
                            ptr,
                            self.stream().cu_stream(),
                        )
                    }
                    .map_err(backend_err)?;
                }
            }
            Data::Host(b) => {
                for (i, row) in b.rows().enumerate() {
                    out[i * d..(i + 1) * d].copy_from_slice(row);
                }
            }
            Data::HostOwned(v) => out.copy_from_slice(v),
        }
        self.stream().synchronize().map_err(backend_err)
    }
}

#[cfg(test)]
mod tests {
    use super::CudaRows;

    #[test]
    fn misaligned_or_null_row_pointers_are_refused() {
        let Err(err) = CudaRows::from_pointers(vec![0x1000, 0x2002], 8) else {
            panic!("a misaligned pointer was accepted");
        };
        assert!(err.to_string().contains("row 1"), "{err}");
        assert!(err.to_string().contains("4-byte aligned"), "{err}");
        assert!(CudaRows::from_pointers(vec![0x1000, 0], 8).is_err());
        assert!(CudaRows::from_pointers(vec![0x1000, 0x2004], 8).is_ok());
    }
}
