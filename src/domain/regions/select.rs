//! Which region answers a download (pure): the one the request names, else
//! the one whose client CIDRs hold the client's address, else the replica's
//! own, else home; and of those only one where the blob is present,
//! otherwise one where it is.

use std::net::IpAddr;

use crate::config::Cidr;

/// What a region is, for choosing.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub name: String,
    pub home: bool,
    pub cidrs: Vec<Cidr>,
    /// Its store failed recently: chosen only when no other has the blob.
    pub down: bool,
}

/// What the request says about where its client is.
#[derive(Clone, Debug, Default)]
pub struct Hint {
    /// `X-Depot-Region` or `?region=`.
    pub explicit: Option<String>,
    /// The client's address (behind trusted proxies, `X-Forwarded-For`'s).
    pub client: Option<IpAddr>,
}

/// Why a region was preferred, as metrics and logs say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Explicit,
    Address,
    Replica,
    Home,
}

/// The region a request would rather be served from, and why.
pub fn preferred<'a>(
    regions: &'a [Candidate],
    hint: &Hint,
    own: Option<&str>,
) -> Option<(&'a Candidate, Reason)> {
    let named = |name: &str| regions.iter().find(|r| r.name == name);
    if let Some(region) = hint.explicit.as_deref().and_then(named) {
        return Some((region, Reason::Explicit));
    }
    if let Some(ip) = hint.client {
        // The most specific network wins: 10.20.0.0/16 over 10.0.0.0/8.
        let by_address = regions
            .iter()
            .filter_map(|r| {
                r.cidrs
                    .iter()
                    .filter(|c| c.contains(ip))
                    .map(|c| c.prefix())
                    .max()
                    .map(|p| (p, r))
            })
            .max_by_key(|(p, _)| *p);
        if let Some((_, region)) = by_address {
            return Some((region, Reason::Address));
        }
    }
    if let Some(region) = own.and_then(named) {
        return Some((region, Reason::Replica));
    }
    regions.iter().find(|r| r.home).map(|r| (r, Reason::Home))
}

/// The region to serve from: `preferred` if the blob is present there,
/// else (a replication lag) home if it has it, else any that has it; a
/// region known to be down only when no other has the blob. `None` when
/// no region has it: the replica's own store answers.
pub fn serving<'a>(
    regions: &'a [Candidate],
    preferred: Option<&'a Candidate>,
    present: &[String],
) -> Option<&'a Candidate> {
    let has = |r: &&Candidate| present.contains(&r.name);
    let up = |r: &&Candidate| !r.down;
    preferred
        .filter(has)
        .filter(up)
        .or_else(|| regions.iter().filter(has).filter(up).find(|r| r.home))
        .or_else(|| regions.iter().filter(has).find(up))
        .or_else(|| preferred.filter(has))
        .or_else(|| regions.iter().find(has))
}

/// A region name: 1–63 of `a-z`, `0-9`, `-`, `_`, starting with a letter or digit.
pub fn valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// Client networks a region names at most: every download is matched
/// against all of them.
pub const MAX_CIDRS: usize = 64;

/// Client networks from `10.0.0.0/8,192.168.1.0/24`, at most [`MAX_CIDRS`].
pub fn parse_cidrs(text: &str) -> Result<Vec<Cidr>, String> {
    let cidrs: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(MAX_CIDRS + 1)
        .collect();
    if cidrs.len() > MAX_CIDRS {
        return Err(format!(
            "a region serves at most {MAX_CIDRS} client networks"
        ));
    }
    cidrs
        .into_iter()
        .map(|s| s.parse::<Cidr>().map_err(|e| format!("{s:?}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(name: &str, home: bool, cidrs: &str) -> Candidate {
        Candidate {
            name: name.into(),
            home,
            cidrs: parse_cidrs(cidrs).unwrap(),
            down: false,
        }
    }

    fn regions() -> Vec<Candidate> {
        vec![
            region("hz", true, ""),
            region("sh", false, "10.20.0.0/16,127.0.0.2/32"),
            region("bj", false, "10.0.0.0/8"),
        ]
    }

    fn pick(hint: Hint, own: Option<&str>) -> (String, Reason) {
        let regions = regions();
        let (r, why) = preferred(&regions, &hint, own).unwrap();
        (r.name.clone(), why)
    }

    #[test]
    fn the_request_then_the_address_then_the_replica_then_home() {
        let ip = |s: &str| Some(s.parse().unwrap());
        let explicit = Hint {
            explicit: Some("bj".into()),
            client: ip("10.20.1.1"),
        };
        assert_eq!(pick(explicit, None), ("bj".into(), Reason::Explicit));
        let by_address = Hint {
            explicit: Some("nowhere".into()),
            client: ip("10.20.1.1"),
        };
        assert_eq!(pick(by_address, Some("hz")), ("sh".into(), Reason::Address));
        let wider = Hint {
            client: ip("10.30.1.1"),
            ..Hint::default()
        };
        assert_eq!(pick(wider, None), ("bj".into(), Reason::Address));
        let loopback = Hint {
            client: ip("127.0.0.2"),
            ..Hint::default()
        };
        assert_eq!(pick(loopback, None), ("sh".into(), Reason::Address));
        let unknown = Hint {
            client: ip("192.0.2.1"),
            ..Hint::default()
        };
        assert_eq!(
            pick(unknown.clone(), Some("bj")),
            ("bj".into(), Reason::Replica)
        );
        assert_eq!(pick(unknown, None), ("hz".into(), Reason::Home));
        assert!(preferred(&[], &Hint::default(), Some("x")).is_none());
    }

    #[test]
    fn only_where_the_blob_is() {
        let mut regions = regions();
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let serve = |regions: &[Candidate], want: usize, present: &[&str]| {
            serving(regions, Some(&regions[want]), &names(present)).map(|r| r.name.clone())
        };
        assert_eq!(serve(&regions, 1, &["hz", "sh"]), Some("sh".into()));
        // Not replicated to sh yet: home has it.
        assert_eq!(serve(&regions, 1, &["hz"]), Some("hz".into()));
        assert_eq!(serve(&regions, 1, &["bj"]), Some("bj".into()));
        assert_eq!(serve(&regions, 1, &[]), None);
        // sh's store is down: another that has it.
        regions[1].down = true;
        assert_eq!(serve(&regions, 1, &["hz", "sh"]), Some("hz".into()));
        assert_eq!(serve(&regions, 1, &["sh"]), Some("sh".into()));
    }

    #[test]
    fn names_and_networks() {
        assert!(valid_name("cn-hangzhou"));
        assert!(!valid_name(""));
        assert!(!valid_name("-a"));
        assert!(!valid_name("Hz"));
        assert!(!valid_name(&"a".repeat(64)));
        assert_eq!(parse_cidrs(" 10.0.0.0/8, ,::1/128").unwrap().len(), 2);
        assert!(parse_cidrs("10.0.0.0/33").is_err());
    }

    #[test]
    fn a_region_names_a_bounded_number_of_networks() {
        let most: Vec<String> = (0..MAX_CIDRS).map(|i| format!("10.{i}.0.0/16")).collect();
        assert_eq!(parse_cidrs(&most.join(",")).unwrap().len(), MAX_CIDRS);
        let more = format!("{},10.200.0.0/16", most.join(","));
        assert!(parse_cidrs(&more).unwrap_err().contains("at most 64"));
    }
}
