fn main() -> std::process::ExitCode {
    portwatch_cli::main()
}
