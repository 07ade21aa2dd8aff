//! `depot patch …`: StarlingX's patch calls (`/patch/…`) over HTTP, printed
//! as sw-patch prints them; a call whose answer has `error` set fails.

use std::path::Path;

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use tokio_util::io::ReaderStream;

use super::{Client, ClientError, ClientResult, check};

impl Client {
    /// A StarlingX call; its JSON answer.
    pub async fn patch_call(&self, method: Method, path: &str) -> ClientResult<Value> {
        let url = self.url(&format!("patch/{path}"))?;
        let response = check(self.request(method, url).send().await?).await?;
        Ok(response.json().await?)
    }

    /// An agent's report (`host_report`); the host entry and `install`.
    pub async fn host_report(&self, report: &Value) -> ClientResult<Value> {
        let url = self.url("patch/host_report")?;
        let response = check(self.request(Method::POST, url).json(report).send().await?).await?;
        Ok(response.json().await?)
    }

    /// Uploads a patch file, streamed from disk.
    pub async fn patch_upload(&self, file: &Path) -> ClientResult<Value> {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| ClientError::Other(format!("{}: not a file name", file.display())))?
            .to_owned();
        let opened = tokio::fs::File::open(file)
            .await
            .map_err(|e| ClientError::Other(format!("{}: {e}", file.display())))?;
        let length = opened
            .metadata()
            .await
            .map_err(|e| ClientError::Other(format!("{}: {e}", file.display())))?
            .len();
        let body = reqwest::Body::wrap_stream(ReaderStream::new(opened));
        let form = Form::new().part(
            "file",
            Part::stream_with_length(body, length).file_name(name),
        );
        let url = self.url("patch/upload")?;
        let response = check(
            self.request(Method::POST, url)
                .multipart(form)
                .send()
                .await?,
        )
        .await?;
        Ok(response.json().await?)
    }
}

/// Prints `info` and `warning` (stdout) and `error` (stderr); fails when
/// `error` is set, as sw-patch does.
pub fn print_reply(answer: &Value) -> ClientResult<()> {
    let text = |k: &str| answer[k].as_str().unwrap_or_default().trim_end().to_owned();
    let (info, warning, error) = (text("info"), text("warning"), text("error"));
    if !info.is_empty() {
        println!("{info}");
    }
    if !warning.is_empty() {
        println!("Warning:\n{warning}");
    }
    if error.is_empty() {
        Ok(())
    } else {
        Err(ClientError::Other(error))
    }
}

/// `query`'s table, as sw-patch lays it out.
pub fn print_query(answer: &Value) {
    let empty = serde_json::Map::new();
    let pd = answer["pd"].as_object().unwrap_or(&empty);
    let width = pd.keys().map(String::len).max().unwrap_or(0).max(8);
    println!(
        "{:>width$}  {:>2}  {:>7}  {:>11}  {:>14}",
        "Patch ID", "RR", "Release", "Repo State", "Patch State"
    );
    println!(
        "{}  ==  =======  ===========  ==============",
        "=".repeat(width)
    );
    for (id, p) in pd {
        let field = |k: &str| p[k].as_str().unwrap_or_default();
        println!(
            "{id:>width$}  {:>2}  {:>7}  {:>11}  {:>14}",
            field("reboot_required"),
            field("sw_version"),
            field("repostate"),
            field("patchstate")
        );
    }
}

/// `show`: each patch's fields and contents.
pub fn print_show(answer: &Value) -> ClientResult<()> {
    let empty = serde_json::Map::new();
    for (id, meta) in answer["metadata"].as_object().unwrap_or(&empty) {
        println!("{id}:");
        for (k, v) in meta.as_object().unwrap_or(&empty) {
            let shown = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("    {k:<26} {shown}");
        }
        println!("    {:<26}", "Contents:");
        for rpm in answer["contents"][id].as_array().into_iter().flatten() {
            println!("        {}", rpm.as_str().unwrap_or_default());
        }
    }
    print_reply(answer)
}

/// `query-hosts`' table, as sw-patch lays it out.
pub fn print_hosts(answer: &Value) {
    let hosts = answer["data"].as_array().cloned().unwrap_or_default();
    let width = hosts
        .iter()
        .map(|h| h["hostname"].as_str().unwrap_or_default().len())
        .max()
        .unwrap_or(0)
        .max(8);
    println!(
        "{:<width$}  {:<15}  {:<13}  {:<6}  {:<10}  {:<7}  {:<16}",
        "Hostname", "IP Address", "Patch Current", "Reboot", "Personality", "Release", "State"
    );
    println!(
        "{}  {}  {}  {}  {}  {}  {}",
        "=".repeat(width),
        "=".repeat(15),
        "=".repeat(13),
        "=".repeat(6),
        "=".repeat(10),
        "=".repeat(7),
        "=".repeat(16)
    );
    let yes = |v: &Value| {
        if v.as_bool() == Some(true) {
            "Yes"
        } else {
            "No"
        }
    };
    for h in &hosts {
        let text = |k: &str| h[k].as_str().unwrap_or_default().to_owned();
        println!(
            "{:<width$}  {:<15}  {:<13}  {:<6}  {:<10}  {:<7}  {:<16}",
            text("hostname"),
            text("ip"),
            yes(&h["patch_current"]),
            yes(&h["requires_reboot"]),
            text("nodetype"),
            text("sw_version"),
            text("state")
        );
        for (k, what) in [("missing_pkgs", "missing"), ("to_remove", "to remove")] {
            let list: Vec<&str> = h[k]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !list.is_empty() {
                println!("    {what}: {}", list.join(" "));
            }
        }
    }
}
