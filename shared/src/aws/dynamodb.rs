//! DynamoDB adapter for [`IncidentStore`]: one table, generic keys `pk`/`sk`, three
//! sparse/generic GSIs. The layout is documented in docs/DATA-MODEL.md.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{CommitError, KlaxonError};
use crate::item_size;
use crate::model::{
    Commit, Delivery, Incident, IncidentChange, IncidentStatus, IncidentUpdate, KeyTracker,
    LinkRecord, OutboundMessage, OutboxItem, ProcessedEvent, Rejection, StepEntry, StepRun,
    TimelineEntry,
};
use crate::ports::IncidentStore;
use crate::route::Route;

type Item = HashMap<String, AttributeValue>;

use crate::layout::{self, step_pk, step_sk_prefix};
pub use crate::layout::{
    incident_pk, processed_pk, sort_time, tracker_pk, ESCALATION_INDEX, INCIDENT_SK, NO_SERVICE,
    OPEN_INDEX, OUTBOX_PREFIX, PK, PROCESSED_SK, SERVICE_INDEX, SK, STEP_PREFIX, STEP_RUN_SK,
    TIMELINE_PREFIX, TRACKER_SK, TTL_ATTRIBUTE,
};
/// BatchWriteItem takes at most 25 puts.
const BATCH_WRITE_MAX: usize = 25;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}
fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub struct DynamoDbStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self {
        DynamoDbStore { client, table }
    }

    fn key(pk: String, sk: &str) -> Item {
        HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, KlaxonError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| super::error::classify("dynamodb", "GetItem", e))?;
        Ok(output.item)
    }

    fn put(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Option<Item>,
    ) -> Result<TransactWriteItem, KlaxonError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_values(values)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn transact_items(&self, commit: &Commit) -> Result<Vec<TransactWriteItem>, KlaxonError> {
        let mut items = Vec::with_capacity(5 + commit.outbox.len());
        // Order matters: cancellation reasons come back by index (0: event, 1: tracker).
        let processed = dynamo(layout::processed_item(&commit.processed))?;
        items.push(self.put(processed, Some("attribute_not_exists(pk)"), None)?);

        let tracker = dynamo(layout::tracker_item(&commit.tracker))?;
        items.push(match commit.expected_tracker_version {
            None => self.put(tracker, Some("attribute_not_exists(pk)"), None)?,
            Some(v) => self.put(
                tracker,
                Some("version = :expected"),
                Some(HashMap::from([(":expected".into(), n(v as i64))])),
            )?,
        });

        match &commit.incident {
            Some(IncidentChange::Open(incident)) => {
                items.push(self.put(
                    dynamo(layout::incident_item(incident))?,
                    Some("attribute_not_exists(pk)"),
                    None,
                )?);
            }
            Some(IncidentChange::Update(u)) => items.push(self.incident_update(u)?),
            None => {}
        }
        if let Some(closed) = &commit.closed {
            items.push(self.incident_update(&closed.update)?);
        }
        let entries = commit
            .timeline
            .iter()
            .chain(commit.closed.as_ref().map(|c| &c.entry));
        for entry in entries {
            items.push(self.put(dynamo(layout::timeline_item(entry))?, None, None)?);
        }
        for item in &commit.outbox {
            items.push(self.put(dynamo(layout::outbox_item(item))?, None, None)?);
        }
        if let Some(run) = &commit.step_run {
            items.push(self.put(dynamo(layout::step_run_item(run))?, None, None)?);
        }
        for link in &commit.links {
            // 192 random bits never collide; the condition makes certain of it.
            items.push(self.put(
                dynamo(layout::link_item(link))?,
                Some("attribute_not_exists(pk)"),
                None,
            )?);
        }
        Ok(items)
    }

    /// Writes `actions` in transactions of at most 100, retrying a few times when a
    /// concurrent transaction conflicts.
    async fn transact_with_retries(
        &self,
        actions: &[TransactWriteItem],
    ) -> Result<(), KlaxonError> {
        for chunk in actions.chunks(item_size::MAX_TRANSACTION_ACTIONS) {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let result = self
                    .client
                    .transact_write_items()
                    .set_transact_items(Some(chunk.to_vec()))
                    .send()
                    .await;
                match result {
                    Ok(_) => break,
                    Err(e) if attempt < 3 && e.as_service_error().is_some_and(conflicted) => {
                        tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
                    }
                    Err(e) => {
                        return Err(super::error::classify("dynamodb", "TransactWriteItems", e))
                    }
                }
            }
        }
        Ok(())
    }

    /// One delivery's end, as transaction actions: Delete each removed item; Put each
    /// note; Update each incident whose page went out (`page_delivered_at`); with
    /// `markers`, Update the tracker, removing the markers of what is done (by key, no read,
    /// version untouched; only where the map exists).
    fn delivery_actions(
        &self,
        d: &Delivery,
        markers: bool,
    ) -> Result<Vec<TransactWriteItem>, KlaxonError> {
        let mut actions = Vec::new();
        for item in &d.removed {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key(
                    incident_pk(&item.incident_id),
                    &layout::outbox_sk(item),
                )))
                .build()
                .map_err(build_error)?;
            actions.push(TransactWriteItem::builder().delete(delete).build());
        }
        for note in &d.notes {
            actions.push(self.put(dynamo(layout::timeline_item(note))?, None, None)?);
        }
        for (incident_id, at) in &d.page_delivered {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key(incident_pk(incident_id), INCIDENT_SK)))
                .update_expression("SET page_delivered_at = :at")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":at", to_av(at)?)
                .build()
                .map_err(build_error)?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }
        if markers && !d.done.is_empty() {
            let names: Vec<String> = (0..d.done.len()).map(|n| format!("#m{n}")).collect();
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key(tracker_pk(&d.tracker_key), TRACKER_SK)))
                .update_expression(format!(
                    "REMOVE {}",
                    names
                        .iter()
                        .map(|n| format!("pending_outbox.{n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .condition_expression("attribute_exists(pending_outbox)");
            for (name, key) in names.iter().zip(&d.done) {
                update = update.expression_attribute_names(name, key);
            }
            actions.push(
                TransactWriteItem::builder()
                    .update(update.build().map_err(build_error)?)
                    .build(),
            );
        }
        Ok(actions)
    }

    /// The UpdateItem of an [`IncidentUpdate`] (the memory backend's `apply_update`).
    fn incident_update(&self, u: &IncidentUpdate) -> Result<TransactWriteItem, KlaxonError> {
        let mut set = vec![
            "#status = :status",
            "last_state = :last_state",
            "last_state_at = :last_state_at",
            "updated_at = :updated_at",
        ];
        let mut values: Item = HashMap::from([
            (":status".into(), to_av(&u.status)?),
            (":last_state".into(), to_av(&u.last_state)?),
            (":last_state_at".into(), to_av(&u.last_state_at)?),
            (":updated_at".into(), to_av(&u.updated_at)?),
        ]);
        let mut removed: Vec<&str> = Vec::new();
        if u.status == IncidentStatus::Resolved {
            set.push("resolved_at = :resolved_at, last_resolved_at = :resolved_at");
            values.insert(":resolved_at".into(), to_av(&u.resolved_at)?);
            if let Some(resolution) = u.resolution {
                set.push("resolution = :resolution");
                values.insert(":resolution".into(), to_av(&resolution)?);
            }
            removed.extend(["gsi1pk", "gsi1sk"]);
        }
        if let Some(at) = u.paged_at {
            set.push("paged = :paged, paged_at = :paged_at");
            values.insert(":paged".into(), AttributeValue::Bool(true));
            values.insert(":paged_at".into(), to_av(&at)?);
        }
        if let Some(routes) = &u.paged_routes {
            set.push("paged_routes = :paged_routes");
            values.insert(":paged_routes".into(), to_av(routes)?);
        }
        if let Some(opened_at) = u.reopened {
            // Back in the sparse index of open incidents (layout::incident_item).
            set.push("gsi1pk = :open, gsi1sk = :open_order");
            values.insert(":open".into(), s(layout::OPEN_PARTITION));
            values.insert(
                ":open_order".into(),
                s(layout::open_order(opened_at, &u.incident_id)),
            );
            removed.extend(["resolved_at", "resolution"]);
        }
        if let Some(r) = &u.responder {
            set.push("ownership.severity = :severity");
            values.insert(":severity".into(), to_av(&r.severity)?);
            // Absent rather than null, as the record's serde form writes them.
            let mut optional =
                |name: &'static str, placeholder: &'static str, value: Option<AttributeValue>| {
                    match value {
                        Some(v) => {
                            set.push(placeholder);
                            values.insert(format!(":{}", name.trim_start_matches('#')), v);
                        }
                        None => removed.push(name),
                    }
                };
            optional(
                "acknowledged",
                "acknowledged = :acknowledged",
                r.acknowledged.as_ref().map(to_av).transpose()?,
            );
            // `owner` is a DynamoDB reserved word.
            optional("#owner", "#owner = :owner", r.owner.clone().map(s));
            optional(
                "snoozed_until",
                "snoozed_until = :snoozed_until",
                r.snoozed_until.as_ref().map(to_av).transpose()?,
            );
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !removed.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removed.join(", ")));
        }
        let mut names = HashMap::from([("#status".to_string(), "status".to_string())]);
        if u.responder.is_some() {
            names.insert("#owner".into(), "owner".into());
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(incident_pk(&u.incident_id), INCIDENT_SK)))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Items of one incident whose sort key starts with `prefix`, read consistently.
    async fn incident_items(
        &self,
        incident_id: &str,
        prefix: &str,
    ) -> Result<Vec<Item>, KlaxonError> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(incident_pk(incident_id)))
            .expression_attribute_values(":prefix", s(prefix));
        self.query_all(request).await
    }

    fn step_run_key(event_id: &str) -> Item {
        Self::key(processed_pk(event_id), STEP_RUN_SK)
    }

    /// Moves an item's lease from `old` to `new` if it still holds `old` (compare-and-set on
    /// `lease_until_ms`); false when another invocation changed or removed it first. Outbox
    /// items and step runs share it.
    async fn swap_lease(
        &self,
        key: Item,
        old: DateTime<Utc>,
        new: DateTime<Utc>,
    ) -> Result<bool, KlaxonError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET lease_until_ms = :new")
            .condition_expression("lease_until_ms = :old")
            .expression_attribute_values(":new", n(new.timestamp_millis()))
            .expression_attribute_values(":old", n(old.timestamp_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(super::error::classify("dynamodb", "UpdateItem", e)),
        }
    }

    async fn query_all(
        &self,
        request: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, KlaxonError> {
        let mut items = Vec::new();
        let mut pages = request.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| super::error::classify("dynamodb", "Query", e))?;
            items.extend(page.items.unwrap_or_default());
        }
        Ok(items)
    }
}

impl IncidentStore for DynamoDbStore {
    async fn load(
        &self,
        event_id: &str,
        dedup_key: &str,
    ) -> Result<(Option<ProcessedEvent>, Option<KeyTracker>), KlaxonError> {
        // Two independent reads in parallel: one round trip of latency.
        let (processed, tracker) = tokio::join!(
            self.get(processed_pk(event_id), PROCESSED_SK),
            self.get(tracker_pk(dedup_key), TRACKER_SK)
        );
        Ok((
            processed?
                .map(|item| from_record(item, "processed event"))
                .transpose()?,
            tracker?
                .map(|item| from_record(item, "alarm tracker"))
                .transpose()?,
        ))
    }

    async fn commit(&self, commit: &Commit) -> Result<(), CommitError> {
        let items = self.transact_items(commit)?;
        let result = self
            .client
            .transact_write_items()
            // No ClientRequestToken: a Lambda retry within its 10-minute window would reuse
            // it with a different body (IdempotentParameterMismatch). A retried request that
            // had in fact succeeded is recognised by the writer token instead (engine/apply.rs).
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
                    err.as_service_error()
                {
                    let codes: Vec<&str> = cancel
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None"))
                        .collect();
                    if codes.first() == Some(&"ConditionalCheckFailed") {
                        return Err(CommitError::AlreadyProcessed);
                    }
                    if codes.get(1) == Some(&"ConditionalCheckFailed")
                        || codes.contains(&"TransactionConflict")
                    {
                        return Err(CommitError::Conflict(codes.join(",")));
                    }
                    return Err(CommitError::Failed(KlaxonError::Aws {
                        service: "dynamodb",
                        operation: "TransactWriteItems",
                        code: "TransactionCanceled".into(),
                        message: format!("cancellation reasons: {}", codes.join(",")),
                        retryable: codes.iter().any(|c| {
                            c.contains("Throttl") || *c == "ProvisionedThroughputExceeded"
                        }),
                    }));
                }
                if let Some(TransactWriteItemsError::TransactionInProgressException(_)) =
                    err.as_service_error()
                {
                    return Err(CommitError::Conflict("TransactionInProgress".into()));
                }
                Err(CommitError::Failed(super::error::classify(
                    "dynamodb",
                    "TransactWriteItems",
                    err,
                )))
            }
        }
    }

    async fn pending_outbox(&self, incident_id: &str) -> Result<Vec<OutboxItem>, KlaxonError> {
        self.incident_items(incident_id, OUTBOX_PREFIX)
            .await?
            .into_iter()
            .map(parse_outbox_item)
            .collect()
    }

    async fn claim_outbox(
        &self,
        item: &OutboxItem,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, KlaxonError> {
        let key = Self::key(
            incident_pk(&item.incident_id),
            &format!("{OUTBOX_PREFIX}{}", item.item_id),
        );
        self.swap_lease(key, item.lease_until, lease_until).await
    }

    async fn release_outbox(&self, item: &OutboxItem) -> Result<(), KlaxonError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                incident_pk(&item.incident_id),
                &format!("{OUTBOX_PREFIX}{}", item.item_id),
            )))
            .update_expression("SET lease_until_ms = :zero")
            // Only the holder gives it back: after our lease expired, another invocation
            // may hold a new one.
            .condition_expression("lease_until_ms = :mine")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":mine", n(item.lease_until.timestamp_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(super::error::classify("dynamodb", "UpdateItem", e)),
        }
    }

    async fn complete_delivery(&self, delivery: &Delivery) -> Result<(), KlaxonError> {
        // The removal must land: if the whole write cannot (a tracker written before the
        // markers existed has no `pending_outbox` map to remove from, or commits of the
        // same key keep conflicting), it is written again with less, down to the removal
        // alone.
        let full = self.delivery_actions(delivery, true)?;
        let without_markers = self.delivery_actions(delivery, false)?;
        let removal_only = self.delivery_actions(
            &Delivery {
                removed: delivery.removed.clone(),
                ..Delivery::default()
            },
            false,
        )?;
        let mut last_error = None;
        for actions in [full, without_markers, removal_only] {
            if actions.is_empty() {
                return Ok(());
            }
            match self.transact_with_retries(&actions).await {
                Ok(()) => return Ok(()),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("three attempts"))
    }

    async fn link(&self, token_hash: &str) -> Result<Option<LinkRecord>, KlaxonError> {
        self.get(layout::link_pk(token_hash), layout::LINK_SK)
            .await?
            .map(|item| from_record(item, "link"))
            .transpose()
    }

    async fn revoke_links(
        &self,
        incident_id: &str,
        route: Option<Route>,
        before: DateTime<Utc>,
    ) -> Result<bool, KlaxonError> {
        let key = Self::key(incident_pk(incident_id), INCIDENT_SK);
        // The map may be absent (records omit it while empty): create it first, then set
        // each route; a nested SET on an absent map is refused by DynamoDB. Both are
        // idempotent, so a retry after either is harmless.
        let created = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .update_expression(
                "SET links_revoked_before = if_not_exists(links_revoked_before, :empty)",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
            .send()
            .await;
        if let Err(e) = created {
            if matches!(
                e.as_service_error(),
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(_))
            ) {
                return Ok(false);
            }
            return Err(super::error::classify("dynamodb", "UpdateItem", e));
        }
        let routes = match route {
            Some(r) => vec![r],
            None => Route::ALL.to_vec(),
        };
        // One update per route, each only moving its time forward: two revocations in
        // flight (or a clock behind) never bring back links a later one revoked.
        for route in routes {
            let moved = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.clone()))
                .update_expression("SET links_revoked_before.#r = :before")
                .condition_expression(
                    "attribute_not_exists(links_revoked_before.#r) OR links_revoked_before.#r < :before",
                )
                .expression_attribute_names("#r", route.as_str())
                .expression_attribute_values(":before", to_av(&before)?)
                .send()
                .await;
            match moved {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.as_service_error(),
                        Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(_))
                    ) => {}
                Err(e) => return Err(super::error::classify("dynamodb", "UpdateItem", e)),
            }
        }
        Ok(true)
    }

    async fn record_rejection(&self, rejection: &Rejection) -> Result<(), KlaxonError> {
        let item = dynamo(layout::rejection_item(rejection))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| super::error::classify("dynamodb", "PutItem", e))?;
        Ok(())
    }

    async fn incident(&self, incident_id: &str) -> Result<Option<Incident>, KlaxonError> {
        self.get(incident_pk(incident_id), INCIDENT_SK)
            .await?
            .map(|item| from_record(item, "incident"))
            .transpose()
    }

    async fn timeline(&self, incident_id: &str) -> Result<Vec<TimelineEntry>, KlaxonError> {
        self.incident_items(incident_id, TIMELINE_PREFIX)
            .await?
            .into_iter()
            .map(|item| from_record(item, "timeline entry"))
            .collect()
    }

    async fn put_step_entries(&self, entries: &[StepEntry]) -> Result<(), KlaxonError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        for chunk in entries.chunks(BATCH_WRITE_MAX) {
            let mut requests = Vec::with_capacity(chunk.len());
            for entry in chunk {
                let put = PutRequest::builder()
                    .set_item(Some(dynamo(layout::step_entry_item(entry))?))
                    .build()
                    .map_err(build_error)?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            // BatchWriteItem may leave items unprocessed under throttling: send them again,
            // a few times, then fail (retryably) rather than lose them.
            for attempt in 0..5u32 {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| super::error::classify("dynamodb", "BatchWriteItem", e))?;
                requests = output
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                if requests.is_empty() || attempt == 4 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            if !requests.is_empty() {
                return Err(KlaxonError::Aws {
                    service: "dynamodb",
                    operation: "BatchWriteItem",
                    code: "UnprocessedItems".into(),
                    message: format!("{} step entries left unprocessed", requests.len()),
                    retryable: true,
                });
            }
        }
        Ok(())
    }

    async fn event_step_entries(
        &self,
        incident_id: Option<&str>,
        event_id: &str,
    ) -> Result<Vec<StepEntry>, KlaxonError> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(step_pk(incident_id, event_id)))
            .expression_attribute_values(":prefix", s(step_sk_prefix(event_id)));
        let entries: Vec<StepEntry> = self
            .query_all(request)
            .await?
            .into_iter()
            .map(|item| from_record(item, "step entry"))
            .collect::<Result<_, _>>()?;
        // The prefix also matches an event id that continues with `#...`: keep this event's.
        Ok(entries
            .into_iter()
            .filter(|e| e.event_id == event_id)
            .collect())
    }

    async fn step_entries(&self, incident_id: &str) -> Result<Vec<StepEntry>, KlaxonError> {
        let mut entries: Vec<StepEntry> = self
            .incident_items(incident_id, STEP_PREFIX)
            .await?
            .into_iter()
            .map(|item| from_record(item, "step entry"))
            .collect::<Result<_, _>>()?;
        entries.sort_by(|a, b| a.at.cmp(&b.at).then(a.seq.cmp(&b.seq)));
        Ok(entries)
    }

    async fn step_run(&self, event_id: &str) -> Result<Option<StepRun>, KlaxonError> {
        let Some(item) = self.get(processed_pk(event_id), STEP_RUN_SK).await? else {
            return Ok(None);
        };
        let json = match item.get("run_json") {
            Some(AttributeValue::S(v)) => v,
            _ => return Err(corrupt("step run", "missing run_json")),
        };
        let mut run: StepRun = serde_json::from_str(json).map_err(|e| corrupt("step run", e))?;
        // The lease lives in its own attribute (claims change only it).
        if let Some(AttributeValue::N(ms)) = item.get("lease_until_ms") {
            let ms: i64 = ms.parse().map_err(|e| corrupt("step run", e))?;
            run.lease_until = DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| corrupt("step run", "bad lease"))?;
        }
        Ok(Some(run))
    }

    async fn claim_step_run(
        &self,
        run: &StepRun,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, KlaxonError> {
        self.swap_lease(
            Self::step_run_key(&run.event_id),
            run.lease_until,
            lease_until,
        )
        .await
    }

    async fn complete_step_run(&self, run: &StepRun) -> Result<(), KlaxonError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::step_run_key(&run.event_id)))
            .send()
            .await
            .map_err(|e| super::error::classify("dynamodb", "DeleteItem", e))?;
        Ok(())
    }

    async fn open_incidents(&self) -> Result<Vec<Incident>, KlaxonError> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(OPEN_INDEX)
            .key_condition_expression("gsi1pk = :open")
            .expression_attribute_values(":open", s("OPEN"));
        self.query_all(request)
            .await?
            .into_iter()
            .map(|item| from_record(item, "incident"))
            .collect()
    }
}

/// A transaction that another one got in the way of: worth trying again shortly.
fn conflicted(e: &TransactWriteItemsError) -> bool {
    match e {
        TransactWriteItemsError::TransactionInProgressException(_) => true,
        TransactWriteItemsError::TransactionCanceledException(c) => c
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some("TransactionConflict")),
        _ => false,
    }
}

/// One item as the table layout gives it (`crate::layout`), in attribute values: the same
/// object `item_size` measures.
fn dynamo(item: layout::JsonItem) -> Result<Item, KlaxonError> {
    serde_dynamo::to_item(serde_json::Value::Object(item)).map_err(|e| corrupt("item", e))
}

fn parse_outbox_item(item: Item) -> Result<OutboxItem, KlaxonError> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(corrupt("outbox item", format!("missing {name}"))),
    };
    let lease_ms: i64 = match item.get("lease_until_ms") {
        Some(AttributeValue::N(v)) => v.parse().map_err(|e| corrupt("outbox item", e))?,
        _ => return Err(corrupt("outbox item", "missing lease_until_ms")),
    };
    let message: OutboundMessage =
        serde_json::from_str(&text("message_json")?).map_err(|e| corrupt("outbox item", e))?;
    Ok(OutboxItem {
        incident_id: text("incident_id")?,
        event_id: text("event_id")?,
        item_id: text("item_id")?,
        created_at: crate::intake::parse_timestamp(&text("created_at")?)
            .ok_or_else(|| corrupt("outbox item", "bad created_at"))?,
        lease_until: DateTime::from_timestamp_millis(lease_ms)
            .ok_or_else(|| corrupt("outbox item", "bad lease"))?,
        message,
    })
}

fn from_record<T: DeserializeOwned>(item: Item, what: &str) -> Result<T, KlaxonError> {
    serde_dynamo::from_item(item).map_err(|e| corrupt(what, e))
}

fn to_av<T: Serialize>(value: &T) -> Result<AttributeValue, KlaxonError> {
    serde_dynamo::to_attribute_value(value).map_err(|e| corrupt("attribute", e))
}

fn corrupt(what: &str, reason: impl std::fmt::Display) -> KlaxonError {
    KlaxonError::CorruptRecord {
        key: what.to_string(),
        reason: reason.to_string(),
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> KlaxonError {
    corrupt("request", e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item_size;

    /// DynamoDB's size of an attribute value, read from the SDK's own types.
    fn av_bytes(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => {
                let digits: String = n
                    .split(['e', 'E'])
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                digits.trim_matches('0').len().div_ceil(2) + 1
            }
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(list) => 3 + list.iter().map(|x| 1 + av_bytes(x)).sum::<usize>(),
            AttributeValue::M(map) => {
                3 + map
                    .iter()
                    .map(|(k, x)| 1 + k.len() + av_bytes(x))
                    .sum::<usize>()
            }
            other => panic!("unexpected attribute value {other:?}"),
        }
    }

    fn av_item_bytes(item: &Item) -> usize {
        item.iter().map(|(k, v)| k.len() + av_bytes(v)).sum()
    }

    #[test]
    fn the_size_check_measures_what_the_adapter_writes() {
        let raw = include_str!("../../../events/alarm-metric-prod-alarm.json");
        let crate::intake::Intake::Change(event) =
            crate::intake::parse_value(&serde_json::from_str(raw).unwrap()).unwrap()
        else {
            panic!("an alarm")
        };
        let now = chrono::Utc::now();
        let plan = crate::plan::plan(None, &event, &crate::ownership::from_tags(&[]), now);
        let Some(IncidentChange::Open(incident)) = &plan.incident else {
            panic!("opens")
        };
        let page = crate::render::page(&plan, &event, crate::model::Transition::Opened);
        let outbox = OutboxItem {
            incident_id: incident.incident_id.clone(),
            event_id: event.event_id.clone(),
            item_id: "0000000000001#e#0".into(),
            created_at: now,
            lease_until: now,
            message: OutboundMessage::Page(page),
        };
        let items = [
            layout::tracker_item(&plan.tracker),
            layout::incident_item(incident),
            layout::timeline_item(plan.timeline.as_ref().unwrap()),
            layout::outbox_item(&outbox),
        ];
        for item in items {
            let written = dynamo(item.clone()).unwrap();
            assert_eq!(
                item_size::item_bytes(&item),
                av_item_bytes(&written),
                "{:?}",
                item.get("entity")
            );
        }
    }
}
