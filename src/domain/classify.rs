//! Package types and the one table that infers a type from an RPM's name and
//! file list.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PackageType {
    ObServer,
    ObAgent,
    OcpAgent,
    Obproxy,
    ObBackupAgent,
    OthersRpm,
    Script,
}

impl PackageType {
    pub const ALL: [PackageType; 7] = [
        Self::ObServer,
        Self::ObAgent,
        Self::OcpAgent,
        Self::Obproxy,
        Self::ObBackupAgent,
        Self::OthersRpm,
        Self::Script,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ObServer => "OB_SERVER_INSTALL_PACKAGE",
            Self::ObAgent => "OB_AGENT_INSTALL_PACKAGE",
            Self::OcpAgent => "OCP_AGENT_INSTALL_PACKAGE",
            Self::Obproxy => "OBPROXY_INSTALL_PACKAGE",
            Self::ObBackupAgent => "OB_BACKUP_AGENT_INSTALL_PACKAGE",
            Self::OthersRpm => "OTHERS_RPM",
            Self::Script => "SCRIPT",
        }
    }

    pub fn valid_values() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for PackageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PackageType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown package type {s:?}; valid types: {}",
                    Self::valid_values()
                )
            })
    }
}

/// RPM names (after internal prefixes are removed) and the type they carry.
const BY_NAME: &[(&str, PackageType)] = &[
    ("oceanbase", PackageType::ObServer),
    ("oceanbase-libs", PackageType::ObServer),
    ("oceanbase-utils", PackageType::ObServer),
    ("oceanbase-ce", PackageType::ObServer),
    ("oceanbase-ce-libs", PackageType::ObServer),
    ("oceanbase-ce-utils", PackageType::ObServer),
    ("oceanbase-standalone", PackageType::ObServer),
    ("oceanbase-standalone-libs", PackageType::ObServer),
    ("oceanbase-standalone-utils", PackageType::ObServer),
    ("obproxy", PackageType::Obproxy),
    ("obproxy-ce", PackageType::Obproxy),
    ("ocp-agent", PackageType::OcpAgent),
    ("ocp-agent-ce", PackageType::OcpAgent),
    ("obagent", PackageType::ObAgent),
    ("ob-backup-agent", PackageType::ObBackupAgent),
    ("obbackup", PackageType::ObBackupAgent),
];

/// Internal builds carry these prefixes (`t-oceanbase-ocp-agent`, `t-obproxy`).
const INTERNAL_PREFIXES: &[&str] = &["t-oceanbase-", "t-"];

/// Infers the type of an RPM named `name` whose payload holds `files`.
/// The file list is consulted only when the name says nothing.
pub fn infer_rpm_type<'a>(name: &str, files: impl FnOnce() -> Vec<&'a str>) -> PackageType {
    let candidates = std::iter::once(name).chain(
        INTERNAL_PREFIXES
            .iter()
            .filter_map(|p| name.strip_prefix(p)),
    );
    for candidate in candidates {
        if let Some((_, t)) = BY_NAME.iter().find(|(n, _)| *n == candidate) {
            return *t;
        }
    }
    let files = files();
    if files.iter().any(|f| f.ends_with("/bin/observer")) {
        PackageType::ObServer
    } else if files.iter().any(|f| f.ends_with("/bin/obproxy")) {
        PackageType::Obproxy
    } else {
        PackageType::OthersRpm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_name(name: &str) -> PackageType {
        infer_rpm_type(name, Vec::new)
    }

    #[test]
    fn names_from_the_table() {
        assert_eq!(by_name("oceanbase-ce"), PackageType::ObServer);
        assert_eq!(by_name("oceanbase-standalone-utils"), PackageType::ObServer);
        assert_eq!(by_name("obproxy-ce"), PackageType::Obproxy);
        assert_eq!(by_name("ocp-agent-ce"), PackageType::OcpAgent);
        assert_eq!(by_name("obagent"), PackageType::ObAgent);
        assert_eq!(by_name("obbackup"), PackageType::ObBackupAgent);
        assert_eq!(by_name("ob-backup-agent"), PackageType::ObBackupAgent);
    }

    #[test]
    fn internal_prefixes_are_ignored() {
        assert_eq!(by_name("t-oceanbase-ocp-agent"), PackageType::OcpAgent);
        assert_eq!(by_name("t-oceanbase-ce"), PackageType::ObServer);
        assert_eq!(by_name("t-obproxy"), PackageType::Obproxy);
    }

    #[test]
    fn content_decides_when_the_name_does_not() {
        let observer = || vec!["/home/admin/oceanbase/bin/observer", "/etc/x"];
        assert_eq!(infer_rpm_type("my-db", observer), PackageType::ObServer);
        let proxy = || vec!["/opt/x/bin/obproxy"];
        assert_eq!(infer_rpm_type("my-proxy", proxy), PackageType::Obproxy);
        // Name wins over content.
        assert_eq!(infer_rpm_type("obagent", observer), PackageType::ObAgent);
        assert_eq!(
            infer_rpm_type("nginx", || vec!["/usr/sbin/nginx"]),
            PackageType::OthersRpm
        );
        // A file merely named like the binary elsewhere does not count.
        assert_eq!(
            infer_rpm_type("x", || vec!["/usr/share/observer.txt"]),
            PackageType::OthersRpm
        );
    }

    #[test]
    fn parse_round_trips_and_lists_valid_values() {
        for t in PackageType::ALL {
            assert_eq!(t.as_str().parse::<PackageType>().unwrap(), t);
        }
        let err = "RPM".parse::<PackageType>().unwrap_err();
        assert!(
            err.contains("OTHERS_RPM") && err.contains("SCRIPT"),
            "{err}"
        );
    }
}
