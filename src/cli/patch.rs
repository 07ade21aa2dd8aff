//! `depot patch …`: sw-patch's commands against depot's StarlingX patch API.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;

use crate::client::patches::{print_hosts, print_query, print_reply, print_show};
use crate::client::{Client, ClientArgs, ClientResult};

#[derive(Args, Debug)]
pub struct PatchArgs {
    #[command(subcommand)]
    pub command: PatchCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand, Debug)]
pub enum PatchCommand {
    /// Releases and their base repositories.
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Upload patch files (`<ID>.patch`).
    Upload {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// The patches and their states.
    Query {
        /// all, available, applied, committed
        #[arg(long, default_value = "all")]
        show: String,
        #[arg(long)]
        release: Option<String>,
    },
    /// Patches' metadata and contents.
    Show {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Put patches into their release's updates repository.
    Apply {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Take patches out of the updates repository.
    Remove {
        /// Remove patches marked unremovable too.
        #[arg(long)]
        removeunremovable: bool,
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Delete Available patches.
    Delete {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Commit patches (and what they require): their superseded RPMs are deleted.
    Commit {
        /// Report what would be committed and freed, and do nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// The hosts, current or not, and what each misses or must remove.
    QueryHosts,
    /// Ask a host's agent to install on its next report.
    HostInstall { host: String },
    /// Forget a host (its agent's next report brings it back).
    DropHost { host: String },
    /// Which patches require these.
    WhatRequires {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// What these patches require.
    QueryDependencies {
        #[arg(long)]
        recursive: bool,
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReleaseCommand {
    /// Add a release (admin).
    Add {
        name: String,
        /// Its base repository: a distribution tag of depot's RPMs (`el7`).
        #[arg(long)]
        base: String,
    },
    /// Delete a release without patches (admin).
    Delete { name: String },
    /// List the releases.
    List,
}

pub async fn run(args: PatchArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    Ok(dispatch(&client, args.command).await?)
}

fn joined(ids: &[String]) -> String {
    ids.iter()
        .map(|id| {
            percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn dispatch(client: &Client, command: PatchCommand) -> ClientResult<()> {
    use PatchCommand as C;
    let post = |path: String| async move { client.patch_call(Method::POST, &path).await };
    match command {
        C::Release(ReleaseCommand::Add { name, base }) => {
            print_reply(&post(format!("init_release/{name}?base={base}")).await?)
        }
        C::Release(ReleaseCommand::Delete { name }) => {
            print_reply(&post(format!("del_release/{name}")).await?)
        }
        C::Release(ReleaseCommand::List) => {
            let answer = client.patch_call(Method::GET, "releases").await?;
            for r in answer["releases"].as_array().into_iter().flatten() {
                println!(
                    "{}\tbase {}",
                    r["release"].as_str().unwrap_or_default(),
                    r["base"].as_str().unwrap_or_default()
                );
            }
            Ok(())
        }
        C::Upload { files } => {
            let mut failed = None;
            for file in files {
                let answer = client.patch_upload(&file).await?;
                if let Err(e) = print_reply(&answer) {
                    eprintln!("{}: {e}", file.display());
                    failed = Some(e);
                }
            }
            failed.map_or(Ok(()), Err)
        }
        C::Query { show, release } => {
            let mut path = format!("query?show={show}");
            if let Some(release) = release {
                path.push_str(&format!("&release={release}"));
            }
            let answer = client.patch_call(Method::GET, &path).await?;
            print_reply(&answer)?;
            print_query(&answer);
            Ok(())
        }
        C::Show { ids } => print_show(&post(format!("show/{}", joined(&ids))).await?),
        C::Apply { ids } => print_reply(&post(format!("apply/{}", joined(&ids))).await?),
        C::Remove {
            removeunremovable,
            ids,
        } => {
            let mut path = format!("remove/{}", joined(&ids));
            if removeunremovable {
                path.push_str("?removeunremovable=yes");
            }
            print_reply(&post(path).await?)
        }
        C::Delete { ids } => print_reply(&post(format!("delete/{}", joined(&ids))).await?),
        C::Commit { dry_run, ids } => {
            let call = if dry_run { "commit_dry_run" } else { "commit" };
            print_reply(&post(format!("{call}/{}", joined(&ids))).await?)
        }
        C::QueryHosts => {
            let answer = client.patch_call(Method::GET, "query_hosts").await?;
            print_hosts(&answer);
            print_reply(&answer)
        }
        C::HostInstall { host } => {
            print_reply(&post(format!("host_install_async/{}", joined(&[host]))).await?)
        }
        C::DropHost { host } => print_reply(&post(format!("drop_host/{}", joined(&[host]))).await?),
        C::WhatRequires { ids } => {
            let path = format!("what_requires/{}", joined(&ids));
            print_reply(&client.patch_call(Method::GET, &path).await?)
        }
        C::QueryDependencies { recursive, ids } => {
            let mut path = format!("query_dependencies/{}", joined(&ids));
            if recursive {
                path.push_str("?recursive=yes");
            }
            let answer = client.patch_call(Method::GET, &path).await?;
            for id in answer["patches"].as_array().into_iter().flatten() {
                println!("{}", id.as_str().unwrap_or_default());
            }
            print_reply(&answer)
        }
    }
}
