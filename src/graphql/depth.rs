//! How deep an operation may nest its fields: data and introspection bounded apart.
//!
//! A data query (`traces { nodes { firearm { seizures { … } } } }`) nests at most `limits.depth`
//! fields, fragments and inline fragments adding none (async-graphql's own count). The
//! introspection under `__schema` and `__type` is bounded on its own: standard tooling's query
//! (`getIntrospectionQuery` of graphql-js, as GraphiQL, GraphQL Code Generator, Postman and Rover
//! send it) nests `ofType` nine times below `__schema { types { fields { args { type …` and so
//! reaches 15 levels, which `limits.depth` exists to refuse for data but which costs nothing for
//! a chain of type references. It may nest `limits.introspection_depth` levels, and, as graphql-js's
//! `MaxIntrospectionDepthRule` has it, the lists that multiply an introspection answer (`fields`,
//! `interfaces`, `possibleTypes`, `inputFields`) may nest only [`MAX_INTROSPECTION_LISTS`] deep
//! (`fields { type { fields … } }`, but not a third time).
//!
//! The check runs when the document is parsed, before validation and any database work, in one
//! pass over the document with each fragment measured once. A fragment that spreads itself is
//! left to validation (and refused earlier by the server's admission).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::Positioned;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensions, ServerError, ServerResult, Variables};

use super::errors::code;
use super::execute::unplaced;

/// How deep the lists `fields`, `interfaces`, `possibleTypes` and `inputFields` may nest in an
/// introspection (graphql-js refuses a third level).
pub(crate) const MAX_INTROSPECTION_LISTS: usize = 2;

/// The introspection fields that multiply an answer by a list of the schema's size.
const INTROSPECTION_LISTS: [&str; 4] = ["fields", "interfaces", "possibleTypes", "inputFields"];

/// The extension that bounds an operation's depth (see the module's documentation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DepthLimit {
    /// Deepest data nesting (`limits.depth`).
    pub depth: usize,
    /// Deepest nesting under `__schema` or `__type`, counting them (`limits.introspection_depth`).
    pub introspection_depth: usize,
}

impl ExtensionFactory for DepthLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for DepthLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        self.check(&document).map_err(|message| {
            unplaced(
                async_graphql::Error::new(message)
                    .extend_with(|_, e| e.set("code", code::LIMIT_EXCEEDED)),
            )
        })?;
        Ok(document)
    }
}

/// The nesting of a selection set: its deepest field (counting every field) and its deepest
/// chain of introspection lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Nesting {
    fields: usize,
    lists: usize,
}

impl Nesting {
    fn max(self, other: Nesting) -> Nesting {
        Nesting {
            fields: self.fields.max(other.fields),
            lists: self.lists.max(other.lists),
        }
    }
}

/// What the root of an operation reaches: data fields and introspection apart.
#[derive(Debug, Clone, Copy, Default)]
struct Reach {
    data: usize,
    introspection: Nesting,
}

/// A fragment being measured (a spread of itself is not followed) or measured.
#[derive(Clone, Copy)]
enum Memo<T> {
    Open,
    Done(T),
}

struct Measure<'a> {
    document: &'a ExecutableDocument,
    /// Each fragment's nesting, measured once.
    nesting: HashMap<&'a str, Memo<Nesting>>,
    /// Each fragment's reach when spread at an operation's root, measured once.
    reach: HashMap<&'a str, Memo<Reach>>,
}

impl DepthLimit {
    /// The message naming the setting an operation of `document` exceeds, if any.
    pub(crate) fn check(&self, document: &ExecutableDocument) -> Result<(), String> {
        let mut measure = Measure {
            document,
            nesting: HashMap::new(),
            reach: HashMap::new(),
        };
        for (_, operation) in document.operations.iter() {
            let reach = measure.root(&operation.node.selection_set);
            if reach.data > self.depth {
                return Err(format!(
                    "the operation nests fields {} deep; at most {} are accepted (limits.depth)",
                    reach.data, self.depth
                ));
            }
            if reach.introspection.fields > self.introspection_depth {
                return Err(format!(
                    "the introspection nests fields {} deep; at most {} are accepted \
                     (limits.introspection_depth)",
                    reach.introspection.fields, self.introspection_depth
                ));
            }
            if reach.introspection.lists > MAX_INTROSPECTION_LISTS {
                return Err(format!(
                    "the introspection nests the lists fields, interfaces, possibleTypes and \
                     inputFields {} deep; at most {MAX_INTROSPECTION_LISTS} are accepted",
                    reach.introspection.lists
                ));
            }
        }
        Ok(())
    }
}

impl<'a> Measure<'a> {
    /// The reach of an operation's (or a root fragment's) selections: `__schema` and `__type`
    /// measured as introspection, every other field as data.
    fn root(&mut self, set: &'a Positioned<SelectionSet>) -> Reach {
        let mut reach = Reach::default();
        for item in &set.node.items {
            match &item.node {
                Selection::Field(field) => {
                    let below = self.nesting(&field.node.selection_set);
                    let name = field.node.name.node.as_str();
                    if name == "__schema" || name == "__type" {
                        reach.introspection = reach.introspection.max(Nesting {
                            fields: below.fields + 1,
                            lists: below.lists,
                        });
                    } else {
                        reach.data = reach.data.max(below.fields + 1);
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let inner = self.root_fragment(name);
                    reach.data = reach.data.max(inner.data);
                    reach.introspection = reach.introspection.max(inner.introspection);
                }
                Selection::InlineFragment(inline) => {
                    let inner = self.root(&inline.node.selection_set);
                    reach.data = reach.data.max(inner.data);
                    reach.introspection = reach.introspection.max(inner.introspection);
                }
            }
        }
        reach
    }

    fn root_fragment(&mut self, name: &'a str) -> Reach {
        match self.reach.get(name) {
            Some(Memo::Done(reach)) => return *reach,
            Some(Memo::Open) => return Reach::default(),
            None => {}
        }
        let Some((key, fragment)) = self.document.fragments.get_key_value(name) else {
            // An unknown fragment is reported by validation.
            return Reach::default();
        };
        self.reach.insert(key.as_str(), Memo::Open);
        let reach = self.root(&fragment.node.selection_set);
        self.reach.insert(key.as_str(), Memo::Done(reach));
        reach
    }

    /// The nesting of a selection set below a field.
    fn nesting(&mut self, set: &'a Positioned<SelectionSet>) -> Nesting {
        let mut nesting = Nesting::default();
        for item in &set.node.items {
            let inner = match &item.node {
                Selection::Field(field) => {
                    let below = self.nesting(&field.node.selection_set);
                    let list = INTROSPECTION_LISTS.contains(&field.node.name.node.as_str());
                    Nesting {
                        fields: below.fields + 1,
                        lists: below.lists + usize::from(list),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())
                }
                Selection::InlineFragment(inline) => self.nesting(&inline.node.selection_set),
            };
            nesting = nesting.max(inner);
        }
        nesting
    }

    fn fragment(&mut self, name: &'a str) -> Nesting {
        match self.nesting.get(name) {
            Some(Memo::Done(nesting)) => return *nesting,
            Some(Memo::Open) => return Nesting::default(),
            None => {}
        }
        let Some((key, fragment)) = self.document.fragments.get_key_value(name) else {
            return Nesting::default();
        };
        self.nesting.insert(key.as_str(), Memo::Open);
        let nesting = self.nesting(&fragment.node.selection_set);
        self.nesting.insert(key.as_str(), Memo::Done(nesting));
        nesting
    }
}

/// Whether an error is one of this extension's refusals.
pub(crate) fn is_refusal(error: &ServerError) -> bool {
    error.path.is_empty()
        && matches!(
            error.extensions.as_ref().and_then(|x| x.get("code")),
            Some(async_graphql::Value::String(c)) if c == code::LIMIT_EXCEEDED
        )
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    const LIMIT: DepthLimit = DepthLimit {
        depth: 4,
        introspection_depth: 6,
    };

    fn check(query: &str) -> Result<(), String> {
        LIMIT.check(&parse_query(query).expect("parses"))
    }

    #[test]
    fn data_fields_count_through_fragments_but_fragments_add_no_depth() {
        assert_eq!(check("{ a { b { c { d } } } }"), Ok(()));
        let error = check("{ a { b { c { d { e } } } } }").expect_err("five deep");
        assert!(
            error.contains("5 deep") && error.contains("limits.depth"),
            "{error}"
        );
        let through = "{ a { ...F } } fragment F on A { b { ... on B { c { d { e } } } } }";
        assert!(check(through).is_err());
        let root = "{ ...R } fragment R on Query { a { b { c { d { e } } } } }";
        assert!(check(root).is_err());
    }

    #[test]
    fn introspection_has_its_own_bound_and_list_rule() {
        // Six deep under __schema: within introspection_depth though beyond depth.
        let chain = "{ __schema { types { ofType { ofType { ofType { name } } } } } }";
        assert_eq!(check(chain), Ok(()));
        let deeper = "{ __schema { types { ofType { ofType { ofType { ofType { name } } } } } } }";
        let error = check(deeper).expect_err("seven deep");
        assert!(error.contains("limits.introspection_depth"), "{error}");
        // Data beside introspection keeps the data bound.
        assert!(check("{ __type(name: \"A\") { name } a { b { c { d { e } } } } }").is_err());

        // Two nested lists pass; a third is refused, through fragments too.
        assert_eq!(
            check("{ __type(name: \"A\") { fields { type { fields { name } } } } }"),
            Ok(())
        );
        let three = "{ __type(name: \"A\") { fields { type { ...T } } } } \
                     fragment T on __Type { interfaces { fields { name } } }";
        let error = LIMIT
            .check(&parse_query(three).expect("parses"))
            .expect_err("three");
        assert!(error.contains("at most 2"), "{error}");
    }

    #[test]
    fn fragments_are_measured_once_and_cycles_end() {
        // 2^40 paths once expanded: measured in linear time.
        let mut bomb = String::from("query { ...F40 } fragment F0 on Query { a }");
        for i in 1..=40 {
            bomb.push_str(&format!(
                " fragment F{i} on Query {{ ...F{p} ...F{p} }}",
                p = i - 1
            ));
        }
        assert_eq!(check(&bomb), Ok(()));
        let cycle = "{ a { ...A } } fragment A on A { b { ...A } }";
        assert_eq!(check(cycle), Ok(()));
    }
}
