//! SNS adapter for [`Pager`].

use aws_sdk_sns::operation::publish::builders::PublishFluentBuilder;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::error::KlaxonError;
use crate::model::Notification;
use crate::ports::Pager;

pub struct SnsPager {
    client: aws_sdk_sns::Client,
}

impl SnsPager {
    pub fn new(client: aws_sdk_sns::Client) -> Self {
        SnsPager { client }
    }

    /// The Publish request for a page. `MessageStructure` is never set: with `json`, SNS
    /// drops message attributes, and subscription filter policies would stop matching.
    pub fn request(&self, topic_arn: &str, n: &Notification) -> PublishFluentBuilder {
        let mut request = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .subject(&n.subject)
            .message(&n.message);
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
}

impl Pager for SnsPager {
    async fn publish(
        &self,
        topic_arn: &str,
        notification: &Notification,
    ) -> Result<String, KlaxonError> {
        let request = self.request(topic_arn, notification);
        if request.get_message_structure().is_some() {
            return Err(KlaxonError::CorruptRecord {
                key: "sns:Publish".into(),
                reason: "MessageStructure must stay unset: attributes are dropped with json".into(),
            });
        }
        let output = request
            .send()
            .await
            .map_err(|e| super::classify("sns", "Publish", e))?;
        Ok(output.message_id().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Transition;
    use crate::ownership::Route;

    #[test]
    fn publish_request_is_string_structure_with_attributes() {
        let config = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .build();
        let pager = SnsPager::new(aws_sdk_sns::Client::from_conf(config));
        let n = Notification {
            route: Route::Production,
            transition: Transition::Opened,
            subject: "s".into(),
            message: "m".into(),
            attributes: [("severity".to_string(), "critical".to_string())].into(),
            produced_by: None,
        };
        let request = pager.request("arn:aws:sns:us-east-1:1:t", &n);
        assert_eq!(
            request.get_message_structure(),
            &None,
            "never MessageStructure=json"
        );
        let attrs = request.get_message_attributes().as_ref().unwrap();
        assert_eq!(attrs["severity"].string_value(), Some("critical"));
        assert_eq!(attrs["severity"].data_type(), "String");
    }
}
