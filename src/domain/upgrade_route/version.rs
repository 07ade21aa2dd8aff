//! Versions as the dependency YAML spells them: `A.B.C.D` or `A.B.C.D-BUILD`.

use std::fmt;
use std::str::FromStr;

/// An OceanBase version: four numbers (three in OceanBase 3.x files, whose
/// header says "A.B.C") and an optional build number, the numeric RPM release
/// such as `100000192023032010`.
///
/// Ordered by the numbers, then by build, a version without a build first.
/// As a graph node, `A.B.C.D` stands for every build of that version and
/// `A.B.C.D-BUILD` for builds at or above BUILD (see [`Version::matches`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    numbers: [u32; 4],
    len: u8,
    build: Option<u64>,
}

/// Why a version string was refused; the message quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {input:?}: {reason}")]
pub struct VersionError {
    pub input: String,
    pub reason: &'static str,
}

impl Version {
    /// Parses `A.B.C.D`, `A.B.C.D-BUILD` (or the three-number forms).
    /// Surrounding white space is ignored; anything else is refused rather
    /// than guessed at, since a misread version silently changes the route.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let fail = |reason| VersionError {
            input: text.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        let (numbers_text, build_text) = match trimmed.split_once('-') {
            Some((numbers, build)) => (numbers, Some(build)),
            None => (trimmed, None),
        };
        let mut numbers = [0u32; 4];
        let mut len = 0usize;
        for part in numbers_text.split('.') {
            if len == numbers.len() {
                return Err(fail("expected A.B.C.D or A.B.C.D-BUILD (too many numbers)"));
            }
            numbers[len] = digits(part).ok_or(fail(
                "expected A.B.C.D or A.B.C.D-BUILD with decimal numbers",
            ))?;
            len += 1;
        }
        if len < 3 {
            return Err(fail("expected A.B.C.D or A.B.C.D-BUILD (too few numbers)"));
        }
        let build = match build_text {
            Some(b) => Some(digits(b).ok_or(fail("the build after '-' must be a decimal number"))?),
            None => None,
        };
        Ok(Version {
            numbers,
            len: len as u8,
            build,
        })
    }

    /// The dotted numbers, without the build.
    pub fn numbers(&self) -> &[u32] {
        &self.numbers[..usize::from(self.len)]
    }

    /// The build number after `-`, if any.
    pub fn build(&self) -> Option<u64> {
        self.build
    }

    /// The same version with its build removed.
    pub fn without_build(&self) -> Version {
        Version {
            build: None,
            ..*self
        }
    }

    /// Whether `self`, read as a graph node (or a `when_come_from` entry),
    /// covers the concrete version `concrete`: the numbers must be equal; a
    /// node without a build covers every build, a node with one covers only
    /// builds at or above it (so a concrete version without a build matches
    /// only build-less nodes: its build is unknown).
    pub fn matches(&self, concrete: &Version) -> bool {
        if self.numbers() != concrete.numbers() {
            return false;
        }
        match (self.build, concrete.build) {
            (None, _) => true,
            (Some(min), Some(build)) => build >= min,
            (Some(_), None) => false,
        }
    }
}

/// Strict decimal digits: `u32::from_str` would also take a leading `+`.
fn digits<T: FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Version::parse(text)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.numbers().iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{n}")?;
        }
        if let Some(build) = self.build {
            write!(f, "-{build}")?;
        }
        Ok(())
    }
}

/// Shown as the version text, which is what a failing test needs to read.
impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({self})")
    }
}

/// Serialised as its text (`"4.1.0.0-100000192023032010"`), as the YAML and
/// obshell spell it.
impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
