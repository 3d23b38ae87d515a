//! Reference lists the generator draws from: firearm models, Mexican recovery states and their
//! municipalities, U.S. purchase states and southwest border ports of entry. Weights are relative.

/// One firearm model. `weights` are relative frequencies per source class, in the order
/// U.S.-manufactured, U.S.-imported, foreign, undetermined.
pub(super) struct Model {
    pub manufacturer: &'static str,
    pub model: &'static str,
    pub caliber: &'static str,
    /// Country of manufacture when not made in the United States.
    pub country: &'static str,
    /// U.S. importer of record, for imported models.
    pub importer: Option<&'static str>,
    /// Serial prefix; empty for all-digit serials.
    pub serial_prefix: &'static str,
    pub weights: [u32; 4],
}

const fn m(
    manufacturer: &'static str,
    model: &'static str,
    caliber: &'static str,
    country: &'static str,
    importer: Option<&'static str>,
    serial_prefix: &'static str,
    weights: [u32; 4],
) -> Model {
    Model {
        manufacturer,
        model,
        caliber,
        country,
        importer,
        serial_prefix,
        weights,
    }
}

#[rustfmt::skip]
pub(super) const PISTOLS: &[Model] = &[
    m("Glock", "19", "9mm", "AT", Some("Glock Inc."), "GLK", [14, 44, 34, 34]),
    m("Taurus", "PT111 G2", "9mm", "BR", Some("Taurus International"), "TAU", [5, 22, 14, 18]),
    m("Smith & Wesson", "M&P9", "9mm", "US", None, "SWM", [16, 0, 0, 6]),
    m("Beretta", "92FS", "9mm", "IT", Some("Beretta USA"), "BER", [3, 8, 14, 6]),
    m("SIG Sauer", "P320", "9mm", "US", None, "", [10, 0, 0, 3]),
    m("Ruger", "SR9", "9mm", "US", None, "RUG", [12, 0, 0, 4]),
    m("Springfield Armory", "XD9", "9mm", "HR", Some("Springfield Armory"), "XD", [0, 9, 0, 3]),
    m("Hi-Point", "C9", "9mm", "US", None, "P", [9, 0, 0, 3]),
    m("Colt", "Government", ".38 Super", "US", None, "CLT", [3, 0, 0, 1]),
    m("Ruger", "Mark IV", ".22", "US", None, "", [8, 0, 0, 3]),
    m("Taurus", "TX22", ".22", "BR", Some("Taurus International"), "TX", [0, 4, 2, 2]),
    m("FN Herstal", "Five-seveN", "5.7mm", "BE", Some("FN America"), "386", [0, 2, 4, 2]),
    m("Bersa", "Thunder 380", ".380", "AR", Some("Eagle Imports"), "", [0, 2, 3, 1]),
    m("Glock", "22", ".40", "AT", Some("Glock Inc."), "GLK", [1, 2, 1, 1]),
];

#[rustfmt::skip]
pub(super) const REVOLVERS: &[Model] = &[
    m("Heritage", "Rough Rider", ".22", "US", None, "H", [15, 0, 0, 6]),
    m("Ruger", "Single-Six", ".22", "US", None, "", [9, 0, 0, 3]),
    m("Smith & Wesson", "Model 617", ".22", "US", None, "SW", [6, 0, 0, 2]),
    m("Taurus", "Model 94", ".22", "BR", Some("Taurus International"), "TAU", [0, 35, 24, 12]),
    m("Smith & Wesson", "Model 686", ".357", "US", None, "SW", [12, 0, 0, 4]),
    m("Ruger", "LCR", ".38", "US", None, "", [10, 0, 0, 3]),
    m("Colt", "Python", ".357", "US", None, "CLT", [4, 0, 0, 2]),
    m("Taurus", "Model 85", ".38", "BR", Some("Taurus International"), "TAU", [0, 45, 40, 12]),
    m("Rossi", "R352", ".38", "BR", Some("BrazTech"), "", [0, 25, 40, 8]),
];

#[rustfmt::skip]
pub(super) const RIFLES: &[Model] = &[
    m("Century Arms", "WASR-10", "7.62mm", "RO", Some("Century International Arms"), "CAI", [12, 60, 40, 42]),
    m("Colt", "M4 Carbine", "5.56mm", "US", None, "LE", [11, 0, 0, 4]),
    m("Smith & Wesson", "M&P15", "5.56mm", "US", None, "SWM", [10, 0, 0, 3]),
    m("Palmetto State Armory", "PA-15", "5.56mm", "US", None, "PSA", [7, 0, 0, 2]),
    m("Ruger", "Mini-14", "5.56mm", "US", None, "", [5, 0, 0, 2]),
    m("Ruger", "10/22", ".22", "US", None, "", [16, 0, 0, 6]),
    m("Marlin", "Model 60", ".22", "US", None, "", [10, 0, 0, 4]),
    m("Savage", "Mark II", ".22", "US", None, "", [4, 0, 0, 1]),
    m("Kel-Tec", "SUB2000", "9mm", "US", None, "KT", [7, 0, 0, 3]),
    m("Norinco", "MAK-90", "7.62mm", "CN", Some("KFS Industries"), "", [0, 10, 14, 10]),
    m("FN Herstal", "FAL", "7.62mm", "BE", Some("FN America"), "FN", [0, 3, 10, 3]),
    m("Heckler & Koch", "G3", "7.62mm", "DE", Some("HK USA"), "HK", [0, 2, 10, 3]),
    m("Zastava", "PAP M70", "7.62mm", "RS", Some("Zastava USA"), "Z", [0, 10, 6, 4]),
];

#[rustfmt::skip]
pub(super) const RIFLES_50: &[Model] = &[
    m("Barrett", "M82A1", ".50", "US", None, "BAR", [70, 0, 0, 10]),
    m("ArmaLite", "AR-50", ".50", "US", None, "AR", [30, 0, 0, 5]),
    m("Zastava", "M93 Black Arrow", ".50", "RS", Some("Zastava USA"), "Z", [0, 10, 10, 5]),
];

#[rustfmt::skip]
pub(super) const SHOTGUNS: &[Model] = &[
    m("Remington", "870", "12 gauge", "US", None, "RS", [12, 0, 0, 4]),
    m("Mossberg", "500", "12 gauge", "US", None, "U", [12, 0, 0, 4]),
    m("Maverick", "88", "12 gauge", "US", None, "MV", [6, 0, 0, 2]),
    m("Stoeger", "P3000", "12 gauge", "TR", Some("Stoeger Industries"), "ST", [0, 10, 4, 3]),
    m("Beretta", "A300", "12 gauge", "IT", Some("Beretta USA"), "XA", [0, 6, 6, 2]),
];

#[rustfmt::skip]
pub(super) const OTHERS: &[Model] = &[
    m("Intratec", "TEC-9", "9mm", "US", None, "", [30, 0, 0, 10]),
    m("Masterpiece Arms", "MPA30", "9mm", "US", None, "MPA", [20, 0, 0, 6]),
    m("IMI", "Uzi", "9mm", "IL", Some("Action Arms"), "SA", [0, 30, 40, 10]),
    m("Chiappa", "Little Badger", ".22", "IT", Some("MKS Supply"), "CH", [0, 15, 10, 5]),
    m("Bond Arms", "Roughneck", ".357", "US", None, "BA", [15, 0, 0, 5]),
];

/// Mexican recovery states with relative weights and municipalities (the first is the most likely).
pub(super) const MX_RECOVERY: &[(&str, u32, &[&str])] = &[
    (
        "MX-TAM",
        140,
        &["Reynosa", "Nuevo Laredo", "Matamoros", "Ciudad Victoria"],
    ),
    (
        "MX-SON",
        110,
        &["Hermosillo", "Nogales", "San Luis Río Colorado", "Cajeme"],
    ),
    ("MX-CHH", 90, &["Ciudad Juárez", "Chihuahua", "Ojinaga"]),
    ("MX-JAL", 90, &["Guadalajara", "Zapopan", "Tlaquepaque"]),
    ("MX-GUA", 80, &["Celaya", "León", "Irapuato"]),
    ("MX-BCN", 80, &["Tijuana", "Mexicali", "Ensenada"]),
    ("MX-NLE", 60, &["Monterrey", "Guadalupe", "Apodaca"]),
    ("MX-MIC", 60, &["Morelia", "Uruapan", "Apatzingán"]),
    ("MX-GRO", 50, &["Acapulco", "Chilpancingo", "Iguala"]),
    ("MX-SIN", 50, &["Culiacán", "Mazatlán", "Los Mochis"]),
    (
        "MX-CMX",
        40,
        &["Iztapalapa", "Gustavo A. Madero", "Cuauhtémoc"],
    ),
    ("MX-MEX", 40, &["Ecatepec", "Toluca", "Nezahualcóyotl"]),
    ("MX-COA", 30, &["Saltillo", "Torreón", "Piedras Negras"]),
    ("MX-ZAC", 30, &["Zacatecas", "Fresnillo"]),
    ("MX-DUR", 20, &["Durango", "Gómez Palacio"]),
    ("MX-SLP", 20, &["San Luis Potosí", "Ciudad Valles"]),
    ("MX-VER", 20, &["Veracruz", "Xalapa", "Coatzacoalcos"]),
    ("MX-PUE", 15, &["Puebla", "Tehuacán"]),
    ("MX-MOR", 15, &["Cuernavaca", "Cuautla"]),
    ("MX-COL", 15, &["Colima", "Manzanillo"]),
    ("MX-OAX", 10, &["Oaxaca de Juárez", "Juchitán"]),
    ("MX-QUE", 10, &["Querétaro", "San Juan del Río"]),
    ("MX-HID", 10, &["Pachuca", "Tula de Allende"]),
    ("MX-NAY", 10, &["Tepic"]),
    ("MX-AGU", 8, &["Aguascalientes"]),
    ("MX-BCS", 8, &["La Paz", "Los Cabos"]),
    ("MX-CHP", 8, &["Tuxtla Gutiérrez", "Tapachula"]),
    ("MX-TAB", 8, &["Villahermosa", "Cárdenas"]),
    ("MX-ROO", 8, &["Cancún", "Chetumal"]),
    ("MX-CAM", 5, &["Campeche", "Ciudad del Carmen"]),
    ("MX-YUC", 5, &["Mérida"]),
    ("MX-TLA", 5, &["Tlaxcala"]),
];

/// U.S. states of first retail sale of firearms traced to a purchaser, with relative weights.
pub(super) const US_PURCHASE: &[(&str, u32)] = &[
    ("TX", 430),
    ("AZ", 220),
    ("CA", 90),
    ("NM", 30),
    ("FL", 30),
    ("GA", 22),
    ("NV", 20),
    ("CO", 18),
    ("OK", 18),
    ("IL", 16),
    ("WA", 12),
    ("OR", 10),
    ("UT", 10),
    ("LA", 10),
    ("NC", 10),
    ("TN", 10),
    ("OH", 8),
    ("MI", 8),
    ("IN", 8),
    ("PA", 8),
    ("VA", 6),
    ("KS", 6),
    ("MO", 6),
    ("AL", 6),
];

/// Southwest border ports of entry with their state.
pub(super) const PORTS_OF_ENTRY: &[(&str, &str, u32)] = &[
    ("Laredo", "TX", 18),
    ("El Paso", "TX", 14),
    ("Hidalgo", "TX", 10),
    ("Brownsville", "TX", 8),
    ("Eagle Pass", "TX", 6),
    ("Del Rio", "TX", 4),
    ("Nogales", "AZ", 16),
    ("Douglas", "AZ", 6),
    ("San Luis", "AZ", 5),
    ("Lukeville", "AZ", 2),
    ("San Ysidro", "CA", 9),
    ("Otay Mesa", "CA", 6),
    ("Calexico", "CA", 5),
    ("Santa Teresa", "NM", 3),
    ("Columbus", "NM", 2),
];

/// How smugglers hid firearms in seizures.
pub(super) const CONCEALMENT: &[&str] = &[
    "Vehicle floor compartment",
    "Spare tire",
    "Fuel tank",
    "Door panels",
    "Dashboard",
    "Luggage",
    "On person",
    "Commercial cargo",
    "Not concealed",
];
