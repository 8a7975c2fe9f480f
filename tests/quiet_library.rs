//! The library never prints, and `Backend::Auto` chooses by where the rows live: a batch in
//! host memory runs on the CPU backend, with no driver probed, so no Vulkan instance is opened
//! (Mesa's lavapipe printed two `XDG_RUNTIME_DIR` lines when one was) and nothing reaches
//! stderr; the choice is reported through the `log` facade.
//!
//! The check runs in a child process (this test executable again, one test selected), whose
//! stderr is then exactly what the library wrote there.

use std::process::Command;

use byzagg::{Aggregator, Backend, Batch, Engine, Rule};

const CHILD: &str = "BYZAGG_QUIET_LIBRARY_CHILD";

/// What a Python user's first call does: Auto on a host batch.
fn first_call() {
    let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    let batch = Batch::from_contiguous(&data, 3).unwrap();
    let agg = Aggregator::new(Rule::CwMed, Backend::Auto).unwrap();
    assert_eq!(agg.backend(), Backend::Cpu);
    assert_eq!(agg.aggregate(&batch).unwrap(), [4.0, 5.0, 6.0]);
    assert_eq!(Backend::Auto.resolve().unwrap(), Backend::Cpu);
    assert_eq!(Engine::open(Backend::Auto).unwrap().backend(), Backend::Cpu);
}

#[test]
fn auto_on_host_rows_runs_on_the_cpu_and_prints_nothing() {
    if std::env::var_os(CHILD).is_some() {
        first_call();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "auto_on_host_rows_runs_on_the_cpu_and_prints_nothing",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        // As in a container, where Mesa complains on opening a Vulkan instance.
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("the test executable runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed: {stderr}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.trim().is_empty(), "the library wrote to stderr:\n{stderr}");
}

/// The choice is still said, to whoever installed a logger.
#[test]
fn auto_reports_its_choice_through_log() {
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    struct Collect;
    impl log::Log for Collect {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            SEEN.lock()
                .unwrap()
                .push(format!("{} {}", record.target(), record.args()));
        }
        fn flush(&self) {}
    }
    if std::env::var_os(CHILD).is_some() {
        return; // the child runs the other test only
    }
    static LOGGER: Collect = Collect;
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    Backend::Auto.resolve().unwrap();
    let seen = SEEN.lock().unwrap();
    assert!(
        seen.iter()
            .any(|l| l.starts_with("byzagg") && l.contains("backend auto uses cpu")),
        "{seen:?}"
    );
}
