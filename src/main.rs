//! The `dbtoken` command: see `src/cli/` and `dbtoken --help`.

fn main() -> std::process::ExitCode {
    dbtoken::cli_main()
}
