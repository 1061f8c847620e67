//! Delivering the outbox in transition order.
//!
//! The items one commit writes are delivered right after it. An earlier event's items may
//! still be pending (its invocation crashed or its publish failed): before a newer
//! transition's items go out, those older ones are delivered first, or dropped as
//! superseded with a note on the timeline (an "opened" page for an incident that is no
//! longer open says something untrue). Lifecycle events are facts for automation and are
//! never dropped. The tracker's `pending_outbox` markers say whether any older item can be
//! pending, so the check costs no read when none is.
//!
//! A duplicate delivery sends its own event's left-over items (after any older ones), and
//! nothing newer: an undelivered page is never sent hours later by an unrelated duplicate.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::{chrono_duration, Engine};
use crate::error::KlaxonError;
use crate::intake::AlarmState;
use crate::model::{
    Delivery, EntryKind, Evidence, LifecycleEvent, Notification, OutboundMessage, OutboxItem,
    Outcome, PendingOutbox, TimelineEntry, Transition,
};
use crate::ports::{IncidentStore, LifecycleBus, Lookups, Pager};
use crate::text;

/// How long to wait, in turn, for an older item another invocation is delivering.
const BUSY_WAITS_MS: [u64; 8] = [10, 20, 40, 80, 160, 200, 200, 200];

/// What to do with the older pending items before this delivery's own.
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered {
    /// Deliver these first, in this order (after claiming them).
    pub deliver: Vec<OutboxItem>,
    /// Drop these: pages that are no longer true.
    pub superseded: Vec<OutboxItem>,
    /// An older item another invocation holds right now: this delivery must wait.
    pub busy: Option<OutboxItem>,
}

/// Decides the older items' fate. Pure: `older` are pending items of earlier events, `open`
/// the incident that is open for the key now (if any).
pub fn order_older(mut older: Vec<OutboxItem>, now: DateTime<Utc>, open: Option<&str>) -> Ordered {
    // Item ids begin with the tracker version of the commit that wrote them: commit order.
    older.sort_by(|a, b| a.item_id.cmp(&b.item_id));
    let mut ordered = Ordered {
        deliver: Vec::new(),
        superseded: Vec::new(),
        busy: None,
    };
    for item in older {
        // Held by another invocation (being delivered right now, superseded or not): wait.
        if item.lease_until > now {
            ordered.busy.get_or_insert(item);
        } else if superseded(&item, open) {
            ordered.superseded.push(item);
        } else {
            ordered.deliver.push(item);
        }
    }
    ordered
}

/// A page that announces an incident (opened, or paged at last) which is no longer open:
/// its recovery, or the notice that ended it, says what is true now.
fn superseded(item: &OutboxItem, open: Option<&str>) -> bool {
    matches!(&item.message, OutboundMessage::Page(n)
        if n.transition != Transition::Resolved && open != Some(item.incident_id.as_str()))
}

impl<S: IncidentStore, P: Pager, B: LifecycleBus, L: Lookups> Engine<S, P, B, L> {
    /// Delivers `own` (leased by this invocation) after the older items the tracker's
    /// markers point at. `markers`: the tracker's `pending_outbox` as read before this
    /// delivery; `open`: the incident open for the key now; `cutoff`: only items before
    /// this item id are older (a duplicate's markers may include newer events).
    pub(super) async fn deliver_in_order(
        &self,
        own: Vec<OutboxItem>,
        markers: &BTreeMap<String, PendingOutbox>,
        open: Option<&str>,
        tracker_key: &str,
        cutoff: Option<&str>,
    ) -> Result<(Vec<Notification>, Vec<LifecycleEvent>), KlaxonError> {
        let own_keys: BTreeSet<String> = own.iter().map(|i| PendingOutbox::of(i).key()).collect();
        let others: Vec<&PendingOutbox> = markers
            .iter()
            .filter(|(key, _)| !own_keys.contains(*key))
            .map(|(_, m)| m)
            .collect();
        let mut done: BTreeSet<String> = own_keys;
        // An older item under a live lease is being delivered by its own invocation right
        // now (a burst of events for one incident): wait a moment for it rather than send
        // out of order or fail; only an item still held after that makes this wait longer
        // (a retryable error: Lambda retries the event).
        let mut attempt = 0;
        let (now, ordered) = loop {
            let now = self.clock.now();
            let (older, pending_markers) = self.older_items(&others, cutoff).await?;
            let ordered = order_older(older, now, open);
            if ordered.busy.is_none() || attempt >= BUSY_WAITS_MS.len() {
                // Markers with nothing of theirs left pending are done.
                done.extend(
                    others
                        .iter()
                        .map(|m| m.key())
                        .filter(|k| !pending_markers.contains(k)),
                );
                done.extend(
                    ordered
                        .deliver
                        .iter()
                        .chain(&ordered.superseded)
                        .map(|i| PendingOutbox::of(i).key()),
                );
                break (now, ordered);
            }
            tokio::time::sleep(std::time::Duration::from_millis(BUSY_WAITS_MS[attempt])).await;
            attempt += 1;
        };
        if let Some(busy) = ordered.busy {
            // Another invocation is delivering an older item right now: let it finish,
            // and deliver ours on the retry, in order.
            self.release(&own).await;
            return Err(KlaxonError::DeliveryInProgress {
                incident_id: busy.incident_id.clone(),
                item_id: busy.item_id.clone(),
                lease_until: busy.lease_until.to_rfc3339(),
            });
        }
        if !ordered.superseded.is_empty() {
            tracing::warn!(
                items = ordered.superseded.len(),
                "older pages are no longer true and are dropped as superseded"
            );
            let notes = ordered
                .superseded
                .iter()
                .map(|item| superseded_note(item, now))
                .collect();
            self.store
                .complete_delivery(&Delivery {
                    removed: ordered.superseded.clone(),
                    notes,
                    tracker_key: tracker_key.to_string(),
                    ..Delivery::default()
                })
                .await?;
        }
        let mut sequence = Vec::with_capacity(ordered.deliver.len() + own.len());
        for item in ordered.deliver {
            let lease_until = now + chrono_duration(self.settings.outbox_lease);
            if !self.store.claim_outbox(&item, lease_until).await? {
                self.release(&sequence).await;
                self.release(&own).await;
                return Err(KlaxonError::DeliveryInProgress {
                    incident_id: item.incident_id.clone(),
                    item_id: item.item_id.clone(),
                    lease_until: lease_until.to_rfc3339(),
                });
            }
            sequence.push(OutboxItem {
                lease_until,
                ..item
            });
        }
        if !sequence.is_empty() {
            tracing::warn!(
                items = sequence.len(),
                "older undelivered messages go out first"
            );
        }
        let older_count = sequence.len();
        sequence.extend(own);
        self.deliver(
            &sequence,
            older_count,
            tracker_key,
            done.into_iter().collect(),
        )
        .await
    }

    /// The pending items of other events that `others` mark, older than `cutoff` (all,
    /// without one), and the markers that still have items pending after the cutoff
    /// (newer ones, which are not this delivery's to send).
    async fn older_items(
        &self,
        others: &[&PendingOutbox],
        cutoff: Option<&str>,
    ) -> Result<(Vec<OutboxItem>, BTreeSet<String>), KlaxonError> {
        let mut older = Vec::new();
        let mut newer_pending = BTreeSet::new();
        if others.is_empty() {
            return Ok((older, newer_pending));
        }
        let incidents: BTreeSet<&str> = others.iter().map(|m| m.incident_id.as_str()).collect();
        let wanted: BTreeSet<String> = others.iter().map(|m| m.key()).collect();
        for incident in incidents {
            for item in self.store.pending_outbox(incident).await? {
                let key = PendingOutbox::of(&item).key();
                if !wanted.contains(&key) {
                    continue;
                }
                if cutoff.is_some_and(|c| item.item_id.as_str() >= c) {
                    newer_pending.insert(key);
                } else {
                    older.push(item);
                }
            }
        }
        Ok((older, newer_pending))
    }

    /// Delivers leased items in order. Each is removed as soon as it is delivered (with its
    /// incident's `page_delivered_at` for a page), the last one also clearing the tracker's
    /// markers in `done`. On failure the remaining leases are released and the error
    /// returned, so the invocation is retried.
    /// The first `older` items are other events': one that fails for good (a route whose
    /// topic is gone) is set aside with a note, so that it cannot hold back every newer
    /// message of the key; a retryable failure stops the delivery as for this event's own.
    async fn deliver(
        &self,
        items: &[OutboxItem],
        older: usize,
        tracker_key: &str,
        done: Vec<String>,
    ) -> Result<(Vec<Notification>, Vec<LifecycleEvent>), KlaxonError> {
        let mut pages = Vec::new();
        let mut events = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let sent = match &item.message {
                OutboundMessage::Page(n) => match self.settings.topics.get(&n.route) {
                    Some(topic) => self.pager.publish(topic, n).await.map(|message_id| {
                        tracing::info!(route = n.route.as_str(), transition = n.transition.as_str(), %message_id, "page published");
                        pages.push(n.clone());
                    }),
                    None => Err(KlaxonError::NoTopicForRoute(n.route.as_str())),
                },
                OutboundMessage::Lifecycle(e) => self.bus.put(&self.settings.event_bus, e).await.map(|()| {
                    tracing::info!(detail_type = %e.detail_type, "lifecycle event put");
                    events.push(e.clone());
                }),
            };
            let last = index + 1 == items.len();
            let mut delivery = Delivery {
                removed: vec![item.clone()],
                page_delivered: Vec::new(),
                notes: Vec::new(),
                tracker_key: tracker_key.to_string(),
                done: if last { done.clone() } else { Vec::new() },
            };
            match sent {
                Ok(()) => {
                    if let OutboundMessage::Page(_) = &item.message {
                        delivery.page_delivered =
                            vec![(item.incident_id.clone(), self.clock.now())];
                    }
                }
                Err(e) if index < older && !e.is_retryable() => {
                    tracing::error!(error = %e, item_id = %text::for_log(&item.item_id), "an older message cannot be delivered; set aside so that newer ones go out");
                    delivery.notes = vec![set_aside_note(item, &e, self.clock.now())];
                }
                Err(e) => {
                    tracing::error!(error = %e, item_id = %text::for_log(&item.item_id), "delivery failed; the invocation will be retried");
                    self.release(&items[index..]).await;
                    return Err(e);
                }
            }
            // Delivered. If the removal fails, the item stays and a later duplicate of its
            // own event may send it again: log it, but do not fail (and so re-send) this
            // invocation for it.
            if let Err(e) = self.store.complete_delivery(&delivery).await {
                tracing::warn!(error = %e, item_id = %text::for_log(&item.item_id), "delivered, but the outbox item could not be removed");
            }
        }
        Ok((pages, events))
    }

    async fn release(&self, items: &[OutboxItem]) {
        for item in items {
            if let Err(e) = self.store.release_outbox(item).await {
                tracing::warn!(error = %e, "could not release an outbox lease; it expires by itself");
            }
        }
    }

    /// A duplicate delivery of an event: its own items an earlier delivery left undelivered
    /// go out now (after any older ones); nothing newer, nothing of other events alone.
    pub(super) async fn redeliver_outbox(
        &self,
        event_id: &str,
        incident_id: Option<&str>,
        markers: &BTreeMap<String, PendingOutbox>,
        open: Option<&str>,
        tracker_key: &str,
    ) -> Result<(Vec<Notification>, Vec<LifecycleEvent>), KlaxonError> {
        let now = self.clock.now();
        // The incidents this event wrote items for: its markers, and its own incident.
        let incidents: BTreeSet<&str> = markers
            .values()
            .filter(|m| m.event_id == event_id)
            .map(|m| m.incident_id.as_str())
            .chain(incident_id)
            .collect();
        let mut own = Vec::new();
        for incident in incidents {
            own.extend(
                self.store
                    .pending_outbox(incident)
                    .await?
                    .into_iter()
                    .filter(|i| i.event_id == event_id),
            );
        }
        // This event's own items under a live lease: the invocation that wrote them may have
        // died. Retry after the lease, and claim nothing before saying so.
        if let Some(item) = own.iter().find(|i| i.lease_until > now) {
            return Err(KlaxonError::DeliveryInProgress {
                incident_id: item.incident_id.clone(),
                item_id: item.item_id.clone(),
                lease_until: item.lease_until.to_rfc3339(),
            });
        }
        if own.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        own.sort_by(|a, b| a.item_id.cmp(&b.item_id));
        let mut claimed = Vec::new();
        for item in own {
            let lease_until = now + chrono_duration(self.settings.outbox_lease);
            if !self.store.claim_outbox(&item, lease_until).await? {
                self.release(&claimed).await;
                return Err(KlaxonError::DeliveryInProgress {
                    incident_id: item.incident_id.clone(),
                    item_id: item.item_id.clone(),
                    lease_until: lease_until.to_rfc3339(),
                });
            }
            claimed.push(OutboxItem {
                lease_until,
                ..item
            });
        }
        tracing::warn!(
            items = claimed.len(),
            "duplicate delivery found this event's undelivered messages; delivering them now"
        );
        let cutoff = claimed[0].item_id.clone();
        self.deliver_in_order(claimed, markers, open, tracker_key, Some(&cutoff))
            .await
    }
}

/// The timeline note of a page dropped as superseded.
fn superseded_note(item: &OutboxItem, now: DateTime<Utc>) -> TimelineEntry {
    let (route, transition) = match &item.message {
        OutboundMessage::Page(n) => (n.route.as_str(), n.transition.as_str()),
        OutboundMessage::Lifecycle(_) => ("-", "-"),
    };
    note(
        item,
        now,
        "superseded",
        format!(
            "the {transition} page to route {route} was not delivered in time and is no longer true (the incident is not open): dropped as superseded"
        ),
    )
}

/// The timeline note of an older message that failed for good and was set aside.
fn set_aside_note(item: &OutboxItem, error: &KlaxonError, now: DateTime<Utc>) -> TimelineEntry {
    let what = match &item.message {
        OutboundMessage::Page(n) => format!(
            "the {} page to route {}",
            n.transition.as_str(),
            n.route.as_str()
        ),
        OutboundMessage::Lifecycle(e) => format!("the `{}` event", e.detail_type),
    };
    note(
        item,
        now,
        "set-aside",
        text::bounded(
            &text::single_line(&format!(
                "{what} could not be delivered ({error}) and was set aside, so that newer messages go out"
            )),
            1024,
        ),
    )
}

fn note(item: &OutboxItem, now: DateTime<Utc>, what: &str, summary: String) -> TimelineEntry {
    TimelineEntry {
        incident_id: item.incident_id.clone(),
        at: now,
        entry_id: format!("{what}#{}", item.item_id),
        kind: EntryKind::Note,
        outcome: Outcome::Noted,
        summary,
        // The page's own event, as far as the outbox knows it.
        actor: None,
        action: None,
        note: None,
        evidence: Some(Evidence {
            event_id: item.event_id.clone(),
            state: AlarmState::Alarm,
            state_timestamp: item.created_at,
            previous_state: None,
            previous_state_timestamp: None,
            event_time: None,
            received_at: now,
            reason: None,
            reason_data: None,
            actions_suppressed_by: None,
            actions_suppressed_reason: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LifecycleEvent;
    use crate::route::Route;
    use chrono::TimeZone;

    fn t(s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, s).unwrap()
    }

    fn item(incident: &str, id: &str, at: u32, message: OutboundMessage) -> OutboxItem {
        OutboxItem {
            incident_id: incident.into(),
            event_id: format!("e-{id}"),
            item_id: format!("{at:013}#{id}"),
            created_at: t(at),
            lease_until: DateTime::<Utc>::UNIX_EPOCH,
            message,
        }
    }

    fn page(transition: Transition) -> OutboundMessage {
        OutboundMessage::Page(Notification {
            route: Route::Production,
            transition,
            subject: "s".into(),
            message: "m".into(),
            attributes: Default::default(),
            email_message: None,
            produced_by: None,
        })
    }

    fn lifecycle() -> OutboundMessage {
        OutboundMessage::Lifecycle(LifecycleEvent {
            source: None,
            detail_type: "Incident Opened".into(),
            resources: vec![],
            detail: serde_json::json!({}),
        })
    }

    #[test]
    fn an_opened_page_of_an_incident_no_longer_open_is_superseded() {
        let older = vec![
            item("INC-1", "b", 2, lifecycle()),
            item("INC-1", "a", 1, page(Transition::Opened)),
        ];
        let o = order_older(older.clone(), t(10), None);
        assert_eq!(o.superseded, vec![older[1].clone()]);
        assert_eq!(
            o.deliver,
            vec![older[0].clone()],
            "lifecycle events are kept"
        );
        // Still open: delivered late, in order.
        let o = order_older(older.clone(), t(10), Some("INC-1"));
        assert!(o.superseded.is_empty());
        assert_eq!(o.deliver, vec![older[1].clone(), older[0].clone()]);
    }

    #[test]
    fn a_superseded_page_another_invocation_holds_is_waited_for_not_dropped() {
        let mut opened = item("INC-1", "a", 1, page(Transition::Opened));
        opened.lease_until = t(30);
        let o = order_older(vec![opened.clone()], t(10), None);
        assert_eq!(o.busy, Some(opened));
        assert!(o.superseded.is_empty());
    }

    #[test]
    fn older_items_go_in_commit_order() {
        // Ids begin with the commit's tracker version, whatever the items' receive times.
        let mut late = item("INC-1", "b", 1, lifecycle());
        late.item_id = "00000000000000000007#b#0".into();
        let mut early = item("INC-1", "a", 9, lifecycle());
        early.item_id = "00000000000000000006#a#0".into();
        let o = order_older(vec![late.clone(), early.clone()], t(10), Some("INC-1"));
        assert_eq!(o.deliver, vec![early, late]);
    }

    #[test]
    fn recoveries_are_never_superseded_and_live_leases_make_it_wait() {
        let mut resolved = item("INC-1", "a", 1, page(Transition::Resolved));
        let o = order_older(vec![resolved.clone()], t(10), None);
        assert_eq!(o.deliver.len(), 1);
        resolved.lease_until = t(30);
        let o = order_older(vec![resolved.clone()], t(10), None);
        assert_eq!(o.busy, Some(resolved));
        assert!(o.deliver.is_empty());
    }
}
