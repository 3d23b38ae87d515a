//! Arguments every resolver reads the same way: row ids and a connection's page arguments.

use async_graphql::ID;
use async_graphql::connection::OpaqueCursor;

use super::errors::ResultExt;
use crate::error::Error;
use crate::store::page::{KeyValue, PageArgs};

/// The cursor of a connection: the sort key values of its row, opaque to clients.
pub(crate) type Cursor = OpaqueCursor<Vec<KeyValue>>;

/// Parses an `ID` argument into a row id.
pub(crate) fn row_id(id: &ID) -> async_graphql::Result<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| Error::invalid("id", "is not an id this server issued"))
        .gql()
}

/// Reads the page arguments of a connection field.
pub(crate) fn page_args(
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<PageArgs> {
    use async_graphql::connection::CursorType;
    let after = match after {
        Some(text) => Some(
            Cursor::decode_cursor(&text)
                .map_err(|_| {
                    async_graphql::ErrorExtensions::extend(&crate::error::Error::invalid(
                        "after",
                        "is not a cursor this server issued",
                    ))
                })?
                .0,
        ),
        None => None,
    };
    Ok(PageArgs {
        first,
        after,
        without_total: false,
    })
}

/// Reads the page arguments of a root connection field, which counts its rows only when the
/// selection asks for `totalCount`.
pub(crate) fn root_page_args(
    ctx: &async_graphql::Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<PageArgs> {
    let mut args = page_args(first, after)?;
    args.without_total = !ctx.look_ahead().field("totalCount").exists();
    Ok(args)
}
