//! The command line's logger. The library reports through the `log` facade and never prints
//! (a Python user or an embedding server decides where its messages go); the `byzagg`
//! command shows the library's own messages, info and above, on stderr as `byzagg: MESSAGE`,
//! the form they always had. Other crates' records (wgpu's) stay silent, as before.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("byzagg") && metadata.level() <= Level::Info
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("byzagg: {}", record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the logger (once; a second call changes nothing).
pub(crate) fn install() {
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}
