//! The sea-orm entities of firearms-hub: one module per table, plus the enumerations the tables share.
//!
//! This crate depends on nothing of ours. Schema changes are made only in the `migration` crate; these
//! types describe the schema the migrations produce.

/// Implements `Related<super::$target::Entity>` for the module's `Entity`:
/// - `related!(trace => Trace)`: directly, through the module's `Relation::Trace`;
/// - `related!(seizure through seizure_firearm: Firearm -> Seizure)`: through a link table, from
///   the link's relation back to this entity (`Firearm`) to its relation to the target (`Seizure`).
macro_rules! related {
    ($target:ident => $relation:ident) => {
        impl Related<super::$target::Entity> for Entity {
            fn to() -> RelationDef {
                Relation::$relation.def()
            }
        }
    };
    ($target:ident through $link:ident: $from:ident -> $to:ident) => {
        impl Related<super::$target::Entity> for Entity {
            fn to() -> RelationDef {
                super::$link::Relation::$to.def()
            }
            fn via() -> Option<RelationDef> {
                Some(super::$link::Relation::$from.def().rev())
            }
        }
    };
}

pub mod access_grant;
pub mod agency;
pub mod audit_event;
pub mod demo_near_serial;
pub mod enums;
pub mod firearm;
pub mod firearm_link;
pub mod funding_award;
pub mod link_decision;
pub mod performance_measure;
pub mod performance_measure_version;
pub mod persisted_query;
pub mod seizure;
pub mod seizure_firearm;
pub mod trace;
pub mod training_event;

pub use enums::{
    Agency, CourseKind, Direction, Disposition, FirearmType, FundingCategory, LinkBasis,
    LinkDecisionKind, Role, SourceClass, TraceStatus,
};

pub mod prelude {
    pub use super::access_grant::Entity as AccessGrant;
    pub use super::agency::Entity as AgencyEntity;
    pub use super::audit_event::Entity as AuditEvent;
    pub use super::firearm::Entity as Firearm;
    pub use super::firearm_link::Entity as FirearmLink;
    pub use super::funding_award::Entity as FundingAward;
    pub use super::performance_measure::Entity as PerformanceMeasure;
    pub use super::seizure::Entity as Seizure;
    pub use super::seizure_firearm::Entity as SeizureFirearm;
    pub use super::trace::Entity as Trace;
    pub use super::training_event::Entity as TrainingEvent;
}
