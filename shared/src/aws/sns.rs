//! SNS adapter for [`Pager`].

use aws_sdk_sns::operation::publish::builders::PublishFluentBuilder;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::error::KlaxonError;
use crate::model::Notification;
use crate::ports::Pager;
use crate::route::Route;

pub struct SnsPager {
    client: aws_sdk_sns::Client,
    /// `KLAXON_SECURITY_EMAIL_DETAIL`: security pages go out with a per-protocol message,
    /// whose `email` copy keeps addresses and ids.
    security_email_detail: bool,
}

/// SNS's limit on `Message`, the whole JSON object when the structure is `json`.
const SNS_MAX_MESSAGE_BYTES: usize = 256 * 1024;

impl SnsPager {
    pub fn new(client: aws_sdk_sns::Client, security_email_detail: bool) -> Self {
        SnsPager {
            client,
            security_email_detail,
        }
    }

    /// The Publish request for a page. Pages are sent with the default (String) structure
    /// and their message attributes, which subscription filter policies select on. The one
    /// exception is a security page when the e-mail detail is on: `MessageStructure=json`,
    /// `default` (SMS, chat, every other protocol) redacted, `email` with the details; SNS
    /// sends no message attributes with that structure, so none are set.
    pub fn request(&self, topic_arn: &str, n: &Notification) -> PublishFluentBuilder {
        let request = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .subject(&n.subject);
        if let Some(per_protocol) = self.per_protocol_message(n) {
            return request.message_structure("json").message(per_protocol);
        }
        let mut request = request.message(&n.message);
        for (name, value) in &n.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("data_type is set");
            request = request.message_attributes(name, attribute);
        }
        request
    }

    fn per_protocol_message(&self, n: &Notification) -> Option<String> {
        // Only the security route: every other topic keeps its attributes whatever a page holds.
        if !self.security_email_detail || n.route != Route::Security {
            return None;
        }
        let email = n.email_message.as_deref()?;
        let message = serde_json::json!({ "default": n.message, "email": email }).to_string();
        // Over SNS's limit (JSON escaping can double a message): the redacted page still
        // goes out, with String structure, rather than no page at all.
        (message.len() <= SNS_MAX_MESSAGE_BYTES).then_some(message)
    }
}

impl Pager for SnsPager {
    async fn publish(
        &self,
        topic_arn: &str,
        notification: &Notification,
    ) -> Result<String, KlaxonError> {
        let output = self
            .request(topic_arn, notification)
            .send()
            .await
            .map_err(|e| super::error::classify("sns", "Publish", e))?;
        Ok(output.message_id().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Transition;

    fn pager(security_email_detail: bool) -> SnsPager {
        let config = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .build();
        SnsPager::new(
            aws_sdk_sns::Client::from_conf(config),
            security_email_detail,
        )
    }

    fn page(email_message: Option<&str>) -> Notification {
        Notification {
            route: Route::Security,
            transition: Transition::Opened,
            subject: "s".into(),
            message: "HIGH security: Remote IP [redacted]".into(),
            attributes: [("severity".to_string(), "critical".to_string())].into(),
            email_message: email_message.map(String::from),
            produced_by: None,
        }
    }

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:t";

    #[test]
    fn pages_are_string_structure_with_attributes() {
        // No e-mail copy, the e-mail detail off, or another route: String structure,
        // the redacted message, attributes set.
        let detail = Some("Remote IP 198.51.100.23");
        let mut production = page(detail);
        production.route = Route::Production;
        for (switch, n) in [
            (true, page(None)),
            (false, page(detail)),
            (true, production),
        ] {
            let request = pager(switch).request(TOPIC, &n);
            assert_eq!(request.get_message_structure(), &None);
            assert_eq!(
                request.get_message().as_deref(),
                Some("HIGH security: Remote IP [redacted]")
            );
            let attrs = request.get_message_attributes().as_ref().unwrap();
            assert_eq!(attrs["severity"].string_value(), Some("critical"));
            assert_eq!(attrs["severity"].data_type(), "String");
        }
    }

    #[test]
    fn a_security_page_with_email_detail_is_per_protocol() {
        let request = pager(true).request(TOPIC, &page(Some("Remote IP 198.51.100.23")));
        assert_eq!(request.get_message_structure().as_deref(), Some("json"));
        let message: serde_json::Value =
            serde_json::from_str(request.get_message().as_deref().unwrap()).unwrap();
        assert_eq!(message["default"], "HIGH security: Remote IP [redacted]");
        assert_eq!(message["email"], "Remote IP 198.51.100.23");
        assert_eq!(
            message.as_object().unwrap().len(),
            2,
            "sms, https... get default"
        );
        assert!(
            request.get_message_attributes().is_none(),
            "SNS drops attributes with json"
        );
        assert_eq!(request.get_subject().as_deref(), Some("s"));
    }

    #[test]
    fn a_per_protocol_message_over_the_sns_limit_falls_back_to_the_redacted_page() {
        // Newlines double when JSON-escaped: two 64 KiB halves of newlines exceed 256 KiB.
        let huge = "\n".repeat(crate::render::MAX_MESSAGE_BYTES);
        let mut n = page(Some(&huge));
        n.message = format!("REDACTED{}", &huge[8..]);
        let request = pager(true).request(TOPIC, &n);
        assert_eq!(request.get_message_structure(), &None);
        assert!(request.get_message_attributes().is_some());
        assert!(request
            .get_message()
            .as_deref()
            .unwrap()
            .starts_with("REDACTED"));
    }
}
