use std::process::ExitCode;

use clap::Parser;
use depot::app::{Migrations, Server, open_database};
use depot::cli::{
    Cli, Command, audit_command, doctor_command, gc_command, route_command, token_command,
    user_command,
};
use depot::client::{Client, ClientError, ls, pull, push, rm};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs what it does; the client commands only what goes wrong.
    let default = match cli.command {
        Command::Serve(_) => "info,sqlx=warn,aws=warn",
        _ => "warn",
    };
    let telemetry = depot::telemetry::init(cli.log_format, default);
    let result = run(cli).await;
    drop(telemetry);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: what failed, and the code that says what kind of failure it was.
            eprintln!("depot: {e:#}");
            match e.downcast_ref::<ClientError>() {
                Some(client) => ExitCode::from(client.exit_code()),
                None => ExitCode::FAILURE,
            }
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let server = Server::build(args.into_config()?).await?;
            server.run(shutdown_signal()).await
        }
        Command::Migrate(db_args) => {
            open_database(&db_args.database_url(), Migrations::Apply).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Route(args) => route_command(args).await,
        Command::User { command, db } => user_command(&db, command).await,
        Command::Token { command, db } => token_command(&db, command).await,
        Command::Gc { dry_run, serve } => gc_command(*serve, dry_run).await,
        Command::Doctor { serve } => doctor_command(*serve).await,
        Command::Audit {
            actor,
            action,
            since,
            limit,
            db,
        } => audit_command(&db, actor, action, since, limit).await,
        Command::Push {
            files,
            package_type,
            jobs,
            client,
        } => {
            let client = Client::new(&client)?;
            Ok(push(&client, &files, package_type.as_deref(), jobs).await?)
        }
        Command::Ls { filters, client } => Ok(ls(&Client::new(&client)?, &filters).await?),
        Command::Pull {
            package,
            output,
            client,
        } => Ok(pull(&Client::new(&client)?, &package, output.as_deref()).await?),
        Command::Rm { ids, client } => Ok(rm(&Client::new(&client)?, &ids).await?),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
