//! Completing values as the GraphQL specification says ("Handling field errors"), which
//! async-graphql 7 does not: it drops the key of a field that failed, turns an object into `null`
//! when all its fields failed, and never propagates a `null` out of a non-null position.
//!
//! This extension wraps every position of the response (each field, and each item of a list): a
//! position whose resolver failed answers `null` and its error is kept (with its path) for the
//! response, so its key is always present. A `null` in a non-null position is marked, and the
//! position that holds it (the parent object, or the list holding the item) answers `null` in
//! turn when it completes, up to the nearest nullable position; a mark left at the root makes
//! `data` itself `null` (`take_root`).

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{PathSegment, ServerError, ServerResult, Value};

use super::context::RequestContext;

/// The extension that completes every position of the response.
pub(crate) struct Completion;

impl ExtensionFactory for Completion {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Completion)
    }
}

/// What the request's positions left behind while executing: their errors, and the paths of the
/// non-null positions that answered `null` and wait for their parent to become `null`.
#[derive(Debug, Default, Clone)]
pub(crate) struct FieldErrors(Arc<Mutex<State>>);

#[derive(Debug, Default)]
struct State {
    errors: Vec<ServerError>,
    nulls: Vec<Vec<PathSegment>>,
}

impl FieldErrors {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another resolver panicked; the state is still usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the error of a position, which answers `null`.
    pub(crate) fn push(&self, error: ServerError) {
        self.state().errors.push(error);
    }

    /// The errors recorded so far, leaving none behind.
    pub(crate) fn take(&self) -> Vec<ServerError> {
        std::mem::take(&mut self.state().errors)
    }

    fn any_null(&self) -> bool {
        !self.state().nulls.is_empty()
    }

    fn mark_null(&self, path: Vec<PathSegment>) {
        self.state().nulls.push(path);
    }

    /// Whether a non-null child of the position at `parent` answered `null` (which makes the
    /// position `null`); the marks are consumed.
    fn take_children_of(&self, parent: &[PathSegment]) -> bool {
        let mut state = self.state();
        let before = state.nulls.len();
        state
            .nulls
            .retain(|p| !(p.len() == parent.len() + 1 && p.starts_with(parent)));
        state.nulls.len() != before
    }

    /// Whether a non-null root field answered `null`, which makes `data` itself `null`.
    pub(crate) fn take_root(&self) -> bool {
        self.take_children_of(&[])
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Completion {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let Some(request) = ctx.data_opt::<RequestContext>() else {
            return next.run(ctx, info).await;
        };
        let fields = &request.field_errors;
        let node = info.path_node;
        let non_null = info.return_type.ends_with('!');
        let mut value = match next.run(ctx, info).await {
            Ok(value) => value.unwrap_or(Value::Null),
            Err(mut error) => {
                if error.path.is_empty() {
                    error.path = path_of(node);
                }
                fields.push(error);
                Value::Null
            }
        };
        let mut here = None;
        if fields.any_null() {
            let at = path_of(node);
            if fields.take_children_of(&at) {
                value = Value::Null;
            }
            here = Some(at);
        }
        if value == Value::Null && non_null {
            fields.mark_null(here.unwrap_or_else(|| path_of(node)));
        }
        Ok(Some(value))
    }
}

/// The response path of the position being resolved.
pub(crate) fn path(info: &ResolveInfo<'_>) -> Vec<PathSegment> {
    path_of(info.path_node)
}

fn path_of(node: &async_graphql::QueryPathNode<'_>) -> Vec<PathSegment> {
    let mut segments = Vec::new();
    let mut node = Some(node);
    while let Some(n) = node {
        segments.push(match n.segment {
            async_graphql::QueryPathSegment::Index(i) => PathSegment::Index(i),
            async_graphql::QueryPathSegment::Name(name) => PathSegment::Field(name.to_owned()),
        });
        node = n.parent;
    }
    segments.reverse();
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(segments: &[&str]) -> Vec<PathSegment> {
        segments
            .iter()
            .map(|s| match s.parse() {
                Ok(i) => PathSegment::Index(i),
                Err(_) => PathSegment::Field((*s).to_owned()),
            })
            .collect()
    }

    #[test]
    fn a_null_mark_is_taken_by_its_parent_only() {
        let fields = FieldErrors::default();
        fields.mark_null(p(&["traces", "nodes", "0", "id"]));
        assert!(!fields.take_children_of(&p(&["traces", "nodes"])));
        assert!(!fields.take_children_of(&p(&["traces", "nodes", "1"])));
        assert!(fields.take_children_of(&p(&["traces", "nodes", "0"])));
        assert!(!fields.any_null());
        fields.mark_null(p(&["me"]));
        assert!(fields.take_root());
    }
}
