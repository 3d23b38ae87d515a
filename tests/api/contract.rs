//! The published contract (`docs/api-contract.graphql`) is a subset of the served schema: every
//! type, field, argument, input field and enum value it names exists with the same type, so portals
//! and other agencies' systems keep working. The SDL itself is snapshotted, so any change to it is
//! deliberate.

use std::collections::BTreeMap;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{InputValueDefinition, TypeKind, TypeSystemDefinition};

/// A flattened view of a schema: "Type" → kind, "Type.field" → type, "Type.field(arg)" → type
/// and default, "Enum.VALUE" → "".
fn signatures(sdl: &str) -> BTreeMap<String, String> {
    let document = parse_schema(sdl).expect("SDL parses");
    let mut out = BTreeMap::new();
    let input = |out: &mut BTreeMap<String, String>, key: String, v: &InputValueDefinition| {
        let default = v
            .default_value
            .as_ref()
            .map(|d| format!(" = {}", d.node))
            .unwrap_or_default();
        out.insert(key, format!("{}{default}", v.ty.node));
    };
    for definition in document.definitions {
        let TypeSystemDefinition::Type(t) = definition else {
            continue;
        };
        let name = t.node.name.node.to_string();
        match &t.node.kind {
            TypeKind::Scalar => {
                out.insert(name, "scalar".into());
            }
            TypeKind::Object(o) => {
                out.insert(name.clone(), "type".into());
                for f in &o.fields {
                    let field = format!("{name}.{}", f.node.name.node);
                    out.insert(field.clone(), f.node.ty.node.to_string());
                    for a in &f.node.arguments {
                        input(&mut out, format!("{field}({})", a.node.name.node), &a.node);
                    }
                }
            }
            TypeKind::InputObject(i) => {
                out.insert(name.clone(), "input".into());
                for f in &i.fields {
                    input(&mut out, format!("{name}.{}", f.node.name.node), &f.node);
                }
            }
            TypeKind::Enum(e) => {
                out.insert(name.clone(), "enum".into());
                for v in &e.values {
                    out.insert(format!("{name}.{}", v.node.value.node), String::new());
                }
            }
            TypeKind::Interface(_) | TypeKind::Union(_) => {
                out.insert(name, "other".into());
            }
        }
    }
    out
}

#[test]
fn the_served_schema_keeps_every_name_and_shape_of_the_contract() {
    let contract = signatures(include_str!("../../docs/api-contract.graphql"));
    let served = signatures(&firearms_hub::graphql::sdl());
    // The write inputs are the server's to define; the contract only names them.
    let server_defined = |key: &str| {
        [
            "TraceInput",
            "TracePatch",
            "SeizureInput",
            "SeizurePatch",
            "TrainingInput",
            "TrainingPatch",
            "FundingAwardInput",
            "FundingAwardPatch",
        ]
        .iter()
        .any(|t| key == *t || key.starts_with(&format!("{t}.")))
    };
    let mut missing = Vec::new();
    for (key, shape) in &contract {
        if server_defined(key) {
            continue;
        }
        match served.get(key) {
            Some(ours) if ours == shape => {}
            Some(ours) => missing.push(format!("{key}: contract `{shape}`, served `{ours}`")),
            None => missing.push(format!("{key}: missing")),
        }
    }
    assert!(
        missing.is_empty(),
        "the schema breaks the contract:\n{}",
        missing.join("\n")
    );
    assert!(
        contract.len() > 300,
        "the contract was read ({} names)",
        contract.len()
    );
}

#[test]
fn the_sdl_changes_only_deliberately() {
    insta::assert_snapshot!("schema", firearms_hub::graphql::sdl());
}
