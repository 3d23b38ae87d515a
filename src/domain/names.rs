//! Names as the API spells them.

/// A snake-case or upper-case name in the API's camel case: `recovery_state` and
/// `RECOVERY_STATE` both become `recoveryState`.
pub(crate) fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::camel_case;

    #[test]
    fn columns_and_enum_names_become_api_field_names() {
        assert_eq!(camel_case("recovery_state"), "recoveryState");
        assert_eq!(camel_case("RECOVERY_STATE"), "recoveryState");
        assert_eq!(camel_case("YEAR"), "year");
        assert_eq!(
            camel_case("etrace_accounts_granted"),
            "etraceAccountsGranted"
        );
    }
}
