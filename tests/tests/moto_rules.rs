//! The deployed intake rules (`infra/rules.json`, generated from the runbooks by
//! `klaxon infra rules`) created on moto's EventBridge: every sample in `events/` (alarms,
//! `security/`, `health/`) is put with
//! PutEvents, and lands in the stand-in queue of the handler that serves it (an SQS queue in
//! place of the function) or, if no runbook would act on it or it is one of this stack's own
//! alarms, nowhere. The expectation comes from Klaxon's own matcher (the runbook triggers);
//! moto's EventBridge is the independent judge of the deployed patterns. The patterns are
//! deployed as CloudFormation would for a stack `klaxon-prod` in account 123456789012 and
//! us-east-1 (the alarm rule's `Fn::Sub` resolved); alarms named `klaxon-*` of a customer or
//! of another stack must still reach alarm-intake.

use klaxon::runbook::Catalog;
use klaxon_integration_tests::{repo_root, LocalAws};
use serde_json::Value;

#[tokio::test]
async fn every_sample_lands_in_the_handler_that_serves_it_and_nowhere_else() {
    let aws = LocalAws::fresh("rules").await;
    let rules: Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("infra/rules.json")).expect("infra/rules.json"),
    )
    .unwrap();
    let events = aws_sdk_eventbridge::Client::new(&aws.sdk);
    let sqs = aws_sdk_sqs::Client::new(&aws.sdk);
    let bus = aws.resources["event_bus"].as_str().unwrap().to_string();
    // The stack the sample of Klaxon's own alarm (`klaxon-prod-alarm-intake-errors`) is of.
    let stack = klaxon::infra::Deployment::new("aws", "us-east-1", "123456789012", "klaxon-prod");

    // One stand-in queue per handler.
    let mut queues = std::collections::BTreeMap::new();
    // A handler may be fed by several rules (patterns are at most 2048 characters): each
    // of its rules targets its one queue.
    for rule in rules["rules"].as_array().unwrap() {
        let handler = rule["handler"].as_str().unwrap();
        let name = format!("{}-{handler}", aws.table());
        // CreateQueue with an existing queue's name answers that queue.
        let url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        let rule_name = format!("{}-{}", aws.table(), rule["name"].as_str().unwrap());
        events
            .put_rule()
            .name(&rule_name)
            .event_bus_name(&bus)
            .event_pattern(stack.pattern(&rule["event_pattern"]).to_string())
            .send()
            .await
            .expect("moto accepts the generated pattern");
        events
            .put_targets()
            .rule(&rule_name)
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id(handler)
                    .arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        queues.insert(handler.to_string(), url);
    }

    let catalog = Catalog::embedded().unwrap();
    let mut files: Vec<_> = ["events", "events/security", "events/health"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(repo_root().join(dir)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut samples: Vec<(String, Value)> = files
        .iter()
        .map(|file| {
            (
                file.file_name().unwrap().to_string_lossy().to_string(),
                serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap(),
            )
        })
        .collect();
    // Alarms named `klaxon-*` that are not this stack's: a customer's, another Klaxon
    // stack's, this stack's name in another account. Each must reach alarm-intake.
    let own: Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("events/alarm-klaxon-self-alarm.json")).unwrap(),
    )
    .unwrap();
    for (label, account, alarm) in [
        ("customer", "123456789012", "klaxon-db-cpu"),
        (
            "other-stack",
            "123456789012",
            "klaxon-dev-alarm-intake-errors",
        ),
        (
            "other-account",
            "210987654321",
            "klaxon-prod-alarm-intake-errors",
        ),
    ] {
        let mut event = own.clone();
        event["detail"]["alarmName"] = alarm.into();
        event["resources"] = serde_json::json!([format!(
            "arn:aws:cloudwatch:us-east-1:{account}:alarm:{alarm}"
        )]);
        samples.push((format!("alarm-named-klaxon-{label}"), event));
    }
    let mut delivered = 0;
    let mut moto_blind = 0;
    let mut klaxon_named_delivered = 0;
    for (name, event) in &samples {
        let name = name.clone();
        let own_alarm = event["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|arn| stack.is_own_alarm(arn));
        let served = !catalog.candidates(event).is_empty() && !own_alarm;
        let serving = klaxon::infra::handler_for_event(&catalog, event);
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&bus)
            .source(event["source"].as_str().unwrap())
            .detail_type(event["detail-type"].as_str().unwrap())
            .detail(event["detail"].to_string())
            .set_resources(
                event["resources"]
                    .as_array()
                    .map(|r| r.iter().map(|v| v.as_str().unwrap().to_string()).collect()),
            )
            .build();
        let out = events.put_events().entries(entry).send().await.unwrap();
        assert_eq!(out.failed_entry_count(), 0, "{name}");
        for (handler, url) in &queues {
            let messages = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            for m in &messages {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            let mut expected = usize::from(served && serving == Some(handler.as_str()));
            // moto gap: its EventPattern flattens nested objects but not arrays of objects
            // (moto/events/models.py `_flatten_dict`), so a pattern through
            // `ipPermissions.items[].ipRanges.items[].cidrIp` never matches there, while
            // EventBridge matches fields inside arrays of objects. For those samples the
            // deployed pattern is judged by Klaxon's matcher instead, and moto must deliver
            // nothing.
            let through_array_of_objects =
                event["detail"]["requestParameters"]["ipPermissions"]["items"].is_array();
            if through_array_of_objects && expected == 1 {
                let caught = rules["rules"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| r["handler"] == handler.as_str())
                    .any(|r| {
                        klaxon::pattern::Pattern::from_value(&stack.pattern(&r["event_pattern"]))
                            .unwrap()
                            .matches(event)
                    });
                assert!(caught, "{name}: the deployed rules miss it");
                moto_blind += 1;
                expected = 0;
            }
            assert_eq!(
                messages.len(),
                expected,
                "{name}: {} message(s) reached {handler}, expected {expected}",
                messages.len()
            );
            if expected == 1 {
                let body: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
                assert_eq!(body["detail"], event["detail"], "{name}");
                delivered += 1;
                if name.starts_with("alarm-named-klaxon-") {
                    assert_eq!(handler, "alarm-intake", "{name}");
                    klaxon_named_delivered += 1;
                }
            }
        }
        if name.starts_with("alarm-") && !own_alarm {
            assert!(served, "{name}: an alarm sample no runbook serves");
        }
        // Other CloudWatch events (contributor insights) and Klaxon's own alarms reach no
        // handler; alarm configuration changes reach alarm-intake (deletions end incidents).
        if name.starts_with("cloudwatch-config") {
            assert!(served, "{name}: configuration changes reach alarm-intake");
        } else if name.starts_with("cloudwatch-") || own_alarm {
            assert!(!served, "{name} must reach no handler");
        }
    }
    assert!(
        delivered + moto_blind >= 40,
        "only {delivered} samples delivered"
    );
    assert_eq!(
        klaxon_named_delivered, 3,
        "alarms named klaxon-* that are not this stack's reach alarm-intake"
    );
    assert_eq!(
        queues.len(),
        klaxon::infra::HANDLERS.len(),
        "a stand-in queue per handler, whatever its number of rules"
    );
}
