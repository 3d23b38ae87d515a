//! Enumerations stored as short upper-case strings, identical on SQLite and PostgreSQL. The stored
//! value is the same word the GraphQL API and the import files use.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A code list: an enumeration stored and exchanged as short upper-case words.
pub trait Code: Copy + 'static {
    /// Every value, in declaration order.
    const ALL: &'static [Self];
    /// Parses the external spelling, ignoring case and treating spaces and dashes as underscores.
    fn parse(text: &str) -> Option<Self>;
    /// The stored and external spelling of a value.
    fn as_str(self) -> &'static str;
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
        #[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $(
                #[sea_orm(string_value = $value)]
                #[serde(rename = $value)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and external spelling of this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value,)+
                }
            }

            /// Parses the external spelling, ignoring case and treating spaces and dashes as underscores.
            pub fn parse(text: &str) -> Option<Self> {
                let wanted = text.trim().to_ascii_uppercase().replace([' ', '-'], "_");
                Self::ALL.iter().copied().find(|v| v.as_str() == wanted)
            }
        }

        impl Code for $name {
            const ALL: &'static [$name] = $name::ALL;
            fn parse(text: &str) -> Option<Self> {
                $name::parse(text)
            }
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// A U.S. agency that owns data in the hub.
    Agency { Atf = "ATF", Ice = "ICE", Cbp = "CBP", State = "STATE" }
);

string_enum!(
    /// What a caller acts as: an owning agency, or the working group's oversight.
    Role { Atf = "ATF", Ice = "ICE", Cbp = "CBP", State = "STATE", Oversight = "OVERSIGHT" }
);

string_enum!(
    /// What became of a seizure's firearms.
    Disposition {
        RetainedAsEvidence = "RETAINED_AS_EVIDENCE",
        ReturnedToOwner = "RETURNED_TO_OWNER",
        Destroyed = "DESTROYED",
        TransferredToAtf = "TRANSFERRED_TO_ATF",
    }
);

string_enum!(
    /// Where a traced firearm came from.
    SourceClass {
        UsManufactured = "US_MANUFACTURED",
        UsImported = "US_IMPORTED",
        Foreign = "FOREIGN",
        Undetermined = "UNDETERMINED",
    }
);

string_enum!(
    /// How far a trace got.
    TraceStatus {
        Pending = "PENDING",
        Completed = "COMPLETED",
        NoPurchaserIdentified = "NO_PURCHASER_IDENTIFIED",
        NotTraceable = "NOT_TRACEABLE",
    }
);

string_enum!(
    /// The kind of firearm.
    FirearmType {
        Pistol = "PISTOL",
        Revolver = "REVOLVER",
        Rifle = "RIFLE",
        Shotgun = "SHOTGUN",
        MachineGun = "MACHINE_GUN",
        Other = "OTHER",
    }
);

string_enum!(
    /// Which way a seizure's firearms were headed.
    Direction { Outbound = "OUTBOUND", Inbound = "INBOUND", Interior = "INTERIOR" }
);

string_enum!(
    /// The kind of course a training event taught.
    CourseKind {
        Etrace = "ETRACE",
        FirearmsIdentification = "FIREARMS_IDENTIFICATION",
        Forensics = "FORENSICS",
        Canine = "CANINE",
        Inspection = "INSPECTION",
        Other = "OTHER",
    }
);

string_enum!(
    /// What a funding award pays for.
    FundingCategory {
        ForensicsTraining = "FORENSICS_TRAINING",
        InspectionEquipment = "INSPECTION_EQUIPMENT",
        Canines = "CANINES",
        EtraceOutreach = "ETRACE_OUTREACH",
        FirearmsIdentification = "FIREARMS_IDENTIFICATION",
        Other = "OTHER",
    }
);

impl Agency {
    /// The role a caller from this agency acts as.
    pub fn role(self) -> Role {
        match self {
            Agency::Atf => Role::Atf,
            Agency::Ice => Role::Ice,
            Agency::Cbp => Role::Cbp,
            Agency::State => Role::State,
        }
    }
}

impl Role {
    /// The agency this role acts for; `None` for oversight, which owns no data.
    pub fn agency(self) -> Option<Agency> {
        match self {
            Role::Atf => Some(Agency::Atf),
            Role::Ice => Some(Agency::Ice),
            Role::Cbp => Some(Agency::Cbp),
            Role::State => Some(Agency::State),
            Role::Oversight => None,
        }
    }
}

impl FirearmType {
    /// Pistols and revolvers.
    pub fn is_handgun(self) -> bool {
        matches!(self, FirearmType::Pistol | FirearmType::Revolver)
    }
}

impl SourceClass {
    /// U.S.-manufactured or U.S.-imported.
    pub fn is_us_sourced(self) -> bool {
        matches!(self, SourceClass::UsManufactured | SourceClass::UsImported)
    }
}

string_enum!(
    /// Why two firearm records are taken for the same gun: `EXACT_SERIAL_MANUFACTURER`, the same
    /// normalized serial and the same normalized manufacturer; `CONFIRMED_NEAR_SERIAL`, serials
    /// one edit apart that both agencies confirmed are the same gun's.
    LinkBasis {
        ExactSerialManufacturer = "EXACT_SERIAL_MANUFACTURER",
        ConfirmedNearSerial = "CONFIRMED_NEAR_SERIAL",
    }
);

string_enum!(
    /// An agency's decision on a link candidate: the two records are the same gun's, or not.
    LinkDecisionKind {
        Confirm = "CONFIRM",
        Reject = "REJECT",
    }
);
