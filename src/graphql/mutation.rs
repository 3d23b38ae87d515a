//! The mutations: each agency creates, changes and deletes only the records it owns. Writes go
//! through the import core (the same validation as bulk import) and the store's write door; what a
//! mutation returns is read back through the store, so it too is the caller's slice.

use async_graphql::{Context, ID, MergedObject, Object, SimpleObject};

use super::args::row_id;
use super::context::{RequestContext, request};
use super::errors::ResultExt;
use super::types::{FundingAward, Seizure, Trace, Training};
use super::write_inputs::*;
use crate::error::Error;
use crate::import::{self, ImportOptions, ImportOutcome, RowError};
use crate::policy::EntityKind;
use crate::store::{scope::writer_agency, writes};

/// How many rows one import mutation may carry.
pub(crate) const MAX_IMPORT_ROWS: usize = 5_000;

#[derive(MergedObject, Default)]
pub(crate) struct Mutation(
    TraceMutation,
    SeizureMutation,
    TrainingMutation,
    FundingMutation,
    super::links::LinkCandidateMutation,
    super::grants::GrantMutation,
    super::measures::MeasureMutation,
);

/// An import column ("recovery_state", "firearms[0].firearm_type") as the API's field path
/// ("recoveryState", "firearms[0].type").
pub(crate) fn api_field(column: &str) -> String {
    use crate::domain::names::camel_case as camel;
    let firearm = |rest: &str| {
        if rest == "type" {
            "type".to_owned()
        } else {
            camel(rest)
        }
    };
    if let Some((prefix, rest)) = column.split_once("].firearm_") {
        return format!("{prefix}].{}", firearm(rest));
    }
    if let Some(rest) = column.strip_prefix("firearm_") {
        return format!("firearm.{}", firearm(rest));
    }
    camel(column)
}

/// The error of a single-record write refused by validation: every problem, the first field named.
fn write_error(error: import::ImportError) -> Error {
    match error {
        import::ImportError::Rejected { errors, .. } => {
            let field = errors
                .iter()
                .find_map(|e| e.field.as_deref())
                .map(api_field)
                .unwrap_or_else(|| "input".to_owned());
            let reason = errors
                .iter()
                .map(|e| match &e.field {
                    Some(f) => format!("{}: {}", api_field(f), e.message),
                    None => e.message.clone(),
                })
                .collect::<Vec<_>>()
                .join("; ");
            // The field is named in `extensions.field` and in the reason.
            match errors.len() {
                1 => Error::invalid(field, errors[0].message.clone()),
                _ => Error::invalid(field, reason),
            }
        }
        import::ImportError::Options(reason) => Error::invalid("input", reason),
        import::ImportError::Conflict => Error::Conflict(
            "the record was created or changed by someone else meanwhile; read it again and reapply the change".into(),
        ),
        import::ImportError::Database(e) => Error::from(e),
    }
}

fn options(
    r: &RequestContext,
    kind: EntityKind,
    dry_run: bool,
    operation: &str,
) -> async_graphql::Result<ImportOptions> {
    let agency = writer_agency(&r.access, kind).gql()?;
    let source = format!(
        "api:{}",
        r.access.caller.subject.chars().take(58).collect::<String>()
    );
    Ok(ImportOptions {
        dry_run,
        acting_agency: Some(agency),
        reader: Some(r.access.clone()),
        audit: Some(r.write_event(operation, kind)),
        events: r.events.clone(),
        ..ImportOptions::new(source)
    })
}

async fn refuse_taken(
    r: &RequestContext,
    kind: EntityKind,
    field: &str,
    key: &str,
) -> async_graphql::Result<()> {
    if writes::natural_key_taken(&r.db, &r.access, kind, key)
        .await
        .gql()?
    {
        return Err(Error::Conflict(format!(
            "{field} '{key}' already exists; use the update mutation to change it"
        )))
        .gql();
    }
    Ok(())
}

/// The outcome of a bulk import.
#[derive(SimpleObject)]
pub(crate) struct ImportReport {
    pub accepted: i64,
    pub rejected: i64,
    pub errors: Vec<ImportProblem>,
    pub dry_run: bool,
}

/// One problem of one row: the row's 1-based position in `rows`, the field, what is wrong.
#[derive(SimpleObject)]
#[graphql(name = "ImportError")]
pub(crate) struct ImportProblem {
    pub row: i64,
    pub field: Option<String>,
    pub message: String,
}

fn report(
    result: Result<ImportOutcome, import::ImportError>,
    dry_run: bool,
) -> async_graphql::Result<ImportReport> {
    match result {
        Ok(outcome) => Ok(ImportReport {
            accepted: (outcome.inserted + outcome.updated + outcome.unchanged) as i64,
            rejected: 0,
            errors: Vec::new(),
            dry_run,
        }),
        Err(import::ImportError::Rejected { errors, .. }) => {
            let mut rows: Vec<usize> = errors.iter().map(|e| e.row).collect();
            rows.dedup();
            Ok(ImportReport {
                accepted: 0,
                rejected: rows.len() as i64,
                errors: errors
                    .into_iter()
                    .map(
                        |RowError {
                             row,
                             field,
                             message,
                         }| ImportProblem {
                            row: row as i64,
                            field: field.as_deref().map(api_field),
                            message,
                        },
                    )
                    .collect(),
                dry_run,
            })
        }
        Err(e) => Err(write_error(e)).gql(),
    }
}

fn check_rows<T>(rows: &[T]) -> async_graphql::Result<()> {
    if rows.len() > MAX_IMPORT_ROWS {
        return Err(Error::invalid(
            "rows",
            format!("at most {MAX_IMPORT_ROWS} rows per import; split the batch"),
        ))
        .gql();
    }
    Ok(())
}

fn numbered<T, R: From<T>>(rows: Vec<T>) -> Vec<(usize, R)> {
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| (i + 1, R::from(r)))
        .collect()
}

#[derive(Default)]
pub(crate) struct TraceMutation;

#[Object]
impl TraceMutation {
    #[graphql(visible = "crate::graphql::visibility::mutation::create_trace")]
    async fn create_trace(
        &self,
        ctx: &Context<'_>,
        input: TraceInput,
    ) -> async_graphql::Result<Trace> {
        let r = request(ctx)?;
        let options = options(r, EntityKind::Trace, false, "createTrace")?;
        let options = ImportOptions {
            create_only: true,
            ..options
        };
        let number = input.trace_number.trim().to_owned();
        refuse_taken(r, EntityKind::Trace, "traceNumber", &number).await?;
        import::import_traces(&r.db, vec![(1, input.into())], &options)
            .await
            .map_err(write_error)
            .gql()?;
        let stored = crate::store::door::written_by_key::<entity::trace::Entity, _>(
            &r.db, &r.access, &number,
        )
        .await
        .gql()?;
        stored.map(Trace).ok_or(Error::NotFound).gql()
    }

    #[graphql(visible = "crate::graphql::visibility::mutation::update_trace")]
    async fn update_trace(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: TracePatch,
        expected_version: i32,
    ) -> async_graphql::Result<Trace> {
        let r = request(ctx)?;
        let options = options(r, EntityKind::Trace, false, "updateTrace")?;
        let (trace, firearm) = writes::trace_for_update(&r.db, &r.access.for_write(), row_id(&id)?)
            .await
            .gql()?;
        writes::check_version(EntityKind::Trace, trace.version, expected_version).gql()?;
        let record = input.apply(&trace, &firearm);
        import::import_traces(&r.db, vec![(1, record)], &options.expecting(trace.version))
            .await
            .map_err(write_error)
            .gql()?;
        let stored = crate::store::door::written_by_id::<entity::trace::Entity, _>(
            &r.db, &r.access, trace.id,
        )
        .await
        .gql()?;
        stored.map(Trace).ok_or(Error::NotFound).gql()
    }

    #[graphql(visible = "crate::graphql::visibility::mutation::delete_trace")]
    async fn delete_trace(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let r = request(ctx)?;
        let event = r.write_event("deleteTrace", EntityKind::Trace);
        writes::delete_trace(&r.db, &r.access.for_write(), row_id(&id)?, event)
            .await
            .gql()?;
        Ok(id)
    }

    /// All rows or none: any invalid row rejects the batch and reports every bad row.
    #[graphql(visible = "crate::graphql::visibility::mutation::import_traces")]
    async fn import_traces(
        &self,
        ctx: &Context<'_>,
        rows: Vec<TraceInput>,
        #[graphql(default_with = "Some(false)")] dry_run: Option<bool>,
    ) -> async_graphql::Result<ImportReport> {
        let r = request(ctx)?;
        check_rows(&rows)?;
        let dry_run = dry_run.unwrap_or(false);
        let options = options(r, EntityKind::Trace, dry_run, "importTraces")?;
        report(
            import::import_traces(&r.db, numbered(rows), &options).await,
            dry_run,
        )
    }
}

#[derive(Default)]
pub(crate) struct SeizureMutation;

#[Object]
impl SeizureMutation {
    #[graphql(visible = "crate::graphql::visibility::mutation::record_seizure")]
    async fn record_seizure(
        &self,
        ctx: &Context<'_>,
        input: SeizureInput,
    ) -> async_graphql::Result<Seizure> {
        let r = request(ctx)?;
        let options = options(r, EntityKind::Seizure, false, "recordSeizure")?;
        let options = ImportOptions {
            create_only: true,
            ..options
        };
        let case = input.case_number.trim().to_owned();
        refuse_taken(r, EntityKind::Seizure, "caseNumber", &case).await?;
        import::import_seizures(&r.db, vec![(1, input.into())], &options)
            .await
            .map_err(write_error)
            .gql()?;
        let stored = crate::store::door::written_by_key::<entity::seizure::Entity, _>(
            &r.db, &r.access, &case,
        )
        .await
        .gql()?;
        stored.map(Seizure).ok_or(Error::NotFound).gql()
    }

    #[graphql(visible = "crate::graphql::visibility::mutation::update_seizure")]
    async fn update_seizure(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: SeizurePatch,
        expected_version: i32,
    ) -> async_graphql::Result<Seizure> {
        let r = request(ctx)?;
        let options = options(r, EntityKind::Seizure, false, "updateSeizure")?;
        let (seizure, firearms) =
            writes::seizure_for_update(&r.db, &r.access.for_write(), row_id(&id)?)
                .await
                .gql()?;
        writes::check_version(EntityKind::Seizure, seizure.version, expected_version).gql()?;
        let record = input.apply(&seizure, &firearms);
        import::import_seizures(
            &r.db,
            vec![(1, record)],
            &options.expecting(seizure.version),
        )
        .await
        .map_err(write_error)
        .gql()?;
        let stored = crate::store::door::written_by_id::<entity::seizure::Entity, _>(
            &r.db, &r.access, seizure.id,
        )
        .await
        .gql()?;
        stored.map(Seizure).ok_or(Error::NotFound).gql()
    }

    #[graphql(visible = "crate::graphql::visibility::mutation::delete_seizure")]
    async fn delete_seizure(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let r = request(ctx)?;
        let event = r.write_event("deleteSeizure", EntityKind::Seizure);
        writes::delete_seizure(&r.db, &r.access.for_write(), row_id(&id)?, event)
            .await
            .gql()?;
        Ok(id)
    }

    /// All rows or none: any invalid row rejects the batch and reports every bad row.
    #[graphql(visible = "crate::graphql::visibility::mutation::import_seizures")]
    async fn import_seizures(
        &self,
        ctx: &Context<'_>,
        rows: Vec<SeizureInput>,
        #[graphql(default_with = "Some(false)")] dry_run: Option<bool>,
    ) -> async_graphql::Result<ImportReport> {
        let r = request(ctx)?;
        check_rows(&rows)?;
        let dry_run = dry_run.unwrap_or(false);
        let options = options(r, EntityKind::Seizure, dry_run, "importSeizures")?;
        report(
            import::import_seizures(&r.db, numbered(rows), &options).await,
            dry_run,
        )
    }
}

#[derive(Default)]
pub(crate) struct TrainingMutation;

#[Object]
impl TrainingMutation {
    #[graphql(visible = "crate::graphql::visibility::mutation::create_training")]
    async fn create_training(
        &self,
        ctx: &Context<'_>,
        input: TrainingInput,
    ) -> async_graphql::Result<Training> {
        let r = request(ctx)?;
        let options = options(r, EntityKind::Training, false, "createTraining")?;
        let options = ImportOptions {
            create_only: true,
            ..options
        };
        let reference = input.reference.trim().to_owned();
        refuse_taken(r, EntityKind::Training, "reference", &reference).await?;
        import::import_trainings(&r.db, vec![(1, input.into())], &options)
            .await
            .map_err(write_error)
            .gql()?;
        let stored = crate::store::door::written_by_key::<entity::training_event::Entity, _>(
            &r.db, &r.access, &reference,
        )
        .await
        .gql()?;
        stored.map(Training).ok_or(Error::NotFound).gql()
    }

    #[graphql(visible = "crate::graphql::visibility::mutation::update_training")]
    async fn update_training(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: TrainingPatch,
        expected_version: i32,
    ) -> async_graphql::Result<Training> {
        let r = request(ctx)?;
        let options = options(r, EntityKind::Training, false, "updateTraining")?;
        let (training, award) =
            writes::training_for_update(&r.db, &r.access.for_write(), row_id(&id)?)
                .await
                .gql()?;
        writes::check_version(EntityKind::Training, training.version, expected_version).gql()?;
        let record = input.apply(&training, award);
        import::import_trainings(
            &r.db,
            vec![(1, record)],
            &options.expecting(training.version),
        )
        .await
        .map_err(write_error)
        .gql()?;
        let stored = crate::store::door::written_by_id::<entity::training_event::Entity, _>(
            &r.db,
            &r.access,
            training.id,
        )
        .await
        .gql()?;
        stored.map(Training).ok_or(Error::NotFound).gql()
    }

    #[graphql(visible = "crate::graphql::visibility::mutation::delete_training")]
    async fn delete_training(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let r = request(ctx)?;
        let event = r.write_event("deleteTraining", EntityKind::Training);
        writes::delete_training(&r.db, &r.access.for_write(), row_id(&id)?, event)
            .await
            .gql()?;
        Ok(id)
    }
}

#[derive(Default)]
pub(crate) struct FundingMutation;

#[Object]
impl FundingMutation {
    #[graphql(visible = "crate::graphql::visibility::mutation::create_funding_award")]
    async fn create_funding_award(
        &self,
        ctx: &Context<'_>,
        input: FundingAwardInput,
    ) -> async_graphql::Result<FundingAward> {
        let r = request(ctx)?;
        let options = options(r, EntityKind::FundingAward, false, "createFundingAward")?;
        let options = ImportOptions {
            create_only: true,
            ..options
        };
        let number = input.award_number.trim().to_owned();
        refuse_taken(r, EntityKind::FundingAward, "awardNumber", &number).await?;
        import::import_funding(&r.db, vec![(1, input.into())], &options)
            .await
            .map_err(write_error)
            .gql()?;
        let stored = crate::store::door::written_by_key::<entity::funding_award::Entity, _>(
            &r.db, &r.access, &number,
        )
        .await
        .gql()?;
        stored.map(FundingAward).ok_or(Error::NotFound).gql()
    }

    #[graphql(visible = "crate::graphql::visibility::mutation::update_funding_award")]
    async fn update_funding_award(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: FundingAwardPatch,
        expected_version: i32,
    ) -> async_graphql::Result<FundingAward> {
        let r = request(ctx)?;
        let options = options(r, EntityKind::FundingAward, false, "updateFundingAward")?;
        let award = writes::award_for_update(&r.db, &r.access.for_write(), row_id(&id)?)
            .await
            .gql()?;
        writes::check_version(EntityKind::FundingAward, award.version, expected_version).gql()?;
        let record = input.apply(&award);
        import::import_funding(&r.db, vec![(1, record)], &options.expecting(award.version))
            .await
            .map_err(write_error)
            .gql()?;
        let stored = crate::store::door::written_by_id::<entity::funding_award::Entity, _>(
            &r.db, &r.access, award.id,
        )
        .await
        .gql()?;
        stored.map(FundingAward).ok_or(Error::NotFound).gql()
    }

    #[graphql(visible = "crate::graphql::visibility::mutation::delete_funding_award")]
    async fn delete_funding_award(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let r = request(ctx)?;
        let event = r.write_event("deleteFundingAward", EntityKind::FundingAward);
        writes::delete_award(&r.db, &r.access.for_write(), row_id(&id)?, event)
            .await
            .gql()?;
        Ok(id)
    }
}
