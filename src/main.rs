use std::io::IsTerminal;

use clap::Parser;

use causerie::cli::{run_admin_command, Cli, Command};
use causerie::startup::Application;
use causerie::telemetry;

fn main() {
    let cli = Cli::parse();
    let settings = match cli.settings() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("causerie: {message}");
            std::process::exit(2);
        }
    };
    let colour = std::io::stderr().is_terminal();
    telemetry::init(&settings.log_format, &settings.log_level, std::io::stderr, colour);
    let result = match cli.command.unwrap_or(Command::Serve(Default::default())) {
        Command::Serve(_) => serve(settings),
        other => run_admin_command(other, &settings),
    };
    if let Err(error) = result {
        eprintln!("causerie: {error:#}");
        std::process::exit(1);
    }
}

fn serve(settings: causerie::config::Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let app = Application::build(settings).await?;
        tracing::info!(port = app.port(), "listening");
        app.run_until_stopped().await?;
        Ok(())
    })
}
