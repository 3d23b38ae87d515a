//! The caller's scope at the door: which rows a role reads, and guards on filter size.

use entity::Agency;
use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition};

use crate::error::{Error, Result};
use crate::policy::{Access, EntityKind, Rows};

/// How deeply `and`/`or`/`not` may nest in one filter.
pub(crate) const MAX_FILTER_DEPTH: usize = 6;
/// How many values one filter list may hold.
pub(crate) const MAX_FILTER_VALUES: usize = 200;

/// The refusal for a role that may not read rows of an entity. It says nothing about any row.
pub(crate) fn rows_forbidden(access: &Access, kind: EntityKind) -> Error {
    Error::Forbidden(format!(
        "role {} may not read {} rows; use the {}Stats aggregates if the policy allows them",
        access.role(),
        kind,
        kind
    ))
}

/// The condition selecting the rows of an owned entity the caller may read: all, its agency's own,
/// or (funding awards) those its agency implements. Errors with FORBIDDEN when the role reads no
/// rows at all.
pub(crate) fn owned_rows<C: ColumnTrait>(
    access: &Access,
    kind: EntityKind,
    owner: C,
    implementing: Option<C>,
) -> Result<Condition> {
    let agency = access.agency();
    let broad = match (access.rule(kind).rows, agency) {
        (Rows::All, _) => Condition::all(),
        (Rows::Own, Some(agency)) => return Ok(Condition::all().add(owner.eq(agency))),
        (Rows::Implementing, Some(agency)) => match implementing {
            Some(column) => Condition::all().add(column.eq(agency)),
            None => return Err(rows_forbidden(access, kind)),
        },
        _ => return Err(rows_forbidden(access, kind)),
    };
    if !access.needs_purpose(kind) {
        return Ok(broad);
    }
    // Without a stated purpose only the caller's own rows are read; the response says what was
    // withheld and why.
    access.withhold();
    match agency {
        Some(agency) => Ok(broad.add(owner.eq(agency))),
        None => Ok(nothing()),
    }
}

/// The agencies whose rows of an entity a read by the caller could reach: its own agency's when
/// its role reads only those (and no grant widens them), else every agency that can own one.
pub(crate) fn reachable_owners(access: &Access, kind: EntityKind) -> Vec<Agency> {
    match (access.rule(kind).rows, access.agency()) {
        (Rows::Own, Some(agency)) if access.grants_for(kind).next().is_none() => vec![agency],
        _ => kind.possible_owners().to_vec(),
    }
}

/// Checks a filter list's length.
pub(crate) fn check_list<T>(field: &str, values: &[T]) -> Result<()> {
    if values.len() > MAX_FILTER_VALUES {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_FILTER_VALUES} values"),
        ));
    }
    Ok(())
}

/// Checks how deeply a filter nests.
pub(crate) fn check_depth(depth: usize) -> Result<()> {
    if depth > MAX_FILTER_DEPTH {
        return Err(Error::invalid(
            "filter",
            format!("and/or/not nest at most {MAX_FILTER_DEPTH} levels deep"),
        ));
    }
    Ok(())
}

/// `column IN (subquery)` as a condition.
pub(crate) fn in_subquery<C: ColumnTrait>(column: C, subquery: SelectStatement) -> Condition {
    Condition::all().add(column.in_subquery(subquery))
}

/// A `SELECT column FROM entity WHERE condition` subquery.
pub(crate) fn select_column<E, C>(entity: E, column: C, condition: Condition) -> SelectStatement
where
    E: sea_orm::EntityTrait,
    C: ColumnTrait,
{
    Query::select()
        .column((entity, column))
        .from(entity)
        .cond_where(condition)
        .to_owned()
}

/// An always-false condition.
pub(crate) fn nothing() -> Condition {
    Condition::all().add(Expr::cust("1 = 0"))
}

/// The agency of the caller, for writes.
pub(crate) fn writer_agency(access: &Access, kind: EntityKind) -> Result<Agency> {
    match access.agency() {
        Some(agency) if access.can_write(kind) => Ok(agency),
        _ => Err(Error::Forbidden(format!(
            "role {} may not write {} records",
            access.role(),
            kind
        ))),
    }
}

/// Adds `column BETWEEN from AND to` (either end optional, both inclusive).
pub(crate) fn date_range<C: ColumnTrait>(
    c: Condition,
    column: C,
    range: Option<&super::filters::DateRange>,
) -> Condition {
    let Some(range) = range else { return c };
    let c = match range.from {
        Some(from) => c.add(column.gte(from.0)),
        None => c,
    };
    match range.to {
        Some(to) => c.add(column.lte(to.0)),
        None => c,
    }
}

/// Adds `min <= column <= max` (either end optional).
pub(crate) fn int_range<C: ColumnTrait>(
    c: Condition,
    column: C,
    range: Option<&super::filters::IntRange>,
) -> Condition {
    let Some(range) = range else { return c };
    let c = match range.min {
        Some(min) => c.add(column.gte(min)),
        None => c,
    };
    match range.max {
        Some(max) => c.add(column.lte(max)),
        None => c,
    }
}

/// Adds `column IN (values)` when the list is given.
pub(crate) fn one_of<C, V>(
    c: Condition,
    field: &str,
    column: C,
    values: Option<&[V]>,
) -> Result<Condition>
where
    C: ColumnTrait,
    V: Clone + Into<sea_orm::Value>,
{
    let Some(values) = values else { return Ok(c) };
    check_list(field, values)?;
    Ok(c.add(column.is_in(values.iter().cloned())))
}

/// Combines a filter's `and`, `or` and `not` parts with its own condition.
pub(crate) fn combine<F>(
    mut c: Condition,
    and: Option<&[F]>,
    or: Option<&[F]>,
    not: Option<&F>,
    depth: usize,
    recurse: impl Fn(&F, usize) -> Result<Condition>,
) -> Result<Condition> {
    if let Some(all) = and {
        check_list("and", all)?;
        for sub in all {
            c = c.add(recurse(sub, depth + 1)?);
        }
    }
    if let Some(any) = or {
        check_list("or", any)?;
        let mut alternatives = Condition::any();
        for sub in any {
            alternatives = alternatives.add(recurse(sub, depth + 1)?);
        }
        c = c.add(alternatives);
    }
    if let Some(not) = not {
        c = c.add(recurse(not, depth + 1)?.not());
    }
    Ok(c)
}

/// Widens the caller's row condition for an entity by the grants in force for its role: the rows
/// each grant's condition selects are readable too. Grants open other agencies' rows, so they
/// apply only with a stated purpose (without one they are withheld like any other agency's rows).
pub(crate) fn with_grants(
    access: &Access,
    kind: EntityKind,
    base: Result<Condition>,
) -> Result<Condition> {
    let mut grants = access.grants_for(kind).peekable();
    if grants.peek().is_none() {
        return base;
    }
    if access.purpose.is_none() {
        access.withhold();
        return base;
    }
    let mut granted = Condition::any();
    for grant in grants {
        granted = granted.add(grant.rows.clone().unwrap_or_else(Condition::all));
    }
    match base {
        Ok(own) => Ok(Condition::any().add(own).add(granted)),
        Err(_) => Ok(granted),
    }
}

/// Reads a filter input (TraceFilter, …) from JSON, with the API's own validation.
pub(crate) fn parse_filter<F: async_graphql::InputType>(json: &serde_json::Value) -> Result<F> {
    let value = async_graphql::Value::from_json(json.clone())
        .map_err(|e| Error::invalid("rowFilter", e.to_string()))?;
    let parsed = F::parse(Some(value)).map_err(|e| {
        Error::invalid("rowFilter", e.into_server_error(Default::default()).message)
    })?;
    // Parsing ignores keys the input type does not have; refuse them instead of ignoring a typo.
    let known = parsed.to_value().into_json().unwrap_or_default();
    if let Some(unknown) = unknown_key(json, &known) {
        return Err(Error::invalid(
            "rowFilter",
            format!("unknown filter field '{unknown}'"),
        ));
    }
    Ok(parsed)
}

/// The first key of `given` (recursively) that `known` does not have.
fn unknown_key(given: &serde_json::Value, known: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match (given, known) {
        (Value::Object(g), Value::Object(k)) => {
            g.iter().find_map(|(key, value)| match k.get(key) {
                None => Some(key.clone()),
                Some(inner) => unknown_key(value, inner),
            })
        }
        (Value::Array(g), Value::Array(k)) => g
            .iter()
            .zip(k)
            .find_map(|(value, inner)| unknown_key(value, inner)),
        _ => None,
    }
}
