//! The GraphQL API: the contract's types, query roots and mutations. Resolvers translate arguments
//! and call `store`; they never query tables themselves.

pub(crate) mod analytics;
pub(crate) mod args;
pub(crate) mod completion;
pub(crate) mod context;
pub(crate) mod depth;
pub(crate) mod errors;
pub(crate) mod execute;
pub(crate) mod export;
pub(crate) mod grants;
pub(crate) mod links;
pub(crate) mod loaders;
pub(crate) mod measures;
pub(crate) mod mutation;
pub(crate) mod query;
pub mod shape;
pub(crate) mod stats;
pub(crate) mod subscription;
pub(crate) mod types;
pub(crate) mod visibility;
pub(crate) mod withheld;
pub(crate) mod write_inputs;

use async_graphql::Schema;

pub(crate) type HubSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// Limits applied to every operation, before any database work.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub depth: usize,
    pub introspection_depth: usize,
    pub complexity: usize,
    pub recursive_depth: usize,
    pub directives: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self::from_settings(&crate::config::LimitsSettings::default())
    }
}

impl Limits {
    /// The schema limits of the `[limits]` settings.
    pub(crate) fn from_settings(settings: &crate::config::LimitsSettings) -> Self {
        Self {
            depth: settings.depth,
            introspection_depth: settings.introspection_depth,
            complexity: settings.complexity,
            recursive_depth: settings.recursive_depth,
            directives: settings.directives_per_field,
        }
    }
}

/// Builds the schema. Per-request data (`RequestContext`) is added to each request by the caller.
/// Validation is strict and suggests no field names ("did you mean"), so an unauthorised reader of
/// error messages learns nothing about the schema beyond the contract.
pub(crate) fn build_schema(limits: Limits) -> HubSchema {
    builder(limits).finish()
}

/// The schema a server runs: its stats answers come from the process's canonical tables.
pub(crate) fn serving_schema(
    limits: Limits,
    stats: std::sync::Arc<crate::store::canonical::StatsCache>,
) -> HubSchema {
    builder(limits)
        .data(stats)
        .data(std::sync::Arc::new(
            crate::store::candidates::CandidateCache::default(),
        ))
        .finish()
}

fn builder(
    limits: Limits,
) -> async_graphql::SchemaBuilder<query::Query, mutation::Mutation, subscription::Subscription> {
    Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        subscription::Subscription,
    )
    // Depth is bounded by `depth::DepthLimit`, which bounds data and introspection apart.
    .extension(depth::DepthLimit {
        depth: limits.depth,
        introspection_depth: limits.introspection_depth,
    })
    .limit_complexity(limits.complexity)
    .limit_recursive_depth(limits.recursive_depth)
    .limit_directives(limits.directives)
    .disable_suggestions()
    .extension(completion::Completion)
    .extension(withheld::WithheldFields)
}

/// The schema in SDL, as `firearms-hub schema` prints it.
pub fn sdl() -> String {
    build_schema(Limits::default()).sdl()
}
