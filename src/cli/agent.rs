//! `depot agent`: a host's patch agent. It reports what rpm says is
//! installed; when the patch service asks (`depot patch host-install`), it
//! removes the packages of removed patches and installs the applied ones'
//! with dnf from depot's updates repository, reporting `installing`, then
//! `idle` or `install-failed`. `--installroot` keeps it (and the tests) off
//! the machine's own packages.

mod system;

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, ClientArgs, ClientError};
use system::{Dnf, installed};

#[derive(Args, Debug)]
pub struct AgentArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// This host's name, as `query_hosts` lists it.
    #[arg(long, env = "DEPOT_AGENT_HOSTNAME")]
    pub hostname: String,
    /// controller, worker, storage, …: the comps group `updates-<personality>` it follows.
    #[arg(long, env = "DEPOT_AGENT_PERSONALITY")]
    pub personality: String,
    /// Further roles whose packages the host takes too (repeatable).
    #[arg(long = "subfunction")]
    pub subfunctions: Vec<String>,
    /// The host's release; the server's only release when unset.
    #[arg(long, env = "DEPOT_AGENT_RELEASE")]
    pub release: Option<String>,
    /// The host's address as reported; the address depot sees when unset.
    #[arg(long)]
    pub ip: Option<String>,
    /// Install into this root instead of `/` (rpm --root, dnf --installroot).
    #[arg(long)]
    pub installroot: Option<PathBuf>,
    /// Report (and install, when asked) once, then exit: 1 when the install failed.
    #[arg(long)]
    pub once: bool,
    /// Between reports.
    #[arg(long, default_value = "30s")]
    pub interval: humantime::Duration,
    /// A dnf run longer than this is killed and the install reported failed.
    #[arg(long, default_value = "30m")]
    pub dnf_timeout: humantime::Duration,
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let token = args.client.token.clone().ok_or_else(|| {
        anyhow::anyhow!("the agent needs an API token (--token, DEPOT_TOKEN): dnf sends it too")
    })?;
    let release = match &args.release {
        Some(r) => r.clone(),
        None => only_release(&client).await?,
    };
    let dnf = Dnf {
        server: args.client.server.to_string(),
        token,
        release: release.clone(),
        root: args.installroot.clone(),
        timeout: args.dnf_timeout.into(),
    };
    let mut agent = Agent {
        client,
        args,
        release,
        state: "idle",
        dnf,
    };
    loop {
        let failed = match agent.round().await {
            Ok(failed) => failed,
            Err(e) if agent.args.once => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "patch agent round failed");
                false
            }
        };
        if agent.args.once {
            if failed {
                anyhow::bail!("the install failed; the host reports install-failed");
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from(agent.args.interval)).await;
    }
}

/// The release when the server has exactly one.
async fn only_release(client: &Client) -> anyhow::Result<String> {
    let answer = client.patch_call(Method::GET, "releases").await?;
    let names: Vec<&str> = answer["releases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["release"].as_str())
        .collect();
    match names.as_slice() {
        [one] => Ok(one.to_string()),
        _ => anyhow::bail!(
            "the server has {} releases: name this host's with --release",
            names.len()
        ),
    }
}

struct Agent {
    client: Client,
    args: AgentArgs,
    release: String,
    /// What the agent last did: `idle`, `installing`, `install-failed`.
    state: &'static str,
    dnf: Dnf,
}

impl Agent {
    async fn report(&self, finished: bool) -> anyhow::Result<Value> {
        let root = self.args.installroot.as_deref();
        let packages = installed(root).await?;
        let body = json!({
            "hostname": self.args.hostname,
            "ip": self.args.ip.clone().unwrap_or_default(),
            "personality": self.args.personality,
            "subfunctions": self.args.subfunctions,
            "sw_version": self.release,
            "state": self.state,
            "installed": packages,
            "finished": finished,
        });
        self.client.host_report(&body).await.map_err(reported)
    }

    /// One report, and the install it asks for; whether that failed.
    async fn round(&mut self) -> anyhow::Result<bool> {
        let answer = self.report(false).await?;
        if answer["install"].as_bool() != Some(true) {
            return Ok(false);
        }
        let list = |k: &str| -> Vec<String> {
            answer["host"][k]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        };
        let (missing, to_remove) = (list("missing_pkgs"), list("to_remove"));
        self.state = "installing";
        self.report(false).await?;
        tracing::info!(?missing, ?to_remove, "installing");
        let result = self.dnf.converge(&to_remove, &missing).await;
        if let Err(e) = &result {
            eprintln!("install failed: {e}");
        }
        self.state = if result.is_ok() {
            "idle"
        } else {
            "install-failed"
        };
        self.report(true).await?;
        Ok(result.is_err())
    }
}

fn reported(e: ClientError) -> anyhow::Error {
    anyhow::anyhow!("reporting to the patch service: {e}")
}
