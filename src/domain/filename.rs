//! Rules for the file names packages are stored and downloaded under.

pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Checks a file name a client sent. Returns why it is unsafe, if it is.
pub fn check_client_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the file name is empty".into());
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        return Err(format!(
            "the file name is {} bytes long; at most {MAX_FILE_NAME_BYTES} are allowed",
            name.len()
        ));
    }
    if name.contains(['/', '\\']) {
        return Err(format!("the file name {name:?} contains a path separator"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "the file name {name:?} contains a control character"
        ));
    }
    if name.starts_with('.') {
        return Err(format!("the file name {name:?} starts with a dot"));
    }
    Ok(())
}

/// Checks a name depot will store a package under. Agents paste the download
/// name unquoted into shell commands, so beyond the client rules it must not
/// contain white space or shell metacharacters.
pub fn check_stored_name(name: &str) -> Result<(), String> {
    check_client_name(name)?;
    let allowed = |c: char| {
        c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '~' | '@' | '%' | ',' | ':')
    };
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "the file name {name:?} contains {bad:?}; use letters, digits and . _ - + ~ @ % , : only"
        ));
    }
    Ok(())
}

/// The script kinds depot accepts, by extension.
pub fn script_extension(name: &str) -> Option<&'static str> {
    if name.ends_with(".sh") {
        Some("sh")
    } else if name.ends_with(".py") {
        Some("py")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unsafe_client_names() {
        for bad in [
            "",
            "a/b.sh",
            "a\\b.sh",
            ".hidden.sh",
            "a\nb.sh",
            "x\u{7f}.sh",
        ] {
            assert!(check_client_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_client_name(&"a".repeat(256)).is_err());
        assert!(check_client_name(&"a".repeat(255)).is_ok());
        // Browser-renamed RPMs are fine as client names: depot renames them.
        assert!(check_client_name("x.rpm (1)").is_ok());
    }

    #[test]
    fn stored_names_are_shell_safe() {
        assert!(check_stored_name("install-agent_v2.sh").is_ok());
        assert!(
            check_stored_name("oceanbase-ce-4.2.1.0-100000102023092807.el7.x86_64.rpm").is_ok()
        );
        for bad in ["x.sh (1)", "a;b.sh", "$(x).sh", "a b.py", "a'b.sh"] {
            assert!(check_stored_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn script_extensions() {
        assert_eq!(script_extension("a.sh"), Some("sh"));
        assert_eq!(script_extension("a.py"), Some("py"));
        assert_eq!(script_extension("a.rpm"), None);
        assert_eq!(script_extension("sh"), None);
    }
}
