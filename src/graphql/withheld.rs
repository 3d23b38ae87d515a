//! Fields the store withheld: a field of an entity type that the caller's policy hides (or gates
//! by a scope the caller lacks) resolves to `null`, with a FORBIDDEN error at its path. One
//! extension decides this for every field of every entity type, from the store's descriptors, so
//! no resolver keeps a list of its own; the store has already blanked the value.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ErrorExtensions, ServerResult, Value};

use super::context::RequestContext;
use super::errors::field_forbidden;
use super::execute::unplaced;
use crate::policy::EntityKind;
use crate::store;

/// The extension that answers withheld fields with `null` and FORBIDDEN.
pub(crate) struct WithheldFields;

impl ExtensionFactory for WithheldFields {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(WithheldFields)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for WithheldFields {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if !info.is_for_introspection
            && let Some(request) = ctx.data_opt::<RequestContext>()
            && let Some(kind) = EntityKind::from_type_name(info.parent_type)
            && store::withheld(&request.access, kind, info.name)
        {
            let mut error = unplaced(field_forbidden(kind.as_str(), info.name).extend());
            error.path = super::completion::path(&info);
            request.field_errors.push(error);
            return Ok(Some(Value::Null));
        }
        next.run(ctx, info).await
    }
}
