//! A region's S3 credentials from the environment instead of the database
//! (where `depot region add --secret-access-key` keeps them in plaintext):
//! `DEPOT_REGION_<NAME>_ACCESS_KEY_ID` with `DEPOT_REGION_<NAME>_SECRET_ACCESS_KEY`
//! or `…_SECRET_ACCESS_KEY_FILE` (a mounted secret), `<NAME>` being the
//! region's name in upper case with `-` as `_`. Every replica reads its own.

use super::Secret;

/// The environment variables' prefix for region `name`.
pub fn region_env_prefix(name: &str) -> String {
    format!(
        "DEPOT_REGION_{}_",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

/// Region `name`'s key pair from the environment, `None` when none is set
/// there; half a pair, or a secret file that cannot be read, is an error.
pub fn region_keys(name: &str) -> Result<Option<(String, Secret)>, String> {
    region_keys_from(
        name,
        |var| std::env::var(var).ok(),
        |path| std::fs::read_to_string(path).map_err(|e| e.to_string()),
    )
}

fn region_keys_from(
    name: &str,
    var: impl Fn(&str) -> Option<String>,
    read: impl Fn(&str) -> Result<String, String>,
) -> Result<Option<(String, Secret)>, String> {
    let prefix = region_env_prefix(name);
    let id_var = format!("{prefix}ACCESS_KEY_ID");
    let secret_var = format!("{prefix}SECRET_ACCESS_KEY");
    let file_var = format!("{secret_var}_FILE");
    let id = var(&id_var).filter(|v| !v.is_empty());
    let secret = match (var(&secret_var).filter(|v| !v.is_empty()), var(&file_var)) {
        (Some(_), Some(_)) => return Err(format!("set {secret_var} or {file_var}, not both")),
        (Some(secret), None) => Some(secret),
        (None, Some(path)) => {
            let secret = read(&path).map_err(|e| format!("reading {file_var} ({path}): {e}"))?;
            Some(secret.trim().to_string()).filter(|s| !s.is_empty())
        }
        (None, None) => None,
    };
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Some((id, Secret::new(secret)))),
        (None, None) => Ok(None),
        _ => Err(format!(
            "region {name:?}: set both {id_var} and {secret_var} (or {file_var}), or neither"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn keys(vars: &[(&str, &str)]) -> Result<Option<(String, String)>, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        region_keys_from(
            "sh-2",
            |k| vars.get(k).cloned(),
            |path| match path {
                "/run/secrets/sh" => Ok("from-file\n".into()),
                _ => Err("no such file".into()),
            },
        )
        .map(|k| k.map(|(id, secret)| (id, secret.expose().to_string())))
    }

    #[test]
    fn a_regions_keys_come_from_its_own_variables() {
        assert_eq!(region_env_prefix("sh-2"), "DEPOT_REGION_SH_2_");
        assert_eq!(keys(&[]), Ok(None));
        assert_eq!(
            keys(&[
                ("DEPOT_REGION_SH_2_ACCESS_KEY_ID", "GK1"),
                ("DEPOT_REGION_SH_2_SECRET_ACCESS_KEY", "s3cret"),
            ]),
            Ok(Some(("GK1".into(), "s3cret".into())))
        );
        assert_eq!(
            keys(&[
                ("DEPOT_REGION_SH_2_ACCESS_KEY_ID", "GK1"),
                (
                    "DEPOT_REGION_SH_2_SECRET_ACCESS_KEY_FILE",
                    "/run/secrets/sh"
                ),
            ]),
            Ok(Some(("GK1".into(), "from-file".into())))
        );
        // Another region's variables are not this one's.
        assert_eq!(keys(&[("DEPOT_REGION_SH_ACCESS_KEY_ID", "GK1")]), Ok(None));
    }

    #[test]
    fn half_a_pair_or_an_unreadable_file_is_refused() {
        assert!(keys(&[("DEPOT_REGION_SH_2_ACCESS_KEY_ID", "GK1")]).is_err());
        assert!(keys(&[("DEPOT_REGION_SH_2_SECRET_ACCESS_KEY", "s")]).is_err());
        let missing = keys(&[
            ("DEPOT_REGION_SH_2_ACCESS_KEY_ID", "GK1"),
            ("DEPOT_REGION_SH_2_SECRET_ACCESS_KEY_FILE", "/nope"),
        ]);
        assert!(missing.unwrap_err().contains("/nope"));
        let both = keys(&[
            ("DEPOT_REGION_SH_2_ACCESS_KEY_ID", "GK1"),
            ("DEPOT_REGION_SH_2_SECRET_ACCESS_KEY", "s"),
            (
                "DEPOT_REGION_SH_2_SECRET_ACCESS_KEY_FILE",
                "/run/secrets/sh",
            ),
        ]);
        assert!(both.is_err());
    }
}
