//! Every GraphQL example in README.md runs against a test server over demo data, read from the
//! README when the test runs, so an edited example is the one tested.
//!
//! - A `sh` block that `curl`s `/graphql` is run as written: its headers and body, with the token
//!   its `TOKEN=$(… token --role ROLE)` line makes minted for that role by the test server.
//! - A `graphql` block starts with a `# as ROLE` comment naming who sends it (no purpose stated).
//!
//! Each must answer data without errors, and each list it asks for at the root must hold rows.

use entity::Role;
use firearms_hub::demo::{self, DemoOptions};
use serde_json::Value;

use crate::helpers::spawn_app;

/// A fenced block of README.md: its language and its lines, unindented.
struct Block {
    line: usize,
    language: String,
    text: String,
}

fn blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String, usize, Vec<String>)> = None;
    for (i, line) in readme.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match (&mut open, trimmed.strip_prefix("```")) {
            (None, Some(language)) => {
                open = Some((i + 1, language.trim().to_owned(), indent, Vec::new()));
            }
            (Some(_), Some(_)) => {
                let (line, language, _, lines) = open.take().expect("open block");
                blocks.push(Block {
                    line,
                    language,
                    text: lines.join("\n"),
                });
            }
            (Some((_, _, indent, lines)), None) => {
                lines.push(line.get(*indent..).unwrap_or(line.trim_start()).to_owned());
            }
            (None, None) => {}
        }
    }
    blocks
}

/// An example request: who sends it, its headers and its body.
pub(crate) struct Example {
    pub(crate) at: String,
    /// `curl` or `graphql`.
    pub(crate) kind: &'static str,
    pub(crate) role: Role,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

/// The GraphQL examples of a README's text.
pub(crate) fn examples(readme: &str) -> Vec<Example> {
    let mut examples = Vec::new();
    for block in blocks(readme) {
        let at = format!("README.md:{}", block.line);
        match block.language.as_str() {
            "graphql" => {
                let first = block.text.lines().next().unwrap_or_default();
                let role = first
                    .strip_prefix("# as ")
                    .and_then(|r| Role::parse(r.trim()))
                    .unwrap_or_else(|| {
                        panic!("{at}: a GraphQL example starts with `# as ROLE` naming who sends it, not {first:?}")
                    });
                examples.push(Example {
                    at,
                    kind: "graphql",
                    role,
                    headers: vec![("Content-Type".into(), "application/json".into())],
                    body: serde_json::json!({ "query": block.text }).to_string(),
                });
            }
            "sh" if block.text.contains("curl") && block.text.contains("/graphql") => {
                examples.push(curl_example(at, &block.text));
            }
            _ => {}
        }
    }
    examples
}

/// The request a shell example's `curl` sends.
fn curl_example(at: String, script: &str) -> Example {
    let joined = script.replace("\\\n", " ");
    let role = joined
        .split("--role")
        .nth(1)
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_alphabetic())
                .find(|w| !w.is_empty())
        })
        .and_then(Role::parse)
        .unwrap_or_else(|| panic!("{at}: a curl example makes its token with `token --role ROLE`"));
    let command = joined
        .lines()
        .find(|l| l.trim_start().starts_with("curl "))
        .unwrap_or_else(|| panic!("{at}: no curl command"));
    let words = shlex::split(command).unwrap_or_else(|| panic!("{at}: unbalanced quotes"));
    let mut headers = Vec::new();
    let mut body = None;
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "-H" | "--header" => {
                let header = words.next().unwrap_or_default();
                let (name, value) = header
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{at}: header {header:?}"));
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            "-d" | "--data" | "--data-raw" => body = words.next(),
            _ => {}
        }
    }
    let body = body.unwrap_or_else(|| panic!("{at}: a curl example sends its body with -d"));
    Example {
        at,
        kind: "curl",
        role,
        headers,
        body,
    }
}

#[tokio::test]
async fn every_graphql_example_in_the_readme_answers_data_without_errors() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let examples = examples(&readme);
    assert!(
        examples.iter().any(|e| e.kind == "curl") && examples.iter().any(|e| e.kind == "graphql"),
        "the README's curl and GraphQL examples are found: {:?}",
        examples.iter().map(|e| &e.at).collect::<Vec<_>>()
    );

    let app = spawn_app().await;
    let options = DemoOptions {
        seed: demo::DEFAULT_SEED,
        scale: 0.01,
        progress: false,
    };
    demo::generate(&app.db.db, &options)
        .await
        .expect("demo data");
    for example in &examples {
        let token = app.as_role(example.role).token().to_owned();
        let mut request = app
            .client
            .post(format!("{}/graphql", app.address))
            .body(example.body.clone());
        let mut has_token = false;
        for (name, value) in &example.headers {
            let value = value.replace("$TOKEN", &token);
            has_token |= name.eq_ignore_ascii_case("Authorization");
            request = request.header(name, value);
        }
        if !has_token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let json: Value = response.json().await.expect("JSON answer");
        let at = &example.at;
        assert_eq!(status, 200, "{at}: {json}");
        assert!(json["errors"].is_null(), "{at} answers errors: {json}");
        let data = json["data"]
            .as_object()
            .unwrap_or_else(|| panic!("{at}: no data: {json}"));
        for (field, value) in data {
            if let Some(total) = value.get("totalCount") {
                assert!(
                    total.as_i64().is_some_and(|n| n > 0),
                    "{at}: {field} holds no rows: {json}"
                );
            }
        }
    }
}

#[test]
fn a_curl_example_is_read_as_written() {
    let script = "TOKEN=$(cargo run -q --release -- token --role CBP)\n\
                  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'X-Access-Purpose: case 7' \\\n  \
                  -d '{\"query\":\"{ me { role } }\"}' \\\n  http://127.0.0.1:8080/graphql";
    let example = curl_example("here".into(), script);
    assert_eq!(example.role, Role::Cbp);
    assert_eq!(
        example.headers,
        [
            ("Authorization".to_owned(), "Bearer $TOKEN".to_owned()),
            ("X-Access-Purpose".to_owned(), "case 7".to_owned())
        ]
    );
    assert_eq!(example.body, "{\"query\":\"{ me { role } }\"}");
    let readme = "text\n\n  ```graphql\n  # as STATE\n  { me { role } }\n  ```\n";
    let found = examples(readme);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].role, Role::State);
    assert!(
        found[0].body.contains("# as STATE\\n{ me { role } }"),
        "{}",
        found[0].body
    );
}
