//! Finding NVRTC and compiling the kernels of `kernels/*.cu` with it.
//!
//! cudarc opens NVRTC by its standard names (`libnvrtc.so`, `libnvrtc.so.13`, `.12`, ...)
//! through the system loader, which only looks where `LD_LIBRARY_PATH` pointed when the
//! process started. So byzagg searches the usual places itself and loads the library it
//! finds by full path, with its builtins library first, as `RTLD_GLOBAL`: the loader then
//! answers cudarc's later request by soname with the library already loaded. The search, in
//! order:
//!
//! 1. `BYZAGG_NVRTC`: the library file, or the folder holding it;
//! 2. `CUDA_PATH`, `CUDA_HOME`: their `lib64`, `lib`, `targets/x86_64-linux/lib`;
//! 3. PyPI's wheels (`nvidia-cuda-nvrtc` for CUDA 13, `nvidia-cuda-nvrtc-cu12` for 12, also
//!    pulled in by PyTorch): `nvidia/cu13/lib` and `nvidia/cuda_nvrtc/lib` under the
//!    `site-packages` of `VIRTUAL_ENV`, `CONDA_PREFIX`, `./.venv`, the crate's own `.venv`,
//!    `~/.local`, `/usr/local`, `/usr` and `/opt/conda`;
//! 4. `/usr/local/cuda/lib64`;
//! 5. the system loader's own search (`LD_LIBRARY_PATH`, `ldconfig`).
//!
//! Where a driver is installed, a library newer than the driver's CUDA major version is passed
//! over while an older one exists (NVRTC 13 emits PTX 9.0, which a 12.x driver cannot load),
//! except that `BYZAGG_NVRTC` is always taken as given.
//!
//! Nothing here needs a GPU: CI compiles every kernel for sm_80 and sm_90 on the CPU.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cudarc::nvrtc::{CompileError, CompileOptions, Ptx};

/// The NVRTC library in use.
#[derive(Clone, Debug)]
pub struct NvrtcInfo {
    /// The file loaded, or how the system loader found it.
    pub path: String,
    /// NVRTC's version (major, minor).
    pub version: (i32, i32),
}

/// Library file names tried in each folder, newest first.
const NAMES: [&str; 3] = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"];

/// Finds and loads NVRTC once per process; later calls return the same answer.
pub fn nvrtc() -> Result<&'static NvrtcInfo, String> {
    static NVRTC: OnceLock<Result<NvrtcInfo, String>> = OnceLock::new();
    NVRTC
        .get_or_init(|| std::panic::catch_unwind(load).unwrap_or_else(|_| Err("NVRTC probe panicked".into())))
        .as_ref()
        .map_err(Clone::clone)
}

/// The folders (or files) searched, in order (see the module docs).
pub fn search_path() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("BYZAGG_NVRTC") {
        out.push(PathBuf::from(p));
    }
    for var in ["CUDA_PATH", "CUDA_HOME"] {
        if let Some(p) = std::env::var_os(var) {
            let p = PathBuf::from(p);
            out.extend(["lib64", "lib", "targets/x86_64-linux/lib"].map(|s| p.join(s)));
        }
    }
    let mut prefixes: Vec<PathBuf> = Vec::new();
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(p) = std::env::var_os(var) {
            prefixes.push(p.into());
        }
    }
    prefixes.push(PathBuf::from(".venv"));
    prefixes.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    if let Some(home) = std::env::var_os("HOME") {
        prefixes.push(Path::new(&home).join(".local"));
    }
    prefixes.extend(["/usr/local", "/usr", "/opt/conda"].map(PathBuf::from));
    for prefix in prefixes {
        for lib in ["lib", "lib64"] {
            let Ok(entries) = std::fs::read_dir(prefix.join(lib)) else {
                continue;
            };
            let mut pythons: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("python3"))
                })
                .collect();
            pythons.sort();
            for py in pythons {
                for packages in ["site-packages", "dist-packages"] {
                    let nvidia = py.join(packages).join("nvidia");
                    out.push(nvidia.join("cu13/lib"));
                    out.push(nvidia.join("cuda_nvrtc/lib"));
                }
            }
        }
    }
    out.push(PathBuf::from("/usr/local/cuda/lib64"));
    out
}

/// Loads `path` for the whole process (`RTLD_GLOBAL`) and never unloads it.
fn load_global(path: &Path) -> Result<(), String> {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    // SAFETY: NVRTC and its builtins run no initialisation code with preconditions; the handle
    // is leaked, so the library stays loaded for the functions cudarc will resolve in it.
    let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_GLOBAL) }
        .map_err(|e| format!("{}: {e}", path.display()))?;
    std::mem::forget(lib);
    Ok(())
}

/// The CUDA major version of a library file named `libnvrtc.so.<major>[...]`.
fn soname_major(lib: &Path) -> Option<i32> {
    let name = lib.file_name()?.to_str()?;
    name.strip_prefix("libnvrtc.so.")?.split('.').next()?.parse().ok()
}

/// The libraries to try, in order: the search path's, with those whose major version is
/// newer than `driver_major` moved after the others (`BYZAGG_NVRTC` stays first).
fn candidates(driver_major: Option<i32>) -> Vec<PathBuf> {
    let explicit = std::env::var_os("BYZAGG_NVRTC").map(PathBuf::from);
    let mut libs: Vec<PathBuf> = Vec::new();
    for place in search_path() {
        let found: Vec<PathBuf> = if place.is_file() {
            vec![place.clone()]
        } else {
            NAMES
                .iter()
                .map(|n| place.join(n))
                .filter(|p| p.is_file())
                .collect()
        };
        for lib in found {
            if !libs.contains(&lib) {
                libs.push(lib);
            }
        }
    }
    order_for_driver(libs, driver_major, explicit.as_deref())
}

/// `libs` with those newer than the driver's major version moved to the end, keeping the
/// order otherwise; a library under `explicit` (the user's `BYZAGG_NVRTC`) is never moved.
fn order_for_driver(libs: Vec<PathBuf>, driver_major: Option<i32>, explicit: Option<&Path>) -> Vec<PathBuf> {
    let Some(major) = driver_major else {
        return libs;
    };
    let pinned = |p: &PathBuf| explicit.is_some_and(|e| p.starts_with(e));
    let too_new = |p: &PathBuf| !pinned(p) && soname_major(p).is_some_and(|m| m > major);
    let (mut fit, newer): (Vec<PathBuf>, Vec<PathBuf>) = libs.into_iter().partition(|p| !too_new(p));
    fit.extend(newer);
    fit
}

fn load() -> Result<NvrtcInfo, String> {
    let mut tried = Vec::new();
    let mut found = None;
    let driver_major = super::driver::driver_version().map(|v| v.0);
    for lib in candidates(driver_major) {
        // NVRTC opens its builtins library by soname: load it first, from the same folder.
        if let Some(dir) = lib.parent()
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("libnvrtc-builtins.so") && !name.contains(".alt.") {
                    let _ = load_global(&e.path());
                }
            }
        }
        match load_global(&lib) {
            Ok(()) => {
                found = Some(lib.display().to_string());
                break;
            }
            Err(e) => tried.push(e),
        }
    }
    // SAFETY: only opens libraries by name to see whether one loads.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        let mut why = "no NVRTC library found (install it with `pip install nvidia-cuda-nvrtc==13.0.*` \
                       or point BYZAGG_NVRTC at libnvrtc.so)"
            .to_string();
        if !tried.is_empty() {
            why.push_str(&format!("; failed to load: {}", tried.join("; ")));
        }
        return Err(why);
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is loaded (checked above); both pointers are valid for one write.
    let status = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    if status != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(format!("nvrtcVersion failed: {status:?}"));
    }
    Ok(NvrtcInfo {
        path: found.unwrap_or_else(|| "found by the system loader (LD_LIBRARY_PATH, ldconfig)".into()),
        version: (major, minor),
    })
}

/// NVRTC's `--gpu-architecture` value for PTX: `sm_90`, `90` and `compute_90` all give
/// `compute_90`.
pub fn virtual_arch(arch: &str) -> Result<&'static str, String> {
    let digits = arch
        .trim()
        .trim_start_matches("sm_")
        .trim_start_matches("compute_");
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "invalid architecture {arch:?}: expected sm_XY, such as sm_80 or sm_90"
        ));
    }
    // Leaked once per distinct architecture string (cudarc wants &'static str).
    static ARCHS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let want = format!("compute_{digits}");
    let mut known = ARCHS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(a) = known.iter().find(|a| **a == want) {
        return Ok(a);
    }
    let leaked: &'static str = Box::leak(want.into_boxed_str());
    known.push(leaked);
    Ok(leaked)
}

/// Compiles one kernel file to PTX for `arch`; the error holds NVRTC's log.
pub fn compile(file: &str, source: &str, arch: &str) -> Result<Ptx, String> {
    nvrtc()?;
    let opts = CompileOptions {
        arch: Some(virtual_arch(arch)?),
        name: Some(file.to_string()),
        options: vec!["--std=c++17".into()],
        ..Default::default()
    };
    // cudarc unwraps a few NVRTC calls; a broken library must not take the process down.
    std::panic::catch_unwind(|| cudarc::nvrtc::compile_ptx_with_opts(source, opts))
        .map_err(|_| format!("NVRTC panicked compiling {file}"))?
        .map_err(|e| match e {
            CompileError::CompileError { nvrtc, log, options } => format!(
                "{file} for {arch}: {nvrtc:?} with options {options:?}\n{}",
                log.to_string_lossy()
            ),
            other => format!("{file} for {arch}: {other:?}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_driver_older_than_the_newest_nvrtc_gets_the_older_one_first() {
        let libs: Vec<PathBuf> = ["/a/libnvrtc.so.13", "/b/libnvrtc.so.12", "/c/libnvrtc.so"]
            .map(PathBuf::from)
            .to_vec();
        assert_eq!(soname_major(&libs[0]), Some(13));
        assert_eq!(soname_major(&libs[2]), None);
        let order = |major, explicit: Option<&str>| {
            order_for_driver(libs.clone(), major, explicit.map(Path::new))
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            order(Some(12), None),
            ["/b/libnvrtc.so.12", "/c/libnvrtc.so", "/a/libnvrtc.so.13"]
        );
        assert_eq!(order(Some(13), None)[0], "/a/libnvrtc.so.13");
        assert_eq!(order(None, None)[0], "/a/libnvrtc.so.13");
        // The user's choice is kept even when it is newer than the driver.
        assert_eq!(order(Some(12), Some("/a"))[0], "/a/libnvrtc.so.13");
    }
}
