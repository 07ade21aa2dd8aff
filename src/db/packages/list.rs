//! The list query of `GET /api/v2/software-packages`: one page of packages
//! and the number of all that match.
//!
//! Counting the matching rows costs a visit of each (tens of thousands at a
//! million packages, BENCHMARKS.md), so the total comes from
//! `package_counts` where it can: the number of packages of each type, name,
//! operating system and architecture, kept by triggers in the transaction
//! that inserts or deletes the package. A filter on version or file name,
//! which that table does not hold, counts the rows themselves.

use entity::package;
use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait, Func, IntoCondition, LikeExpr, Query, SelectStatement,
    SimpleExpr,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, Select,
};

use super::os_family;
use crate::domain::query::{Direction, ListQuery, SortField};

/// Matches up to this many are fetched through the index on `name` and
/// sorted; more, and the sort's index is walked until the page is full.
const FETCH_BY_NAME: u64 = 2000;

/// The column that carries a one-statement page's total.
const TOTAL: &str = "depot_total";

pub async fn list(
    db: &impl ConnectionTrait,
    q: &ListQuery,
) -> Result<(Vec<package::Model>, u64), DbErr> {
    // Without a keyword a page's shape does not hang on its total, so one
    // statement carries both, the total as a scalar subquery: a round trip
    // and a pool release (sqlx pings the connection) fewer per page.
    if q.keyword.is_none()
        && let (Some(sum), Some(offset)) = (summed(q), q.offset())
    {
        let rows = page(q, false, false, offset)
            .expr_as(Expr::from(sum), TOTAL)
            .into_model::<Counted>()
            .all(db)
            .await?;
        if let Some(total) = rows.first().map(|r| r.total) {
            let total = u64::try_from(total).unwrap_or(0);
            return Ok((rows.into_iter().map(|r| r.package).collect(), total));
        }
        // Past the end, or nothing matches: the total on its own, below.
    }
    let total = match summed(q) {
        Some(sum) => {
            let row = db.query_one(&sum).await?;
            let n: i64 = row.map_or(Ok(0), |r| r.try_get_by_index(0))?;
            u64::try_from(n).unwrap_or(0)
        }
        None => filtered(q).count(db).await?,
    };
    let Some(offset) = q.offset().filter(|o| *o < total) else {
        // Past the end: nothing to fetch, but the totals still answer.
        return Ok((Vec::new(), total));
    };
    // A keyword's matches may be five packages or half of them, which no
    // planner can tell from the names: the total can. Few are fetched by name
    // and sorted (the order hidden from the sort's index); many are found by
    // walking the sort's index (on SQLite, which has no statistics, the
    // index on name hidden). Each shape is its own statement, so a plan
    // PostgreSQL caches for one never serves the other.
    let by_name = q.keyword.is_some() && total <= FETCH_BY_NAME;
    let sqlite = db.get_database_backend() == DbBackend::Sqlite;
    let hide_name_index = q.keyword.is_some() && !by_name && sqlite;
    let rows = page(q, by_name, hide_name_index, offset).all(db).await?;
    Ok((rows, total))
}

/// A package and its page's total, from a one-statement page.
struct Counted {
    package: package::Model,
    total: i64,
}

impl FromQueryResult for Counted {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            package: package::Model::from_query_result(row, pre)?,
            total: row.try_get(pre, TOTAL)?,
        })
    }
}

/// One page of `q`, in its order: by the sort's column (`by_name`: hidden
/// from its index), ties by id.
fn page(
    q: &ListQuery,
    by_name: bool,
    hide_name_index: bool,
    offset: u64,
) -> Select<package::Entity> {
    let mut select = filtered_for(q, hide_name_index);
    let order = |col: package::Column| -> SimpleExpr {
        if by_name {
            Func::coalesce([Expr::col(col), Expr::col(col)]).into()
        } else {
            Expr::col(col)
        }
    };
    // Ties in id order, so that pages never overlap, and in the sort's
    // direction, so that one index (column, id) read either way serves it.
    let mut ties = Order::Asc;
    if let Some((field, direction)) = q.sort {
        if direction == Direction::Desc {
            ties = Order::Desc;
        }
        select = select.order_by(order(sort_column(field)), ties.clone());
    }
    select
        .order_by(order(package::Column::Id), ties)
        .offset(offset)
        .limit(q.size)
}

/// The packages `q` selects, unordered and unpaged (public for the test
/// that reads PostgreSQL's plan of it).
pub fn filtered(q: &ListQuery) -> Select<package::Entity> {
    filtered_for(q, false)
}

/// `hide_name_index`: SQLite's `+name`, which no index serves.
fn filtered_for(q: &ListQuery, hide_name_index: bool) -> Select<package::Entity> {
    let mut select =
        package::Entity::find().filter(summarised_filters(q, "packages", hide_name_index));
    if let Some(file_name) = &q.file_name {
        select = select.filter(package::Column::FileName.eq(file_name.as_str()));
    }
    if !q.versions.is_empty() {
        select = select.filter(package::Column::Version.is_in(q.versions.clone()));
    }
    select
}

/// The total of `q` from `package_counts`, when it holds every column `q`
/// filters on.
fn summed(q: &ListQuery) -> Option<SelectStatement> {
    if q.file_name.is_some() || !q.versions.is_empty() {
        return None;
    }
    // SUM of a bigint is a numeric on PostgreSQL.
    let total = Expr::cust("CAST(COALESCE(SUM(package_counts.n), 0) AS BIGINT)");
    Some(
        Query::select()
            .expr(total)
            .from(Alias::new("package_counts"))
            .cond_where(summarised_filters(q, "package_counts", false))
            .to_owned(),
    )
}

/// The filters on the columns `packages` and `package_counts` share.
fn summarised_filters(q: &ListQuery, table: &'static str, hide_name_index: bool) -> Condition {
    let col = |name: &'static str| Expr::col((Alias::new(table), Alias::new(name)));
    let mut all = Condition::all();
    if let Some(keyword) = &q.keyword {
        let name = if hide_name_index {
            // SQLite's placeholder is `?` (this shape is SQLite's only).
            Expr::cust_with_expr("+?", col("name"))
        } else {
            col("name")
        };
        all = all.add(name.in_subquery(names_matching(keyword)));
    }
    if !q.types.is_empty() {
        all = all.add(col("type").is_in(q.types.iter().map(|t| t.as_str())));
    }
    if !q.operating_systems.is_empty() {
        // `el7` matches el7 only; `el` matches el7, el8, … (OCP's own example filters by `alios`).
        let families: Vec<&String> = q
            .operating_systems
            .iter()
            .filter(|os| os_family(os) == os.as_str())
            .collect();
        all = all.add(
            Condition::any()
                .add(col("operating_system").is_in(q.operating_systems.clone()))
                .add(col("os_family").is_in(families)),
        );
    }
    if !q.architectures.is_empty() {
        all = all.add(col("architecture").is_in(q.architectures.clone()));
    }
    all.into_condition()
}

/// The names whose lowercased form holds `keyword`, from `package_names`
/// (every name a package has, kept by triggers; see its migration): few rows,
/// trigram-indexed on PostgreSQL, where `packages` would be scanned.
fn names_matching(keyword: &str) -> SelectStatement {
    let pattern = format!("%{}%", escape_like(&keyword.to_lowercase()));
    let name = (Alias::new("package_names"), Alias::new("name"));
    Query::select()
        .column(name.clone())
        .from(Alias::new("package_names"))
        .and_where(
            Expr::expr(Func::lower(Expr::col(name))).like(LikeExpr::new(pattern).escape('\\')),
        )
        .to_owned()
}

fn sort_column(field: SortField) -> package::Column {
    match field {
        SortField::Id => package::Column::Id,
        SortField::Name => package::Column::Name,
        SortField::FileName => package::Column::FileName,
        SortField::Version => package::Column::Version,
        SortField::Type => package::Column::Type,
        SortField::OperatingSystem => package::Column::OperatingSystem,
        SortField::Architecture => package::Column::Architecture,
        SortField::Size => package::Column::Size,
        SortField::CreateTime => package::Column::CreatedAt,
    }
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use sea_orm::QueryTrait;

    #[test]
    fn sqlite_hides_the_name_index() {
        let q = crate::domain::query::ListQuery::parse("keyword=bulk").unwrap();
        let sql = super::filtered_for(&q, true)
            .build(sea_orm::DbBackend::Sqlite)
            .to_string();
        assert!(
            sql.contains(r#"WHERE (+"packages"."name") IN (SELECT"#),
            "{sql}"
        );
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(super::escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
