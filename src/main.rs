//! The `dbtoken` command: see `src/cli/` and `dbtoken --help`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
