//! Code lists the data is validated against.

/// The 32 Mexican states, ISO 3166-2:MX, with their names.
pub(crate) const MX_STATES: [(&str, &str); 32] = [
    ("MX-AGU", "Aguascalientes"),
    ("MX-BCN", "Baja California"),
    ("MX-BCS", "Baja California Sur"),
    ("MX-CAM", "Campeche"),
    ("MX-CHP", "Chiapas"),
    ("MX-CHH", "Chihuahua"),
    ("MX-CMX", "Ciudad de México"),
    ("MX-COA", "Coahuila"),
    ("MX-COL", "Colima"),
    ("MX-DUR", "Durango"),
    ("MX-GUA", "Guanajuato"),
    ("MX-GRO", "Guerrero"),
    ("MX-HID", "Hidalgo"),
    ("MX-JAL", "Jalisco"),
    ("MX-MEX", "Estado de México"),
    ("MX-MIC", "Michoacán"),
    ("MX-MOR", "Morelos"),
    ("MX-NAY", "Nayarit"),
    ("MX-NLE", "Nuevo León"),
    ("MX-OAX", "Oaxaca"),
    ("MX-PUE", "Puebla"),
    ("MX-QUE", "Querétaro"),
    ("MX-ROO", "Quintana Roo"),
    ("MX-SLP", "San Luis Potosí"),
    ("MX-SIN", "Sinaloa"),
    ("MX-SON", "Sonora"),
    ("MX-TAB", "Tabasco"),
    ("MX-TAM", "Tamaulipas"),
    ("MX-TLA", "Tlaxcala"),
    ("MX-VER", "Veracruz"),
    ("MX-YUC", "Yucatán"),
    ("MX-ZAC", "Zacatecas"),
];

/// USPS codes of the 50 states, the District of Columbia and the inhabited territories.
pub(crate) const US_STATES: [&str; 56] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC", "PR", "GU", "VI", "AS", "MP",
];

/// Whether `code` is an ISO 3166-2:MX state code such as "MX-SON".
pub(crate) fn is_mx_state(code: &str) -> bool {
    MX_STATES.iter().any(|(c, _)| *c == code)
}

/// Whether `code` is a USPS state or territory code such as "TX".
pub(crate) fn is_us_state(code: &str) -> bool {
    US_STATES.contains(&code)
}

/// Whether `code` looks like an ISO 3166-1 alpha-2 country code (two upper-case letters).
pub(crate) fn is_country_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_lists_are_complete_and_distinct() {
        let mut mx: Vec<_> = MX_STATES.iter().map(|(c, _)| *c).collect();
        mx.sort_unstable();
        mx.dedup();
        assert_eq!(mx.len(), 32);
        let mut us = US_STATES.to_vec();
        us.sort_unstable();
        us.dedup();
        assert_eq!(us.len(), 56);
        assert!(is_mx_state("MX-SON") && !is_mx_state("SON") && !is_mx_state("MX-XXX"));
        assert!(is_us_state("TX") && !is_us_state("tx") && !is_us_state("ZZ"));
    }
}
