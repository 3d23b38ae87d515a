//! The access policy: for each role and entity, which rows, which fields, which aggregates and
//! which writes. The default lives in `default.toml` beside this file and is compiled in; it is data,
//! not code. `Access` pairs a verified caller with the policy and answers every question the store
//! asks at its door.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use entity::{Agency, Role};
use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Deserialize;

use crate::auth::Caller;

/// The compiled-in default policy.
pub const DEFAULT_POLICY: &str = include_str!("default.toml");

/// The kinds of record the policy speaks about, named as in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EntityKind {
    Trace,
    Seizure,
    Training,
    FundingAward,
    Firearm,
    /// A link between two firearm records taken for the same gun: whether a role may learn that
    /// another agency holds the gun, and see that agency's record of it.
    FirearmLink,
    /// A pair of a seized firearm record and a traced one whose serials are one edit apart: whether
    /// a role may see that such a pair exists (as far as it reads both records), its details, and
    /// decide on it for its agency's side.
    LinkCandidate,
    AuditEvent,
}

impl EntityKind {
    pub const ALL: [EntityKind; 8] = [
        EntityKind::Trace,
        EntityKind::Seizure,
        EntityKind::Training,
        EntityKind::FundingAward,
        EntityKind::Firearm,
        EntityKind::FirearmLink,
        EntityKind::LinkCandidate,
        EntityKind::AuditEvent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Trace => "trace",
            EntityKind::Seizure => "seizure",
            EntityKind::Training => "training",
            EntityKind::FundingAward => "fundingAward",
            EntityKind::Firearm => "firearm",
            EntityKind::FirearmLink => "firearmLink",
            EntityKind::LinkCandidate => "linkCandidate",
            EntityKind::AuditEvent => "auditEvent",
        }
    }

    /// The agencies whose records of this entity the hub can hold.
    pub fn possible_owners(self) -> &'static [Agency] {
        match self {
            EntityKind::Trace => &[Agency::Atf],
            EntityKind::Seizure => &[Agency::Cbp, Agency::Ice],
            EntityKind::Training => &[Agency::Atf, Agency::State],
            EntityKind::FundingAward => &[Agency::State],
            EntityKind::Firearm | EntityKind::FirearmLink | EntityKind::LinkCandidate => {
                &[Agency::Atf, Agency::Ice, Agency::Cbp]
            }
            EntityKind::AuditEvent => &[],
        }
    }

    /// Parses the policy's name of an entity ("trace", "fundingAward").
    pub fn parse(name: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The entity whose API type has this name.
    pub fn from_type_name(name: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.type_name() == name)
    }

    /// The name of the entity's type in the API.
    pub fn type_name(self) -> &'static str {
        match self {
            EntityKind::Trace => "Trace",
            EntityKind::Seizure => "Seizure",
            EntityKind::Training => "Training",
            EntityKind::FundingAward => "FundingAward",
            EntityKind::Firearm => "Firearm",
            EntityKind::FirearmLink => "FirearmLink",
            EntityKind::LinkCandidate => "LinkCandidate",
            EntityKind::AuditEvent => "AuditEvent",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which rows of an entity a role reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rows {
    All,
    /// Rows owned by the caller's agency.
    Own,
    /// Funding awards the caller's agency implements.
    Implementing,
    /// Firearms of a trace or seizure the caller may read.
    Linked,
    None,
}

/// What a role gets from the `…Stats` queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregates {
    Exact,
    Suppressed,
    #[default]
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityRule {
    pub rows: Rows,
    #[serde(default)]
    pub aggregates: Aggregates,
    #[serde(default)]
    pub hidden: Vec<String>,
    #[serde(default)]
    pub scoped: BTreeMap<String, String>,
    #[serde(default)]
    pub write: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub suppression_threshold: i64,
    /// The cell key method's parameters (`[perturbation]`, defaults when absent).
    #[serde(default)]
    pub perturbation: suppression::PerturbationSettings,
    /// The perturbation table built from them when the policy is parsed.
    #[serde(skip)]
    pub(crate) ptable: Option<Arc<suppression::PTable>>,
    pub roles: BTreeMap<Role, BTreeMap<EntityKind, EntityRule>>,
}

/// One field of an entity's API type, as the store's descriptor of the entity states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldInfo {
    pub name: &'static str,
    /// Whether a policy may hide the field (or gate it by scope): the store blanks it and the API
    /// answers `null` with FORBIDDEN. A field the API filters, sorts or groups by, or that is never
    /// null, is not hideable.
    pub hideable: bool,
    /// For an edge, the entity whose rows it leads to.
    pub leads_to: Option<EntityKind>,
}

/// The fields of every entity, from the store's descriptors: what a policy is checked against.
pub(crate) type Catalogue = BTreeMap<EntityKind, Vec<FieldInfo>>;

impl Policy {
    /// The compiled-in default policy.
    pub fn default_policy() -> Policy {
        // The default is part of the binary and covered by tests; failing to parse it is a bug.
        Policy::parse(DEFAULT_POLICY).expect("the compiled-in default policy is valid")
    }

    /// The policy of the settings: the file they name, or the compiled-in default.
    pub fn load(settings: &crate::config::PolicySettings) -> anyhow::Result<Policy> {
        match &settings.file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read the policy file {}: {e}", path.display())
                })?;
                Policy::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
            None => Ok(Policy::default_policy()),
        }
    }

    /// Checks the policy against the entities' fields: every field it hides or gates by scope
    /// exists, and is one the store can withhold.
    pub fn check_fields(&self, catalogue: &Catalogue) -> anyhow::Result<()> {
        for kind in EntityKind::ALL {
            let fields = catalogue.get(&kind).map_or(&[][..], Vec::as_slice);
            let hideable: Vec<&str> = fields
                .iter()
                .filter(|f| f.hideable)
                .map(|f| f.name)
                .collect();
            for role in Role::ALL {
                let rule = self.rule(*role, kind);
                for field in rule.hidden.iter().chain(rule.scoped.keys()) {
                    anyhow::ensure!(
                        fields.iter().any(|f| f.name == field),
                        "invalid policy: role {role}, {kind}: unknown field '{field}'"
                    );
                    anyhow::ensure!(
                        hideable.contains(&field.as_str()),
                        "invalid policy: role {role}, {kind}: '{field}' cannot be hidden: the API filters, sorts or groups by it, or it is never null; the fields of {kind} a policy can hide are: {}",
                        if hideable.is_empty() {
                            "none".to_owned()
                        } else {
                            hideable.join(", ")
                        }
                    );
                }
            }
        }
        Ok(())
    }

    /// Parses and validates a policy document.
    pub fn parse(text: &str) -> anyhow::Result<Policy> {
        let mut policy: Policy = Figment::from(Toml::string(text))
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid policy: {e}"))?;
        policy.validate()?;
        policy.ptable = Some(Arc::new(suppression::PTable::new(
            &policy.perturbation,
            policy.suppression_threshold,
        )));
        Ok(policy)
    }

    /// Every role decides every entity. The fields it names are checked against the entities'
    /// descriptors by [`Policy::check_fields`].
    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.suppression_threshold >= 1,
            "invalid policy: suppression_threshold must be at least 1"
        );
        self.perturbation.validate(self.suppression_threshold)?;
        for role in Role::ALL {
            let entities = self
                .roles
                .get(role)
                .ok_or_else(|| anyhow::anyhow!("invalid policy: role {role} has no rules"))?;
            for kind in EntityKind::ALL {
                anyhow::ensure!(
                    entities.contains_key(&kind),
                    "invalid policy: role {role} has no decision for {kind}"
                );
            }
            let links = &entities[&EntityKind::FirearmLink];
            anyhow::ensure!(
                matches!(links.rows, Rows::All | Rows::None)
                    && links.aggregates == Aggregates::None
                    && !links.write,
                "invalid policy: role {role}, firearmLink: rows must be \"all\" or \"none\", without aggregates or write"
            );
            let candidates = &entities[&EntityKind::LinkCandidate];
            anyhow::ensure!(
                matches!(candidates.rows, Rows::All | Rows::None)
                    && candidates.aggregates == Aggregates::None,
                "invalid policy: role {role}, linkCandidate: rows must be \"all\" or \"none\", without aggregates"
            );
        }
        Ok(())
    }

    pub fn rule(&self, role: Role, kind: EntityKind) -> &EntityRule {
        // `validate` guarantees every role has a rule for every entity.
        &self.roles[&role][&kind]
    }
}

/// What one request touched, for its audit event, and whether rows were withheld for want of a
/// stated purpose.
#[derive(Debug, Default)]
pub struct Trail {
    inner: std::sync::Mutex<TrailState>,
}

#[derive(Debug, Default, Clone)]
pub struct TrailState {
    pub entities: std::collections::BTreeSet<EntityKind>,
    pub owners: std::collections::BTreeSet<Agency>,
    pub rows: i64,
    pub withheld: bool,
}

impl Trail {
    fn update(&self, f: impl FnOnce(&mut TrailState)) {
        // A poisoned lock only means another resolver panicked; the record is still usable.
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state);
    }

    pub fn snapshot(&self) -> TrailState {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What was touched since the last take, leaving the trail empty: one subscription's trail
    /// accounts for each delivery apart.
    pub fn take(&self) -> TrailState {
        std::mem::take(&mut *self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The longest purpose a caller may state.
pub(crate) const MAX_PURPOSE_CHARS: usize = 200;

/// Checks a stated purpose of access (`X-Access-Purpose`): a case number or a short reason.
pub(crate) fn validate_purpose(text: &str) -> Result<String, String> {
    let purpose = text.trim();
    let length = purpose.chars().count();
    if !(3..=MAX_PURPOSE_CHARS).contains(&length) {
        return Err(format!(
            "X-Access-Purpose must be 3 to {MAX_PURPOSE_CHARS} characters: a case number or a short reason"
        ));
    }
    let allowed = |c: char| c.is_alphanumeric() || " -_.,:;/#()'&".contains(c);
    if let Some(bad) = purpose.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "X-Access-Purpose may hold letters, digits, spaces and - _ . , : ; / # ( ) ' &, not {bad:?}"
        ));
    }
    Ok(purpose.to_owned())
}

/// A verified caller under a policy: what the store asks at its door.
#[derive(Debug, Clone)]
pub struct Access {
    pub caller: Caller,
    pub policy: Arc<Policy>,
    /// The purpose the request states for reading other agencies' rows.
    pub purpose: Option<String>,
    pub trail: Arc<Trail>,
    /// Oversight's time-boxed grants in force for the caller's role.
    pub grants: Vec<Grant>,
}

/// A grant in force: the caller's role may read rows of `entity` matching `rows` (the grant's row
/// filter, compiled once when the grant is loaded; every row when `None`).
#[derive(Debug, Clone)]
pub struct Grant {
    pub id: i64,
    pub entity: EntityKind,
    pub rows: Option<sea_orm::Condition>,
}

impl Access {
    pub fn new(caller: Caller, policy: Arc<Policy>) -> Access {
        Access {
            caller,
            policy,
            purpose: None,
            trail: Arc::new(Trail::default()),
            grants: Vec::new(),
        }
    }

    /// The same caller with the grants in force for its role.
    pub fn with_grants(mut self, grants: Vec<Grant>) -> Access {
        self.grants = grants;
        self
    }

    /// The grants in force for an entity.
    pub fn grants_for(&self, kind: EntityKind) -> impl Iterator<Item = &Grant> {
        self.grants.iter().filter(move |g| g.entity == kind)
    }

    /// The same caller stating a purpose of access.
    pub fn with_purpose(mut self, purpose: Option<String>) -> Access {
        self.purpose = purpose;
        self
    }

    /// Whether reading this entity's rows reaches rows other agencies own, which needs a purpose.
    pub fn needs_purpose(&self, kind: EntityKind) -> bool {
        self.purpose.is_none()
            && kind
                .possible_owners()
                .iter()
                .any(|owner| Some(*owner) != self.agency())
    }

    /// Records that rows of other agencies were left out for want of a purpose.
    pub fn withhold(&self) {
        self.trail.update(|t| t.withheld = true);
    }

    /// The same caller on a trail of its own, for the reads a write makes to find its own record:
    /// they read no other agency's rows, so they must not report rows withheld, and the write
    /// records its own audit event.
    pub fn for_write(&self) -> Access {
        Access {
            trail: Arc::new(Trail::default()),
            ..self.clone()
        }
    }

    /// Records what a read or write touched.
    pub fn touched(&self, kind: EntityKind, owners: impl IntoIterator<Item = Agency>, rows: usize) {
        self.trail.update(|t| {
            t.entities.insert(kind);
            t.owners.extend(owners);
            t.rows += rows as i64;
        });
    }

    pub fn role(&self) -> Role {
        self.caller.role
    }

    /// The agency the caller acts for; `None` for oversight.
    pub fn agency(&self) -> Option<Agency> {
        self.caller.role.agency()
    }

    pub fn rule(&self, kind: EntityKind) -> &EntityRule {
        self.policy.rule(self.caller.role, kind)
    }

    /// Whether the caller may read this field of the entity's rows.
    pub fn can_read_field(&self, kind: EntityKind, field: &str) -> bool {
        let rule = self.rule(kind);
        if rule.hidden.iter().any(|f| f == field) {
            return false;
        }
        match rule.scoped.get(field) {
            Some(scope) => self.caller.has_scope(scope),
            None => true,
        }
    }

    pub fn can_write(&self, kind: EntityKind) -> bool {
        self.rule(kind).write && self.agency().is_some()
    }

    pub fn suppression_threshold(&self) -> i64 {
        self.policy.suppression_threshold
    }

    /// The perturbation table protecting aggregate-only answers.
    pub(crate) fn ptable(&self) -> Arc<suppression::PTable> {
        match &self.policy.ptable {
            Some(table) => table.clone(),
            None => Arc::new(suppression::PTable::new(
                &self.policy.perturbation,
                self.policy.suppression_threshold,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_decides_every_role_and_entity() {
        let policy = Policy::default_policy();
        assert_eq!(policy.suppression_threshold, 5);
        assert_eq!(policy.rule(Role::Cbp, EntityKind::Trace).rows, Rows::None);
        assert_eq!(
            policy.rule(Role::Ice, EntityKind::Trace).hidden,
            vec!["purchaserName".to_owned(), "dealerLicense".to_owned()]
        );
    }

    #[test]
    fn a_policy_missing_a_decision_or_naming_an_unknown_field_is_refused() {
        let missing = DEFAULT_POLICY.replace("[roles.CBP.training]", "[roles.CBP.ignored]");
        let error = Policy::parse(&missing).expect_err("refused");
        assert!(
            error.to_string().contains("ignored") || error.to_string().contains("training"),
            "{error}"
        );

        let unknown = DEFAULT_POLICY.replace("hidden = [\"caseNumber\"]", "hidden = [\"caseNo\"]");
        let error = Policy::parse(&unknown)
            .expect("parses")
            .check_fields(&crate::store::catalogue())
            .expect_err("refused");
        assert!(error.to_string().contains("caseNo"), "{error}");
    }
}

pub mod suppression;
