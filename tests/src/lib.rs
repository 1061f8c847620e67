//! Support for integration tests against moto server on 127.0.0.1.
//!
//! Each test gets its own uniquely named table, topics, bus and SQS fixture queues, created
//! by `scripts/local_aws.py` (the same script that sets up local AWS for users), so tests run
//! in parallel against one server. The endpoint comes from `AWS_ENDPOINT_URL`, which
//! `scripts/test` sets after starting moto; only 127.0.0.1 / localhost is accepted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use serde_json::Value;

use klaxon::aws::AwsEngine;
use klaxon::config::Config;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn endpoint() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set. These tests need moto server: run `scripts/test` \
             (the README's test command), or `scripts/local-aws start` and export \
             AWS_ENDPOINT_URL=http://127.0.0.1:4566"
        )
    });
    let host = endpoint
        .trim_start_matches("http://")
        .split([':', '/'])
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        host == "127.0.0.1" || host == "localhost",
        "refusing AWS_ENDPOINT_URL={endpoint}: integration tests only ever target 127.0.0.1"
    );
    endpoint
}

pub fn sample(name: &str) -> Value {
    let path = repo_root().join("events").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub struct LocalAws {
    pub sdk: SdkConfig,
    pub resources: Value,
}

/// The Python with boto3 that runs `scripts/local_aws.py`.
fn python() -> PathBuf {
    std::env::var("KLAXON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(".venv/bin/python"))
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl LocalAws {
    /// Creates a fresh resource set named after `test` on the local endpoint.
    pub async fn fresh(test: &str) -> LocalAws {
        Self::create(test, false).await
    }

    /// Like [`LocalAws::fresh`], plus what enrichment and tag lookups read: a target group
    /// with a stopped instance, security groups tagged production and dev, a Route 53
    /// health check (`resources["fixtures"]["world"]`).
    pub async fn fresh_world(test: &str) -> LocalAws {
        Self::create(test, true).await
    }

    async fn create(test: &str, world: bool) -> LocalAws {
        let endpoint = endpoint();
        let unique = format!(
            "k{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            test.replace('_', "-")
        );
        let prefix: String = unique.chars().take(48).collect();
        let python = python();
        let output = std::process::Command::new(&python)
            .arg(repo_root().join("scripts/local_aws.py"))
            .args([
                "setup",
                "--endpoint",
                &endpoint,
                "--prefix",
                &prefix,
                "--fixtures",
            ])
            .args(world.then_some("--world"))
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e} (run scripts/local-aws install)",
                    python.display()
                )
            });
        assert!(
            output.status.success(),
            "local_aws.py setup failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let resources: Value = serde_json::from_slice(&output.stdout).unwrap();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "klaxon-tests",
            ))
            .load()
            .await;
        LocalAws { sdk, resources }
    }

    pub fn config(&self) -> Config {
        let r = &self.resources;
        let topic = |route: &str| r["topics"][route].as_str().unwrap().to_string();
        let vars = [
            ("KLAXON_TABLE", r["table"].as_str().unwrap().to_string()),
            (
                "KLAXON_EVENT_BUS",
                r["event_bus"].as_str().unwrap().to_string(),
            ),
            ("KLAXON_TOPIC_PRODUCTION", topic("production")),
            ("KLAXON_TOPIC_TEST", topic("test")),
            ("KLAXON_TOPIC_SECURITY", topic("security")),
            ("KLAXON_TOPIC_OPS", topic("ops")),
        ];
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap()
    }

    /// The engine with the shipped runbooks.
    pub fn engine(&self) -> AwsEngine {
        let catalog = klaxon::runbook::Catalog::embedded().expect("shipped runbooks are valid");
        self.engine_with(catalog)
    }

    /// The engine with the given runbooks.
    pub fn engine_with(&self, catalog: klaxon::runbook::Catalog) -> AwsEngine {
        klaxon::aws::engine_from_sdk_config(&self.sdk, self.config(), std::sync::Arc::new(catalog))
    }

    /// The Publish requests moto recorded for a route's topic (`message`, `subject`,
    /// `attributes`): the message as sent, before SNS picks a protocol's copy.
    pub fn published(&self, route: &str) -> Vec<Value> {
        let output = std::process::Command::new(python())
            .arg(repo_root().join("scripts/local_aws.py"))
            .args(["published", "--endpoint", &endpoint(), "--topic"])
            .arg(self.resources["topics"][route].as_str().unwrap())
            .output()
            .expect("runs local_aws.py");
        assert!(
            output.status.success(),
            "local_aws.py published failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    pub fn table(&self) -> String {
        self.resources["table"].as_str().unwrap().to_string()
    }

    pub fn queue(&self, name: &str) -> String {
        self.resources["fixtures"]["queues"][name]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Drains a fixture queue: every message body, parsed as JSON. Stops after two empty
    /// receives in a row (moto delivers SNS→SQS and rule→SQS synchronously).
    pub async fn drain(&self, queue: &str) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let url = self.queue(queue);
        let mut bodies = Vec::new();
        let mut empty = 0;
        while empty < 2 {
            let out = sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("ReceiveMessage");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                empty += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            empty = 0;
            for m in messages {
                bodies.push(serde_json::from_str(m.body().unwrap()).unwrap());
                sqs.delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        bodies
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    /// Every item in the table (tests only: the product never scans).
    pub async fn scan_all(
        &self,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let out = self
            .dynamodb()
            .scan()
            .table_name(self.table())
            .send()
            .await
            .unwrap();
        out.items.unwrap_or_default()
    }
}

/// The SNS envelope's message attribute value, as delivered to an SQS subscriber.
pub fn sns_attribute<'a>(envelope: &'a Value, name: &str) -> Option<&'a str> {
    envelope["MessageAttributes"][name]["Value"].as_str()
}
