//! The list query of `GET /api/v2/software-packages`, parsed and validated
//! the way OCP (Spring) binds it.

use std::str::FromStr;

use super::classify::PackageType;

pub const DEFAULT_PAGE_SIZE: u64 = 10;
pub const MAX_PAGE_SIZE: u64 = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortField {
    Id,
    Name,
    FileName,
    Version,
    Type,
    OperatingSystem,
    Architecture,
    Size,
    CreateTime,
}

impl SortField {
    const NAMES: [(&'static str, SortField); 9] = [
        ("id", SortField::Id),
        ("name", SortField::Name),
        ("fileName", SortField::FileName),
        ("version", SortField::Version),
        ("type", SortField::Type),
        ("operatingSystem", SortField::OperatingSystem),
        ("architecture", SortField::Architecture),
        ("size", SortField::Size),
        ("createTime", SortField::CreateTime),
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub keyword: Option<String>,
    /// Exact file name (a depot extension, for `depot pull NAME`).
    pub file_name: Option<String>,
    pub types: Vec<PackageType>,
    pub versions: Vec<String>,
    pub operating_systems: Vec<String>,
    pub architectures: Vec<String>,
    /// 1-based.
    pub page: u64,
    pub size: u64,
    pub sort: Option<(SortField, Direction)>,
}

impl ListQuery {
    /// Parses a raw query string (`page=1&size=10&type=A&type=B&operatingSystem=alios,el7`).
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut q = ListQuery {
            keyword: None,
            file_name: None,
            types: Vec::new(),
            versions: Vec::new(),
            operating_systems: Vec::new(),
            architectures: Vec::new(),
            page: 1,
            size: DEFAULT_PAGE_SIZE,
            sort: None,
        };
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let values = || split_values(&value);
            match key.as_ref() {
                "keyword" => q.keyword = Some(value.trim().to_string()).filter(|k| !k.is_empty()),
                "fileName" => q.file_name = Some(value.trim().to_string()),
                "type" => {
                    for v in values() {
                        q.types.push(PackageType::from_str(&v)?);
                    }
                }
                "version" => q.versions.extend(values()),
                "operatingSystem" => q.operating_systems.extend(values()),
                "architecture" => q.architectures.extend(values()),
                "page" => {
                    q.page = parse_number("page", &value)?;
                    if q.page < 1 {
                        return Err("page starts at 1".into());
                    }
                }
                "size" => {
                    q.size = parse_number("size", &value)?;
                    if !(1..=MAX_PAGE_SIZE).contains(&q.size) {
                        return Err(format!(
                            "size must be between 1 and {MAX_PAGE_SIZE}, got {}",
                            q.size
                        ));
                    }
                }
                "sort" => q.sort = Some(parse_sort(&value)?),
                // Unknown parameters are ignored, as Spring does.
                _ => {}
            }
        }
        Ok(q)
    }

    /// Rows to skip; `None` when the page lies beyond anything a database can hold.
    pub fn offset(&self) -> Option<u64> {
        (self.page - 1)
            .checked_mul(self.size)
            .filter(|o| i64::try_from(*o).is_ok())
    }

    pub fn total_pages(&self, total: u64) -> u64 {
        total.div_ceil(self.size)
    }
}

/// One value of an array parameter, which Spring binds whether repeated
/// (`type=A&type=B`) or comma-separated (`type=A,B`).
pub fn split_values(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn parse_number(name: &str, value: &str) -> Result<u64, String> {
    let n: i64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{name} must be a whole number, got {value:?}"))?;
    u64::try_from(n).map_err(|_| format!("{name} must not be negative, got {n}"))
}

fn parse_sort(value: &str) -> Result<(SortField, Direction), String> {
    let (field, dir) = value.split_once(',').unwrap_or((value, "asc"));
    let field = SortField::NAMES
        .iter()
        .find(|(n, _)| *n == field.trim())
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            let names: Vec<_> = SortField::NAMES.iter().map(|(n, _)| *n).collect();
            format!(
                "cannot sort by {field:?}; sortable fields: {}",
                names.join(", ")
            )
        })?;
    let dir = match dir.trim().to_ascii_lowercase().as_str() {
        "asc" => Direction::Asc,
        "desc" => Direction::Desc,
        other => return Err(format!("sort direction must be asc or desc, got {other:?}")),
    };
    Ok((field, dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let q = ListQuery::parse("").unwrap();
        assert_eq!((q.page, q.size, q.sort), (1, 10, None));
        assert_eq!(q.offset(), Some(0));
    }

    #[test]
    fn arrays_repeated_or_comma_separated() {
        let q = ListQuery::parse(
            "type=OB_SERVER_INSTALL_PACKAGE&type=SCRIPT&operatingSystem=alios7,el7&architecture=x86_64&version=4.2.1",
        )
        .unwrap();
        assert_eq!(q.types, vec![PackageType::ObServer, PackageType::Script]);
        assert_eq!(q.operating_systems, vec!["alios7", "el7"]);
        assert_eq!(q.architectures, vec!["x86_64"]);
        assert_eq!(q.versions, vec!["4.2.1"]);
    }

    #[test]
    fn paging_bounds() {
        assert!(ListQuery::parse("size=2000").is_ok());
        for bad in [
            "size=2001",
            "size=0",
            "size=-1",
            "size=x",
            "page=0",
            "page=-2",
            "page=1.5",
        ] {
            assert!(ListQuery::parse(bad).is_err(), "{bad}");
        }
        let q = ListQuery::parse("page=3&size=20").unwrap();
        assert_eq!(q.offset(), Some(40));
        let far = ListQuery::parse("page=9223372036854775807&size=2000").unwrap();
        assert_eq!(far.offset(), None);
        assert_eq!(q.total_pages(41), 3);
        assert_eq!(q.total_pages(0), 0);
    }

    #[test]
    fn sorting() {
        let q = ListQuery::parse("sort=createTime,desc").unwrap();
        assert_eq!(q.sort, Some((SortField::CreateTime, Direction::Desc)));
        let q = ListQuery::parse("sort=name").unwrap();
        assert_eq!(q.sort, Some((SortField::Name, Direction::Asc)));
        assert!(ListQuery::parse("sort=password,asc").is_err());
        assert!(ListQuery::parse("sort=name,up").is_err());
    }

    #[test]
    fn unknown_type_lists_the_valid_ones() {
        let err = ListQuery::parse("type=RPM").unwrap_err();
        assert!(err.contains("OCP_AGENT_INSTALL_PACKAGE"), "{err}");
    }
}
