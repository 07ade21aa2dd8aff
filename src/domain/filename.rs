//! Rules for the file names packages are stored and downloaded under.
//!
//! One rule decides what depot stores (`check_stored_name`): agents paste
//! download names unquoted into shell commands, so a stored name is printable
//! ASCII from a short list (no white space, no shell metacharacters, no
//! look-alike letters from other scripts), does not begin like an option
//! (`-`) or a home directory (`~`), and has no `:` (which scp and rsync read
//! as `host:path`). A name a client sends (`check_client_name`) is held to
//! that rule too when it would be stored as sent (a script's), so that a
//! resumable upload is refused at creation, before its bytes are sent, for
//! what the final ingest would refuse it for.

pub const MAX_FILE_NAME_BYTES: usize = 255;

/// The characters a stored name may have besides ASCII letters and digits.
const PUNCTUATION: &[char] = &['.', '_', '-', '+', '~', '@', '%', ','];

/// Checks a file name a client sent. Returns why it is unsafe, if it is.
/// A script's name (`.sh`, `.py`) is the name it is stored under, so it must
/// also pass `check_stored_name`; other names are only ever kept for RPMs,
/// which are stored under the name their header gives (`x.rpm (1)` is fine).
pub fn check_client_name(name: &str) -> Result<(), String> {
    check_sane(name)?;
    if script_extension(name).is_some() {
        check_shell_safe(name)?;
    }
    Ok(())
}

/// Checks a name depot will store a package under: the client rules, and
/// shell-safe (see the module's description).
pub fn check_stored_name(name: &str) -> Result<(), String> {
    check_sane(name)?;
    check_shell_safe(name)
}

/// What no name may be: empty, too long, a path, with control characters, hidden.
fn check_sane(name: &str) -> Result<(), String> {
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

fn check_shell_safe(name: &str) -> Result<(), String> {
    if let Some(bad) = name.chars().find(|c| !c.is_ascii()) {
        return Err(format!(
            "the file name {name:?} contains the non-ASCII character {bad:?} (U+{:04X}); names are printable ASCII only, so that no letter can pass for another",
            u32::from(bad)
        ));
    }
    if name.starts_with('-') {
        return Err(format!(
            "the file name {name:?} begins with '-', which commands read as an option"
        ));
    }
    if name.starts_with('~') {
        return Err(format!(
            "the file name {name:?} begins with '~', which shells expand as a home directory"
        ));
    }
    if name.contains(':') {
        return Err(format!(
            "the file name {name:?} contains ':', which scp and rsync read as host:path"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || PUNCTUATION.contains(&c);
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "the file name {name:?} contains {bad:?}; use letters, digits and . _ - + ~ @ % , only"
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

    /// Each refusal says what is wrong with the name.
    fn refusal(name: &str) -> String {
        check_stored_name(name).expect_err(name)
    }

    #[test]
    fn names_that_read_as_options_or_homes_are_refused() {
        assert!(refusal("-rf.sh").contains("option"));
        assert!(refusal("--help.py").contains("option"));
        assert!(refusal("~root.sh").contains("home directory"));
        // In the middle they are ordinary characters.
        assert!(check_stored_name("a-b~c.sh").is_ok());
        assert!(check_stored_name("pkg-1.0-1~rc1.el7.x86_64.rpm").is_ok());
    }

    #[test]
    fn names_that_read_as_host_and_path_are_refused() {
        assert!(refusal("host:path.sh").contains("host:path"));
        // An RPM's epoch is not part of its stored name, but a forged header
        // could put one in the version.
        assert!(refusal("pkg-1:2.0-1.el7.x86_64.rpm").contains("host:path"));
    }

    #[test]
    fn only_ascii_so_that_no_letter_passes_for_another() {
        // Cyrillic а (U+0430) and Greek ο (U+03BF) look like Latin a and o.
        let message = refusal("inst\u{0430}ll.sh");
        assert!(message.contains("U+0430"), "{message}");
        assert!(refusal("dem\u{03bf}.py").contains("non-ASCII"));
        assert!(refusal("\u{5b89}\u{88c5}.sh").contains("non-ASCII"));
        // Full-width and other compatibility forms are refused alike.
        assert!(refusal("\u{ff41}.sh").contains("non-ASCII"));
    }

    #[test]
    fn client_names_are_held_to_the_stored_rule_when_stored_as_sent() {
        for bad in [
            "-rf.sh",
            "host:path.sh",
            "inst\u{0430}ll.sh",
            "a b.py",
            "~x.sh",
        ] {
            assert_eq!(
                check_client_name(bad),
                check_stored_name(bad),
                "a script's name is checked as it will be stored: {bad:?}"
            );
        }
        // An RPM is stored under its header's name, whatever it was sent as.
        for renamed in ["-x.rpm", "\u{5b89}\u{88c5}.rpm", "a:b.rpm (2)"] {
            assert!(check_client_name(renamed).is_ok(), "{renamed:?}");
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
