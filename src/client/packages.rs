//! `depot ls` and `depot rm`, and how a package is named on the command
//! line: by id or by file name, the same for `pull` and `rm`.

use clap::Args;
use reqwest::Method;
use serde::de::IgnoredAny;

use super::{Client, ClientError, ClientResult};
use crate::api_types::{Paged, SoftwarePackageMeta};

/// Filters of `depot ls`, as the list API takes them. Each list filter is
/// repeatable or comma-separated, and matches any of its values.
#[derive(Args, Debug, Default)]
pub struct LsArgs {
    /// Package type, e.g. OB_SERVER_INSTALL_PACKAGE, OCP_AGENT_INSTALL_PACKAGE, SCRIPT.
    #[arg(long = "type", value_name = "TYPE")]
    pub package_type: Vec<String>,
    /// Version, e.g. 4.2.1.0.
    #[arg(long)]
    pub version: Vec<String>,
    /// Operating system: el7 exactly, or a family without digits (el, alios).
    #[arg(long, value_name = "OS")]
    pub os: Vec<String>,
    /// Architecture, e.g. x86_64, aarch64.
    #[arg(long, value_name = "ARCH")]
    pub arch: Vec<String>,
    /// A part of the package name, in any case.
    #[arg(long)]
    pub keyword: Option<String>,
    /// One JSON array of SoftwarePackageMeta, for machines.
    #[arg(long)]
    pub json: bool,
}

/// Every package matching the filters, page by page.
pub async fn list(client: &Client, args: &LsArgs) -> ClientResult<Vec<SoftwarePackageMeta>> {
    const PAGE: u64 = 500;
    let mut packages = Vec::new();
    for page in 1.. {
        let mut url = client.url("api/v2/software-packages")?;
        {
            let mut q = url.query_pairs_mut();
            for (key, values) in [
                ("type", &args.package_type),
                ("version", &args.version),
                ("operatingSystem", &args.os),
                ("architecture", &args.arch),
            ] {
                for value in values {
                    q.append_pair(key, value);
                }
            }
            if let Some(keyword) = &args.keyword {
                q.append_pair("keyword", keyword);
            }
            q.append_pair("page", &page.to_string());
            q.append_pair("size", &PAGE.to_string());
        }
        let data: Paged<SoftwarePackageMeta> =
            client.call(client.request(Method::GET, url)).await?;
        packages.extend(data.contents);
        if page >= data.page.total_pages {
            break;
        }
    }
    Ok(packages)
}

pub async fn ls(client: &Client, args: &LsArgs) -> ClientResult<()> {
    let packages = list(client, args).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&packages).map_err(ClientError::other)?
        );
        return Ok(());
    }
    print!("{}", table(&packages));
    eprintln!("{} package(s)", packages.len());
    Ok(())
}

/// The packages as a table whose columns are as wide as their widest value:
/// fixed widths break on a long type (OB_BACKUP_AGENT_INSTALL_PACKAGE) or id.
fn table(packages: &[SoftwarePackageMeta]) -> String {
    let header = ["ID", "TYPE", "VERSION", "OS", "ARCH", "SIZE", "FILE"];
    let rows: Vec<[String; 7]> = packages
        .iter()
        .map(|p| {
            let size = u64::try_from(p.size).unwrap_or(0);
            [
                p.id.to_string(),
                p.package_type.clone(),
                p.version.clone(),
                p.operating_system.clone(),
                p.architecture.clone(),
                bytesize::ByteSize::b(size)
                    .display()
                    .iec_short()
                    .to_string(),
                p.file_name.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 7]| {
        // Numbers (ID, SIZE) to the right, words to the left; the last column unpadded.
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let w = widths[i];
            match i {
                0 | 5 => out.push_str(&format!("{cell:>w$}  ")),
                6 => out.push_str(cell),
                _ => out.push_str(&format!("{cell:<w$}  ")),
            }
        }
        out.push('\n');
        out
    };
    let mut text = line(header);
    for row in &rows {
        text.push_str(&line(row.each_ref().map(String::as_str)));
    }
    text
}

/// Deletes each package, named by id or file name; prints `deleted ID<TAB>NAME`.
pub async fn rm(client: &Client, packages: &[String]) -> ClientResult<()> {
    for target in packages {
        let meta = resolve(client, target).await?;
        let url = client.url(&format!("api/v2/software-packages/{}", meta.id))?;
        // The answer carries no data.
        client
            .envelope::<IgnoredAny>(client.request(Method::DELETE, url))
            .await?;
        println!("deleted {}\t{}", meta.id, meta.file_name);
    }
    Ok(())
}

/// The package's SoftwarePackageMeta, by id (all digits: no stored file name
/// is, since names end in .rpm, .sh or .py) or by exact file name.
pub(super) async fn resolve(client: &Client, target: &str) -> ClientResult<SoftwarePackageMeta> {
    if let Ok(id) = target.parse::<i64>() {
        let url = client.url(&format!("api/v2/software-packages/{id}"))?;
        return client.call(client.request(Method::GET, url)).await;
    }
    let mut url = client.url("api/v2/software-packages")?;
    url.query_pairs_mut().append_pair("fileName", target);
    let data: Paged<SoftwarePackageMeta> = client.call(client.request(Method::GET, url)).await?;
    data.contents
        .into_iter()
        .find(|p| p.file_name == target)
        .ok_or_else(|| ClientError::NotFound(format!("no package named {target:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: i64, package_type: &str, file_name: &str) -> SoftwarePackageMeta {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": "x", "fileName": file_name, "extension": "rpm",
            "size": 2048, "sha1": "", "downloadUrl": "", "type": package_type,
            "version": "4.2.1.0", "buildNumber": "", "operatingSystem": "el7",
            "architecture": "x86_64", "deletable": true,
            "createTime": "2026-11-22T10:31:02.118+00:00"
        }))
        .unwrap()
    }

    #[test]
    fn columns_line_up_whatever_their_values() {
        let text = table(&[
            meta(7, "SCRIPT", "a.sh"),
            meta(1234567, "OB_BACKUP_AGENT_INSTALL_PACKAGE", "b.rpm"),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].find("el7"), lines[2].find("el7"));
        assert_eq!(lines[0].find("OS"), lines[2].find("el7"));
        let file_at = lines[0].find("FILE").unwrap();
        assert_eq!(lines[1].find("a.sh"), Some(file_at));
        assert_eq!(lines[2].find("b.rpm"), Some(file_at));
        let id_end = lines[0].find("ID").unwrap() + 2;
        assert_eq!(lines[1].find('7').map(|i| i + 1), Some(id_end));
        assert_eq!(lines[2].find("1234567").map(|i| i + 7), Some(id_end));
    }
}
