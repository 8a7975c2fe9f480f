//! `byzagg train` as a standalone example, until the CLI wires the subcommand:
//! `cargo run --release --example train -- --preset mnist-async --backend reference`.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: byzagg::train::TrainArgs,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = byzagg::train::run(&cli.args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
