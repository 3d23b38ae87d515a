//! Completing values as the GraphQL specification says ("Handling field errors"), which
//! async-graphql 7 does not: it drops the key of a field that failed, turns an object into `null`
//! when all its fields failed, and never propagates a `null` out of a non-null position.
//!
//! This extension wraps every position of the response (each field, and each item of a list): a
//! position whose resolver failed answers `null` and its error is kept (with its path) for the
//! response, so its key is always present. A `null` in a non-null position is marked, and the
//! position that holds it (the parent object, or the list holding the item) answers `null` in
//! turn when it completes, up to the nearest nullable position; a mark left at the root makes
//! `data` itself `null`.
//!
//! async-graphql also resolves the fields of an object concurrently and writes them in the order
//! they finish; each object is written back in the order of its selection set, as the
//! specification orders response keys.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextResolve,
    ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, PathSegment, Response, ServerError, ServerResult, Value, Variables};

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
    /// The document being executed and its variables, for the order of response keys.
    document: Option<Arc<(ExecutableDocument, Variables)>>,
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

    /// Whether a non-null root field has answered `null`, so far.
    fn root_is_null(&self) -> bool {
        self.state().nulls.iter().any(|p| p.len() == 1)
    }

    /// Whether a non-null root field answered `null`, which makes `data` itself `null`.
    fn take_root(&self) -> bool {
        self.take_children_of(&[])
    }

    fn document(&self) -> Option<Arc<(ExecutableDocument, Variables)>> {
        self.state().document.clone()
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Completion {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if let Some(request) = ctx.data_opt::<RequestContext>() {
            request.field_errors.state().document =
                Some(Arc::new((document.clone(), variables.clone())));
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let Some(request) = ctx.data_opt::<RequestContext>() else {
            return response;
        };
        let fields = &request.field_errors;
        response.errors.extend(fields.take());
        if fields.take_root() {
            // A non-null root field answered `null`: the specification makes `data` itself null.
            response.data = Value::Null;
        } else if let Some(document) = fields.document() {
            let (document, variables) = &*document;
            let operation = document
                .operations
                .iter()
                .find(|(name, _)| {
                    operation_name.is_none() || name.map(|n| n.as_str()) == operation_name
                })
                .map(|(_, operation)| operation);
            if let Some(operation) = operation {
                in_selection_order(
                    &mut response.data,
                    &operation.node.selection_set.node,
                    document,
                    variables,
                );
            }
        }
        response
    }

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
        // Mutation fields run one after another: once one has made `data` null, the rest are not
        // run, as a client could never see what they did.
        if node.parent.is_none()
            && ctx.schema_env.registry.mutation_type.as_deref() == Some(info.parent_type)
            && fields.root_is_null()
        {
            return Ok(Some(Value::Null));
        }
        let non_null = info.return_type.ends_with('!');
        let selection_set = &info.field.selection_set.node;
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
        if let Value::Object(map) = &value
            && map.len() > 1
            && let Some(document) = fields.document()
        {
            let (document, variables) = &*document;
            in_selection_order(&mut value, selection_set, document, variables);
        }
        Ok(Some(value))
    }
}

/// Writes the keys of an object in the order the specification gives them: the order of the
/// selection set, fragments expanded in place, each key where it first occurs.
fn in_selection_order(
    value: &mut Value,
    selection_set: &SelectionSet,
    document: &ExecutableDocument,
    variables: &Variables,
) {
    let Value::Object(map) = value else { return };
    let mut keys = Vec::new();
    response_keys(selection_set, document, variables, &mut keys, 0);
    let mut ordered = async_graphql::indexmap::IndexMap::with_capacity(map.len());
    for key in keys {
        if let Some((key, v)) = map.shift_remove_entry(&key) {
            ordered.insert(key, v);
        }
    }
    ordered.extend(std::mem::take(map));
    *map = ordered;
}

/// The response keys a selection set selects, in order (the schema has no abstract types, so every
/// fragment that validates applies).
fn response_keys(
    selection_set: &SelectionSet,
    document: &ExecutableDocument,
    variables: &Variables,
    keys: &mut Vec<Name>,
    depth: usize,
) {
    // Validation refuses fragment cycles; the bound only guards the recursion.
    if depth > 64 {
        return;
    }
    for selection in &selection_set.items {
        let directives = match &selection.node {
            Selection::Field(f) => &f.node.directives,
            Selection::FragmentSpread(f) => &f.node.directives,
            Selection::InlineFragment(f) => &f.node.directives,
        };
        if !included(directives, document, variables) {
            continue;
        }
        match &selection.node {
            Selection::Field(field) => {
                let key = field.node.response_key().node.clone();
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    let set = &fragment.node.selection_set.node;
                    response_keys(set, document, variables, keys, depth + 1);
                }
            }
            Selection::InlineFragment(fragment) => {
                let set = &fragment.node.selection_set.node;
                response_keys(set, document, variables, keys, depth + 1);
            }
        }
    }
}

/// Whether `@skip` and `@include` let a selection through.
fn included(
    directives: &[async_graphql::Positioned<async_graphql::parser::types::Directive>],
    document: &ExecutableDocument,
    variables: &Variables,
) -> bool {
    directives.iter().all(|directive| {
        let value = directive.node.get_argument("if").is_some_and(|condition| {
            let resolved = condition.node.clone().into_const_with(|name| {
                Ok::<_, ()>(variables.get(&name).cloned().unwrap_or_else(|| {
                    document
                        .operations
                        .iter()
                        .flat_map(|(_, op)| op.node.variable_definitions.iter())
                        .find(|d| d.node.name.node == name)
                        .and_then(|d| d.node.default_value.as_ref())
                        .map(|v| v.node.clone())
                        .unwrap_or(Value::Null)
                }))
            });
            resolved == Ok(Value::Boolean(true))
        });
        match directive.node.name.node.as_str() {
            "skip" => !value,
            "include" => value,
            _ => true,
        }
    })
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
