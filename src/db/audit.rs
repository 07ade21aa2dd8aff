use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

/// Writes an event; its id.
pub async fn insert(
    db: &(impl ConnectionTrait + TransactionTrait),
    event: audit_event::Model,
) -> Result<i64, DbErr> {
    let mut row = audit_event::ActiveModel::from(event);
    row.id = sea_orm::ActiveValue::NotSet;
    Ok(super::insert_committed(db, row).await?.id)
}

/// Adds `more` requests, the last at `last_at`, to an aggregated event.
pub async fn add_repeats(
    db: &impl ConnectionTrait,
    id: i64,
    more: i64,
    last_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    audit_event::Entity::update_many()
        .col_expr(
            audit_event::Column::Count,
            Expr::col(audit_event::Column::Count).add(more),
        )
        .col_expr(audit_event::Column::LastAt, Expr::value(last_at))
        .filter(audit_event::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// What `list` filters by; `None` matches anything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// One page (1-based) of events, newest first, and the total.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &Filter,
    page: u64,
    size: u64,
) -> Result<(Vec<audit_event::Model>, u64), DbErr> {
    let mut query = audit_event::Entity::find();
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_event::Column::Actor.eq(actor.as_str()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_event::Column::Action.eq(action.as_str()));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_event::Column::At.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_event::Column::At.lt(until));
    }
    let paginator = query
        .order_by_desc(audit_event::Column::At)
        .order_by_desc(audit_event::Column::Id)
        .paginate(db, size);
    let total = paginator.num_items().await?;
    // A page past the end, however far (its offset may not even fit the
    // database's integers), is empty.
    let past_end = page
        .saturating_sub(1)
        .checked_mul(size)
        .is_none_or(|offset| offset >= total);
    if past_end {
        return Ok((Vec::new(), total));
    }
    let rows = paginator.fetch_page(page.saturating_sub(1)).await?;
    Ok((rows, total))
}
