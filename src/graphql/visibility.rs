//! What each role's introspection shows: only what the policy lets it read or write. One decision,
//! [`visible`], answers for every field; the `visible = "…"` functions the schema's attributes name
//! are one-line calls to it, and [`sdl_for`] applies it to the printed SDL, so `firearms-hub schema
//! --role` and the role's introspection agree.
//!
//! Visibility only shapes introspection. A caller who asks for a hidden field anyway still meets
//! the store's rule: `null` with `FORBIDDEN` at its path, or `FORBIDDEN` from a row query.

use std::collections::{BTreeSet, HashMap};

use async_graphql::Context;
use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};

use super::context::RequestContext;
use crate::policy::{Access, Aggregates, EntityKind, Rows};
use crate::store;

/// What a query root answers from: an entity's rows or its aggregates.
#[derive(Clone, Copy)]
enum Root {
    Rows,
    Aggregates,
}

/// The query roots that read an entity.
const QUERY_ROOTS: &[(&str, EntityKind, Root)] = &[
    ("traces", EntityKind::Trace, Root::Rows),
    ("trace", EntityKind::Trace, Root::Rows),
    ("traceStats", EntityKind::Trace, Root::Aggregates),
    ("seizures", EntityKind::Seizure, Root::Rows),
    ("seizure", EntityKind::Seizure, Root::Rows),
    ("seizureStats", EntityKind::Seizure, Root::Aggregates),
    ("trainings", EntityKind::Training, Root::Rows),
    ("training", EntityKind::Training, Root::Rows),
    ("trainingStats", EntityKind::Training, Root::Aggregates),
    ("fundingAwards", EntityKind::FundingAward, Root::Rows),
    ("fundingAward", EntityKind::FundingAward, Root::Rows),
    ("fundingStats", EntityKind::FundingAward, Root::Aggregates),
    // The analyses show with the aggregates of the entity their rows come from; a part from an
    // entity the role reads no aggregates of is answered FORBIDDEN at its path.
    ("traceCorridors", EntityKind::Trace, Root::Aggregates),
    ("trainingOutcomes", EntityKind::Training, Root::Aggregates),
    (
        "fundingOutcomes",
        EntityKind::FundingAward,
        Root::Aggregates,
    ),
    ("firearms", EntityKind::Firearm, Root::Rows),
    ("firearm", EntityKind::Firearm, Root::Rows),
    ("auditEvents", EntityKind::AuditEvent, Root::Rows),
];

/// The mutations that write an entity.
const MUTATIONS: &[(&str, EntityKind)] = &[
    ("createTrace", EntityKind::Trace),
    ("updateTrace", EntityKind::Trace),
    ("deleteTrace", EntityKind::Trace),
    ("importTraces", EntityKind::Trace),
    ("recordSeizure", EntityKind::Seizure),
    ("updateSeizure", EntityKind::Seizure),
    ("deleteSeizure", EntityKind::Seizure),
    ("importSeizures", EntityKind::Seizure),
    ("createTraining", EntityKind::Training),
    ("updateTraining", EntityKind::Training),
    ("deleteTraining", EntityKind::Training),
    ("createFundingAward", EntityKind::FundingAward),
    ("updateFundingAward", EntityKind::FundingAward),
    ("deleteFundingAward", EntityKind::FundingAward),
];

fn has_rows(access: &Access, kind: EntityKind) -> bool {
    let granted = |k: EntityKind| access.grants_for(k).next().is_some();
    access.rule(kind).rows != Rows::None
        || granted(kind)
        // The firearms of granted traces or seizures come with them.
        || (kind == EntityKind::Firearm && (granted(EntityKind::Trace) || granted(EntityKind::Seizure)))
}

/// Whether the caller's role sees the field `type_name.field` in introspection. A query root
/// shows when the role reads the entity's rows (or its aggregates, for `…Stats`), a mutation when
/// the role writes the entity, a field of an entity type when the policy lets the caller read it
/// and, for an edge, when the role reads the rows it leads to. Every other field shows.
pub(crate) fn visible(access: &Access, type_name: &str, field: &str) -> bool {
    match type_name {
        "Query" if field == "linkCandidates" => {
            access.rule(EntityKind::LinkCandidate).rows != Rows::None
                && has_rows(access, EntityKind::Trace)
                && has_rows(access, EntityKind::Seizure)
        }
        "Query" => QUERY_ROOTS
            .iter()
            .find(|(name, _, _)| *name == field)
            .is_none_or(|(_, kind, root)| match root {
                Root::Rows => has_rows(access, *kind),
                Root::Aggregates => access.rule(*kind).aggregates != Aggregates::None,
            }),
        // Grants are oversight's to make and revoke.
        "Mutation" if matches!(field, "grantAccess" | "revokeGrant") => {
            access.role() == entity::Role::Oversight
        }
        // Candidates pair a seized record with a traced one: a role sees them where it reads both.
        "Mutation" if field == "decideLinkCandidate" => {
            access.can_write(EntityKind::LinkCandidate)
                && has_rows(access, EntityKind::Trace)
                && has_rows(access, EntityKind::Seizure)
        }
        // A subscription shows where the role reads the rows its events carry (a link, where the
        // role may follow links between the firearm records it reads).
        "Subscription" => match field {
            "traceRecorded" => has_rows(access, EntityKind::Trace),
            "seizureRecorded" => has_rows(access, EntityKind::Seizure),
            "trainingRecorded" => has_rows(access, EntityKind::Training),
            "linkFound" => {
                access.rule(EntityKind::FirearmLink).rows == Rows::All
                    && has_rows(access, EntityKind::Firearm)
            }
            _ => true,
        },
        "Mutation" => MUTATIONS
            .iter()
            .find(|(name, _)| *name == field)
            .is_none_or(|(_, kind)| access.can_write(*kind)),
        _ => match EntityKind::from_type_name(type_name) {
            Some(kind) => {
                !store::withheld(access, kind, field)
                    && store::fields(kind)
                        .iter()
                        .find(|f| f.name == field)
                        .and_then(|f| f.leads_to)
                        .is_none_or(|target| has_rows(access, target))
            }
            None => true,
        },
    }
}

/// [`visible`] for the request's caller; without a caller (the schema exported on its own)
/// everything is visible.
fn seen(ctx: &Context<'_>, type_name: &str, field: &str) -> bool {
    ctx.data_opt::<RequestContext>()
        .is_none_or(|r| visible(&r.access, type_name, field))
}

/// Whether the caller sees the `Subscription` type at all: when it sees one of its fields.
pub(crate) fn subscriptions(ctx: &Context<'_>) -> bool {
    [
        "traceRecorded",
        "seizureRecorded",
        "trainingRecorded",
        "linkFound",
    ]
    .into_iter()
    .any(|field| seen(ctx, "Subscription", field))
}

/// One module per type, one function per field: the functions `#[graphql(visible = "…")]` names.
macro_rules! visibility_fns {
    ($($module:ident = $type_name:literal { $($function:ident = $field:literal),* $(,)? })*) => {
        $(
            #[doc = concat!("Visibility of the fields of `", $type_name, "`.")]
            pub(crate) mod $module {
                $(
                    #[doc = concat!("Whether the caller sees `", $type_name, ".", $field, "`.")]
                    pub(crate) fn $function(ctx: &async_graphql::Context<'_>) -> bool {
                        super::seen(ctx, $type_name, $field)
                    }
                )*
            }
        )*
    };
}

visibility_fns! {
    query = "Query" {
        traces = "traces",
        trace = "trace",
        trace_stats = "traceStats",
        seizures = "seizures",
        seizure = "seizure",
        seizure_stats = "seizureStats",
        trainings = "trainings",
        training = "training",
        training_stats = "trainingStats",
        funding_awards = "fundingAwards",
        funding_award = "fundingAward",
        funding_stats = "fundingStats",
        trace_corridors = "traceCorridors",
        training_outcomes = "trainingOutcomes",
        funding_outcomes = "fundingOutcomes",
        firearms = "firearms",
        firearm = "firearm",
        audit_events = "auditEvents",
        link_candidates = "linkCandidates",
    }
    mutation = "Mutation" {
        grant_access = "grantAccess",
        revoke_grant = "revokeGrant",
        create_trace = "createTrace",
        update_trace = "updateTrace",
        delete_trace = "deleteTrace",
        import_traces = "importTraces",
        record_seizure = "recordSeizure",
        update_seizure = "updateSeizure",
        delete_seizure = "deleteSeizure",
        import_seizures = "importSeizures",
        create_training = "createTraining",
        update_training = "updateTraining",
        delete_training = "deleteTraining",
        create_funding_award = "createFundingAward",
        update_funding_award = "updateFundingAward",
        delete_funding_award = "deleteFundingAward",
        decide_link_candidate = "decideLinkCandidate",
    }
    subscription = "Subscription" {
        trace_recorded = "traceRecorded",
        seizure_recorded = "seizureRecorded",
        training_recorded = "trainingRecorded",
        link_found = "linkFound",
    }
    link_candidate = "LinkCandidate" {
        decisions = "decisions",
    }
    trace = "Trace" {
        firearm = "firearm",
        recovery_municipality = "recoveryMunicipality",
        purchase_date = "purchaseDate",
        dealer_license = "dealerLicense",
        purchaser_name = "purchaserName",
    }
    firearm = "Firearm" {
        importer = "importer",
        traces = "traces",
        seizures = "seizures",
        links = "links",
    }
    firearm_link = "FirearmLink" {
        firearm = "firearm",
    }
    seizure = "Seizure" {
        case_number = "caseNumber",
        concealment_method = "concealmentMethod",
        firearms = "firearms",
    }
    training = "Training" {
        funding_award = "fundingAward",
    }
    funding_award = "FundingAward" {
        description = "description",
        trainings = "trainings",
    }
}

/// The SDL the caller's role sees: the full schema's SDL without the fields [`visible`] hides from
/// it, and without the types that are then out of reach, as the role's introspection shows them.
pub(crate) fn sdl_for(access: &Access) -> anyhow::Result<String> {
    role_sdl(&super::sdl(), access)
}

/// One top-level definition of an SDL document with the description above it and the blank lines
/// after it.
struct Chunk {
    /// The defined type's name; `None` for directives and the schema definition.
    name: Option<String>,
    /// An object type with none of its fields left.
    empty: bool,
    lines: Vec<String>,
}

/// [`sdl_for`] over a given SDL, as async-graphql prints it: one definition after another, the body
/// of each indented by one tab, a field on one line (its arguments on following, deeper-indented
/// lines when they carry descriptions), descriptions in `"""` blocks above what they describe.
fn role_sdl(full: &str, access: &Access) -> anyhow::Result<String> {
    let mut chunks = split(full, access);
    chunks.retain(|c| !c.empty);
    let reachable = reachable(&join(&chunks))?;
    chunks.retain(|c| c.name.as_ref().is_none_or(|n| reachable.contains(n)));
    for chunk in &mut chunks {
        if chunk.name.is_none() && chunk.lines.first().is_some_and(|l| l.starts_with("schema")) {
            // `query: Query`, `mutation: Mutation`: keep the roots that are left.
            chunk.lines.retain(|line| match line.strip_prefix('\t') {
                Some(root) => root
                    .split_once(':')
                    .is_none_or(|(_, ty)| reachable.contains(ty.trim())),
                None => true,
            });
        }
    }
    Ok(join(&chunks))
}

fn join(chunks: &[Chunk]) -> String {
    let mut out = String::new();
    for line in chunks.iter().flat_map(|c| &c.lines) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Splits an SDL document into its definitions, leaving out the fields of object types that
/// [`visible`] hides from the caller (with their descriptions).
fn split(sdl: &str, access: &Access) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    // Lines read before the definition they belong to (its description).
    let mut pending: Vec<String> = Vec::new();
    let mut in_description = false;
    let mut lines = sdl.lines();
    while let Some(line) = lines.next() {
        if in_description || line.starts_with("\"\"\"") || line.starts_with('"') {
            if line == "\"\"\"" {
                in_description = !in_description;
            }
            pending.push(line.to_owned());
            continue;
        }
        if line.trim().is_empty() {
            match chunks.last_mut() {
                Some(last) if pending.is_empty() => last.lines.push(line.to_owned()),
                _ => pending.push(line.to_owned()),
            }
            continue;
        }
        let mut words = line.split_whitespace();
        let keyword = words.next().unwrap_or_default();
        let name = words
            .next()
            .map(|w| w.trim_end_matches('{').to_owned())
            .filter(|_| !matches!(keyword, "schema" | "directive"));
        let mut chunk = Chunk {
            name,
            empty: false,
            lines: std::mem::take(&mut pending),
        };
        chunk.lines.push(line.to_owned());
        if line.trim_end().ends_with('{') {
            let filtered = if keyword == "type" {
                chunk.name.clone()
            } else {
                None
            };
            let kept = body(&mut lines, &mut chunk.lines, |field| {
                filtered
                    .as_deref()
                    .is_none_or(|t| visible(access, t, field))
            });
            chunk.empty = filtered.is_some() && kept == 0;
        }
        chunks.push(chunk);
    }
    if let Some(last) = chunks.last_mut() {
        last.lines.append(&mut pending);
    }
    chunks
}

/// Reads a definition's body up to its closing `}`, keeping the fields `keep` accepts; returns
/// how many it kept.
fn body<'a>(
    lines: &mut impl Iterator<Item = &'a str>,
    out: &mut Vec<String>,
    keep: impl Fn(&str) -> bool,
) -> usize {
    let mut kept = 0;
    let mut pending: Vec<&str> = Vec::new();
    let mut in_description = false;
    // Whether the field being read (its continuation lines) is kept.
    let mut keeping = true;
    for line in lines.by_ref() {
        if line == "}" {
            out.extend(pending.drain(..).map(str::to_owned));
            out.push(line.to_owned());
            break;
        }
        if in_description {
            in_description = line != "\t\"\"\"";
            pending.push(line);
            continue;
        }
        if line == "\t\"\"\"" {
            in_description = true;
            pending.push(line);
            continue;
        }
        if line.starts_with("\t\"") {
            // A one-line description.
            pending.push(line);
            continue;
        }
        if line.starts_with("\t\t") || line.starts_with("\t)") {
            // The arguments of a field printed over several lines.
            if keeping {
                out.push(line.to_owned());
            }
            continue;
        }
        let field = line
            .trim_start()
            .split(['(', ':', ' '])
            .next()
            .unwrap_or_default();
        keeping = keep(field);
        if keeping {
            kept += 1;
            out.extend(pending.drain(..).map(str::to_owned));
            out.push(line.to_owned());
        } else {
            pending.clear();
        }
    }
    kept
}

/// The types reachable from the document's roots through fields, arguments and input fields: the
/// types introspection lists.
fn reachable(sdl: &str) -> anyhow::Result<BTreeSet<String>> {
    fn named(ty: &Type) -> &str {
        match &ty.base {
            BaseType::Named(name) => name.as_str(),
            BaseType::List(inner) => named(inner),
        }
    }
    let document = parse_schema(sdl).map_err(|e| anyhow::anyhow!("the role's SDL: {e}"))?;
    let mut types: HashMap<String, Vec<String>> = HashMap::new();
    let mut roots: Vec<String> = Vec::new();
    for definition in &document.definitions {
        match definition {
            TypeSystemDefinition::Schema(schema) => {
                let s = &schema.node;
                for root in [&s.query, &s.mutation, &s.subscription]
                    .into_iter()
                    .flatten()
                {
                    roots.push(root.node.to_string());
                }
            }
            TypeSystemDefinition::Type(t) => {
                let mut refs: Vec<String> = Vec::new();
                match &t.node.kind {
                    TypeKind::Object(o) => {
                        refs.extend(o.implements.iter().map(|i| i.node.to_string()));
                        for f in &o.fields {
                            refs.push(named(&f.node.ty.node).to_owned());
                            refs.extend(
                                f.node
                                    .arguments
                                    .iter()
                                    .map(|a| named(&a.node.ty.node).to_owned()),
                            );
                        }
                    }
                    TypeKind::Interface(i) => {
                        for f in &i.fields {
                            refs.push(named(&f.node.ty.node).to_owned());
                            refs.extend(
                                f.node
                                    .arguments
                                    .iter()
                                    .map(|a| named(&a.node.ty.node).to_owned()),
                            );
                        }
                    }
                    TypeKind::Union(u) => {
                        refs.extend(u.members.iter().map(|m| m.node.to_string()));
                    }
                    TypeKind::InputObject(i) => {
                        refs.extend(i.fields.iter().map(|f| named(&f.node.ty.node).to_owned()));
                    }
                    TypeKind::Scalar | TypeKind::Enum(_) => {}
                }
                types.insert(t.node.name.node.to_string(), refs);
            }
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    if roots.is_empty() {
        roots = ["Query", "Mutation", "Subscription"]
            .map(str::to_owned)
            .to_vec();
    }
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = roots;
    while let Some(name) = stack.pop() {
        let Some(refs) = types.get(&name) else {
            continue;
        };
        if seen.insert(name) {
            stack.extend(refs.iter().cloned());
        }
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use entity::Role;

    use super::*;
    use crate::auth::Caller;
    use crate::policy::Policy;

    fn access(role: Role, scopes: &[&str]) -> Access {
        Access::new(
            Caller {
                subject: "test".into(),
                role,
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            },
            Arc::new(Policy::default_policy()),
        )
    }

    #[test]
    fn the_decision_follows_the_default_policy() {
        let ice = access(Role::Ice, &[]);
        assert!(!visible(&ice, "Trace", "purchaserName"));
        assert!(!visible(&ice, "Trace", "dealerLicense"));
        assert!(visible(&ice, "Trace", "recoveryState"));
        assert!(!visible(&ice, "Query", "fundingAwards"));
        assert!(visible(&ice, "Query", "fundingStats"));
        assert!(visible(&ice, "Mutation", "recordSeizure"));
        assert!(!visible(&ice, "Mutation", "createTrace"));

        assert!(!visible(&access(Role::Atf, &[]), "Trace", "purchaserName"));
        assert!(visible(
            &access(Role::Atf, &["pii"]),
            "Trace",
            "purchaserName"
        ));

        let cbp = access(Role::Cbp, &[]);
        assert!(!visible(&cbp, "Firearm", "traces"));
        assert!(visible(&cbp, "Firearm", "seizures"));
        assert!(!visible(&cbp, "Query", "fundingStats"));
        assert!(visible(&cbp, "Query", "traceStats"));

        let oversight = access(Role::Oversight, &[]);
        assert!(visible(&oversight, "Query", "auditEvents"));
        assert!(visible(&oversight, "Query", "me"));
        assert!(
            !MUTATIONS
                .iter()
                .any(|(m, _)| visible(&oversight, "Mutation", m))
        );
    }

    #[test]
    fn every_decided_field_exists_in_the_schema() {
        let fields = crate::graphql::shape::schema_fields();
        let has = |t: &str, f: &str| {
            fields
                .get(t)
                .is_some_and(|fs| fs.iter().any(|(n, _)| n == f))
        };
        for (name, _, _) in QUERY_ROOTS {
            assert!(has("Query", name), "Query.{name}");
        }
        for (name, _) in MUTATIONS {
            assert!(has("Mutation", name), "Mutation.{name}");
        }
        for kind in EntityKind::ALL {
            for field in store::fields(kind).iter().filter(|f| f.leads_to.is_some()) {
                assert!(has(kind.type_name(), field.name), "{kind}.{}", field.name);
            }
        }
    }

    #[test]
    fn the_role_sdl_parses_and_lacks_what_the_role_cannot_see() {
        let state = sdl_for(&access(Role::State, &[])).expect("role SDL");
        parse_schema(&state).expect("role SDL parses");
        assert!(!state.contains("\ttraces("), "{state}");
        assert!(!state.contains("createTrace"));
        assert!(!state.contains("type Trace {"));
        assert!(state.contains("\ttrainings("));
        assert!(state.contains("createFundingAward"));

        let ice = sdl_for(&access(Role::Ice, &[])).expect("role SDL");
        assert!(!ice.contains("purchaserName"));
        assert!(!ice.contains("Personal data."));
        assert!(ice.contains("recoveryState: String!"));
    }

    /// A small SDL in async-graphql's layout, with a field whose arguments span several lines.
    const SMALL: &str = r#"type Query {
	me: String
	traces(
		"""
		How many.
		"""
		first: Int
	): Trace
}

"""
A trace.
"""
type Trace {
	id: ID!
	"""
	Personal data.
	"""
	purchaserName: String
}

type Mutation {
	createTrace(input: String): Trace
}

schema {
	query: Query
	mutation: Mutation
}
"#;

    #[test]
    fn hidden_fields_an_emptied_root_and_types_out_of_reach_leave_the_role_sdl() {
        let atf = role_sdl(SMALL, &access(Role::Atf, &["pii"])).expect("role SDL");
        assert_eq!(atf, SMALL);

        // ICE reads traces without the purchaser and writes no trace.
        let ice = role_sdl(SMALL, &access(Role::Ice, &[])).expect("role SDL");
        let expected = SMALL
            .replace(
                "\t\"\"\"\n\tPersonal data.\n\t\"\"\"\n\tpurchaserName: String\n",
                "",
            )
            .replace(
                "type Mutation {\n\tcreateTrace(input: String): Trace\n}\n\n",
                "",
            )
            .replace("\tmutation: Mutation\n", "");
        assert_eq!(ice, expected);

        // OVERSIGHT reads no trace rows: the query root, its type and the mutation go.
        let oversight = role_sdl(SMALL, &access(Role::Oversight, &[])).expect("role SDL");
        assert_eq!(
            oversight,
            "type Query {\n\tme: String\n}\n\nschema {\n\tquery: Query\n}\n"
        );
    }
}
