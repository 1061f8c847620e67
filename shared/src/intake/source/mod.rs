//! One parser per source, each from the shared [`Envelope`](super::envelope::Envelope) to
//! a state change.

pub(in crate::intake) mod alarm;
pub(in crate::intake) mod alarm_config;
pub(in crate::intake) mod cloudtrail;
pub(in crate::intake) mod cloudtrail_request;
pub(in crate::intake) mod config_compliance;
pub(in crate::intake) mod finding;
pub(in crate::intake) mod guardduty;
pub(in crate::intake) mod health;
pub(in crate::intake) mod securityhub_asff;
pub(in crate::intake) mod securityhub_custom_action;
pub(in crate::intake) mod securityhub_ocsf;
