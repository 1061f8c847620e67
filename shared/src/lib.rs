//! Klaxon's shared library: domain logic with no AWS types (intake, ownership, runbook,
//! plan, render, engine), the ports it talks through, an in-memory backend in [`memory`], and
//! one adapter per AWS service in [`aws`]. The layout follows the flow: docs/ARCHITECTURE.md.

pub mod action;
pub mod aws;
pub mod config;
pub mod engine;
pub mod error;
pub mod http_lambda;
pub mod infra;
pub mod intake;
pub mod item_size;
pub mod lambda;
pub mod layout;
pub mod link;
pub mod logging;
pub mod lookup;
pub mod memory;
pub mod model;
pub mod ownership;
pub mod pattern;
pub mod plan;
pub mod ports;
pub mod render;
pub mod report;
pub mod respond;
pub mod route;
pub mod runbook;
pub mod runbook_test;
pub mod severity;
pub mod tags;
pub mod text;
