//! Creates in the emulator every table, bucket, queue and bucket notification template.yaml
//! declares. Creation is idempotent: what exists already is kept.

use crate::template::{scalar_string, Physical, Template, TemplateError, ACCOUNT, REGION};
use adapters::aws::AwsConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use serde_yaml::Value;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("creating {resource}: {cause}")]
    Create { resource: String, cause: String },
}

fn failed(resource: &str, cause: impl std::fmt::Display) -> ProvisionError {
    ProvisionError::Create {
        resource: resource.to_owned(),
        cause: cause.to_string(),
    }
}

/// The queues the template declares, for the event source mappings and the admin endpoints.
#[derive(Debug, Clone)]
pub struct QueueInfo {
    pub logical_id: String,
    pub url: String,
    pub arn: String,
}

pub async fn provision(template: &mut Template, aws: &AwsConfig) -> Result<Vec<QueueInfo>, ProvisionError> {
    create_tables(template, aws).await?;
    let queues = create_queues(template, aws).await?;
    create_buckets(template, aws).await?;
    Ok(queues)
}

fn physical_name(template: &Template, id: &str) -> String {
    format!("{}-{}", template.stack_name, id).to_lowercase()
}

async fn create_tables(template: &mut Template, aws: &AwsConfig) -> Result<(), ProvisionError> {
    let client = aws.dynamodb();
    for (id, props) in template.resources("AWS::DynamoDB::Table")? {
        let props = template.resolve(&props)?;
        let name = match props.get("TableName") {
            Some(name) => scalar_string(name).unwrap_or_default(),
            None => physical_name(template, &id),
        };
        let key_schema = |value: Option<&Value>| -> Vec<KeySchemaElement> {
            value
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .filter_map(|k| {
                    let key_type = if k.get("KeyType")?.as_str()? == "HASH" {
                        KeyType::Hash
                    } else {
                        KeyType::Range
                    };
                    KeySchemaElement::builder()
                        .attribute_name(k.get("AttributeName")?.as_str()?)
                        .key_type(key_type)
                        .build()
                        .ok()
                })
                .collect()
        };
        let mut request = client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(props.get("KeySchema"))));
        for attr in props
            .get("AttributeDefinitions")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let kind = match attr.get("AttributeType").and_then(Value::as_str) {
                Some("N") => ScalarAttributeType::N,
                Some("B") => ScalarAttributeType::B,
                _ => ScalarAttributeType::S,
            };
            let definition = AttributeDefinition::builder()
                .attribute_name(attr.get("AttributeName").and_then(Value::as_str).unwrap_or_default())
                .attribute_type(kind)
                .build()
                .map_err(|e| failed(&id, e))?;
            request = request.attribute_definitions(definition);
        }
        for index in props
            .get("GlobalSecondaryIndexes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let projection = match index
                .get("Projection")
                .and_then(|p| p.get("ProjectionType"))
                .and_then(Value::as_str)
            {
                Some("KEYS_ONLY") => ProjectionType::KeysOnly,
                Some("INCLUDE") => ProjectionType::Include,
                _ => ProjectionType::All,
            };
            let gsi = GlobalSecondaryIndex::builder()
                .index_name(index.get("IndexName").and_then(Value::as_str).unwrap_or_default())
                .set_key_schema(Some(key_schema(index.get("KeySchema"))))
                .projection(Projection::builder().projection_type(projection).build())
                .build()
                .map_err(|e| failed(&id, e))?;
            request = request.global_secondary_indexes(gsi);
        }
        match request.send().await {
            Ok(_) => {}
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(err) => return Err(failed(&id, aws_sdk_dynamodb::error::DisplayErrorContext(&err))),
        }
        if let Some(ttl) = props.get("TimeToLiveSpecification") {
            let attribute = ttl.get("AttributeName").and_then(Value::as_str).unwrap_or_default();
            let enabled = ttl.get("Enabled").and_then(Value::as_bool).unwrap_or(false);
            let spec = TimeToLiveSpecification::builder()
                .attribute_name(attribute)
                .enabled(enabled)
                .build()
                .map_err(|e| failed(&id, e))?;
            // Re-enabling TTL on a second run is refused by DynamoDB; the first run set it.
            let _ = client
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(spec)
                .send()
                .await;
        }
        let arn = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}");
        template.physical.insert(
            id,
            Physical {
                reference: name,
                attributes: HashMap::from([("Arn".to_owned(), arn)]),
            },
        );
    }
    Ok(())
}

async fn create_queues(template: &mut Template, aws: &AwsConfig) -> Result<Vec<QueueInfo>, ProvisionError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let client = aws.sqs();
    let mut pending = template.resources("AWS::SQS::Queue")?;
    let mut created = Vec::new();
    // Queues that others name as their dead-letter target are created first.
    while !pending.is_empty() {
        let before = pending.len();
        let mut waiting = Vec::new();
        for (id, props) in pending {
            let Ok(props) = template.resolve(&props) else {
                waiting.push((id, props));
                continue;
            };
            let name = match props.get("QueueName") {
                Some(name) => scalar_string(name).unwrap_or_default(),
                None => physical_name(template, &id),
            };
            let mut request = client.create_queue().queue_name(&name);
            for (key, attribute) in [
                ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
                ("MessageRetentionPeriod", QueueAttributeName::MessageRetentionPeriod),
                ("DelaySeconds", QueueAttributeName::DelaySeconds),
                (
                    "ReceiveMessageWaitTimeSeconds",
                    QueueAttributeName::ReceiveMessageWaitTimeSeconds,
                ),
            ] {
                if let Some(value) = props.get(key).and_then(scalar_string) {
                    request = request.attributes(attribute, value);
                }
            }
            if let Some(redrive) = props.get("RedrivePolicy") {
                let policy = serde_json::json!({
                    "deadLetterTargetArn": redrive.get("deadLetterTargetArn").and_then(scalar_string),
                    "maxReceiveCount": redrive.get("maxReceiveCount").and_then(scalar_string),
                });
                request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
            }
            let url = request
                .send()
                .await
                .map_err(|e| failed(&id, aws_sdk_sqs::error::DisplayErrorContext(&e)))?
                .queue_url
                .unwrap_or_default();
            let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}");
            let attributes = HashMap::from([
                ("Arn".to_owned(), arn.clone()),
                ("QueueName".to_owned(), name),
                ("QueueUrl".to_owned(), url.clone()),
            ]);
            template.physical.insert(
                id.clone(),
                Physical {
                    reference: url.clone(),
                    attributes,
                },
            );
            created.push(QueueInfo {
                logical_id: id,
                url,
                arn,
            });
        }
        if waiting.len() == before {
            let ids: Vec<_> = waiting.iter().map(|(id, _)| id.as_str()).collect();
            return Err(failed(
                &ids.join(", "),
                "queues refer to something that cannot be created",
            ));
        }
        pending = waiting;
    }
    Ok(created)
}

async fn create_buckets(template: &mut Template, aws: &AwsConfig) -> Result<(), ProvisionError> {
    let client = aws.s3();
    for (id, props) in template.resources("AWS::S3::Bucket")? {
        let props = template.resolve(&props)?;
        let name = match props.get("BucketName") {
            Some(name) => scalar_string(name).unwrap_or_default(),
            None => format!("{}-{ACCOUNT}", physical_name(template, &id)),
        };
        match client.create_bucket().bucket(&name).send().await {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_bucket_already_owned_by_you()) => {}
            Err(err) => return Err(failed(&id, aws_sdk_s3::error::DisplayErrorContext(&err))),
        }
        if props
            .get("VersioningConfiguration")
            .and_then(|v| v.get("Status"))
            .and_then(Value::as_str)
            == Some("Enabled")
        {
            use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
            client
                .put_bucket_versioning()
                .bucket(&name)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| failed(&id, aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        }
        if let Some(queues) = props
            .get("NotificationConfiguration")
            .and_then(|n| n.get("QueueConfigurations"))
            .and_then(Value::as_sequence)
        {
            use aws_sdk_s3::types::{
                Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
                QueueConfiguration, S3KeyFilter,
            };
            let mut configuration = NotificationConfiguration::builder();
            for queue in queues {
                let arn = queue.get("Queue").and_then(scalar_string).unwrap_or_default();
                let event = queue
                    .get("Event")
                    .and_then(Value::as_str)
                    .unwrap_or("s3:ObjectCreated:*");
                // Key filters (`prefix`, `suffix`), so moto notifies exactly what S3 would.
                let rules: Vec<FilterRule> = queue
                    .get("Filter")
                    .and_then(|f| f.get("S3Key"))
                    .and_then(|k| k.get("Rules"))
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                    .map(|rule| {
                        FilterRule::builder()
                            .name(FilterRuleName::from(
                                rule.get("Name").and_then(Value::as_str).unwrap_or_default(),
                            ))
                            .value(rule.get("Value").and_then(scalar_string).unwrap_or_default())
                            .build()
                    })
                    .collect();
                let mut entry = QueueConfiguration::builder().queue_arn(arn).events(Event::from(event));
                if !rules.is_empty() {
                    entry = entry.filter(
                        NotificationConfigurationFilter::builder()
                            .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                            .build(),
                    );
                }
                let entry = entry.build().map_err(|e| failed(&id, e))?;
                configuration = configuration.queue_configurations(entry);
            }
            client
                .put_bucket_notification_configuration()
                .bucket(&name)
                .notification_configuration(configuration.build())
                .send()
                .await
                .map_err(|e| failed(&id, aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        }
        let arn = format!("arn:aws:s3:::{name}");
        template.physical.insert(
            id,
            Physical {
                reference: name,
                attributes: HashMap::from([("Arn".to_owned(), arn)]),
            },
        );
    }
    Ok(())
}
