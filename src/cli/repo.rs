//! `depot repo`: the yum repositories, with `serve`'s settings and without
//! a running server: list them, publish now, verify what is stored.

use clap::{Args, Subcommand};

use super::ServeArgs;
use crate::app::{Migrations, Services};
use crate::domain::repos::Published;

#[derive(Args, Debug)]
pub struct RepoArgs {
    #[command(subcommand)]
    pub command: RepoCommand,
}

#[derive(Subcommand, Debug)]
pub enum RepoCommand {
    /// List the repositories: packages, revision, last publication.
    List {
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
    /// Publish now what changed (a replica's publisher does it within
    /// moments; this is for a repository whose publications failed).
    Publish {
        /// One repository, `OS/ARCH` (e.g. `el7/x86_64`); default: all.
        #[arg(value_name = "OS/ARCH", value_parser = repo_name)]
        repo: Option<(String, String)>,
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
    /// Re-read every stored metadata file and check its digests, and every
    /// package it lists against the package store; exit 1 on a problem.
    Verify {
        /// One repository, `OS/ARCH`; default: all.
        #[arg(value_name = "OS/ARCH", value_parser = repo_name)]
        repo: Option<(String, String)>,
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
}

fn only(repo: &Option<(String, String)>) -> Option<(&str, &str)> {
    repo.as_ref().map(|(os, arch)| (os.as_str(), arch.as_str()))
}

fn repo_name(s: &str) -> Result<(String, String), String> {
    match s.trim_matches('/').split_once('/') {
        Some((os, arch)) if !os.is_empty() && !arch.is_empty() && !arch.contains('/') => {
            Ok((os.to_string(), arch.to_string()))
        }
        _ => Err(format!("{s:?} is not OS/ARCH, e.g. el7/x86_64")),
    }
}

enum Action {
    List,
    Publish(Option<(String, String)>),
    Verify(Option<(String, String)>),
}

pub async fn run(args: RepoArgs) -> anyhow::Result<()> {
    let (serve, action) = match args.command {
        RepoCommand::List { serve } => (serve, Action::List),
        RepoCommand::Publish { repo, serve } => (serve, Action::Publish(repo)),
        RepoCommand::Verify { repo, serve } => (serve, Action::Verify(repo)),
    };
    let config = serve.into_config()?;
    let services = Services::build(&config, Migrations::Require).await?;
    let repos = &services.repos;
    match action {
        Action::List => {
            println!(
                "{:<24} {:>9} {:>12}  PUBLISHED",
                "REPOSITORY", "PACKAGES", "REVISION"
            );
            for r in repos.list().await? {
                println!(
                    "{:<24} {:>9} {:>12}  {}",
                    format!("{}/{}", r.os, r.arch),
                    r.packages,
                    r.revision.map_or("-".into(), |n| n.to_string()),
                    r.published_at.map_or("never".into(), |t| t
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()),
                );
            }
        }
        Action::Publish(repo) => {
            for ((os, arch), published) in repos.publish_now(only(&repo)).await? {
                let what = match published {
                    Published::New(revision) => format!("published revision {revision}"),
                    Published::Unchanged => "unchanged".into(),
                    Published::Empty => "empty (no packages)".into(),
                    Published::Busy => {
                        "changed while publishing; published again by the next publication".into()
                    }
                };
                println!("{os}/{arch}: {what}");
            }
        }
        Action::Verify(repo) => {
            let found = repos.verify(only(&repo)).await?;
            let mut sound = true;
            for v in &found {
                if v.is_sound() {
                    println!(
                        "{}: OK, revision {}, {} files, {} packages",
                        v.repo, v.revision, v.files, v.packages
                    );
                    continue;
                }
                sound = false;
                println!(
                    "{}: {} problem(s), revision {}",
                    v.repo,
                    v.problems.len() + v.more_problems,
                    v.revision
                );
                for p in &v.problems {
                    println!("  {p}");
                }
                if v.more_problems > 0 {
                    println!("  … and {} more", v.more_problems);
                }
            }
            if !sound {
                anyhow::bail!("repository metadata does not match what is stored");
            }
        }
    }
    Ok(())
}
