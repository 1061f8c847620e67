// Klaxon's resources in CDK: the same as infra/template.yaml (SAM). The intake rules come from
// infra/rules.json, generated from the runbooks by `klaxon infra rules`; test/klaxon.test.ts
// compares this stack with the SAM template on rules, functions, function URLs and their
// permissions, environment and IAM.
import * as fs from 'fs';
import * as path from 'path';
import { Aws, CfnCondition, CfnParameter, Duration, Fn, RemovalPolicy, Stack, StackProps, CfnOutput } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';

export const REPO_ROOT = path.join(__dirname, '..', '..', '..');

export interface RulesDocument {
  /** `Fn::Sub` texts: Klaxon's own alarms are named `${AWS::StackName}-...`; the alarm rule
   * excludes the alarms whose ARN starts with `self_alarm_arn_prefix`. */
  self_alarm_name_prefix: string;
  self_alarm_arn_prefix: string;
  metric_namespaces: string[];
  /** Per handler, the `dynamodb:LeadingKeys` patterns of its role. */
  leading_keys: Record<string, string[]>;
  /** The `source` of every event Klaxon puts on its bus (`events:source` condition). */
  event_sources: string[];
  rules: { name: string; handler: string; runbooks: string[]; event_pattern: Record<string, unknown> }[];
}

export function loadRules(): RulesDocument {
  return JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'infra', 'rules.json'), 'utf8'));
}

export interface KlaxonStackProps extends StackProps {
  /** Lambda architecture; the build must match (arm64 needs the aarch64 Rust target and Zig). */
  readonly architecture?: lambda.Architecture;
}

/** One intake handler: a binary of handlers/<handler>/, with its own function, role and alarms. */
interface IntakeSpec {
  /** The binary, the function name's suffix (`<stack>-<handler>`) and the rules' `handler`. */
  readonly handler: string;
  /** How its alarms name it: "The <label> handler returned errors". */
  readonly label: string;
  readonly description: string;
  readonly reservedConcurrentExecutions: number;
  /** The topics it may page (sns:Publish). */
  readonly pageTopics: sns.ITopic[];
  /** Statements beyond those every handler has (logs, table, pages, bus, failure queue, key). */
  readonly statements: iam.PolicyStatement[];
}

/** A responder function: a binary of handlers/<handler>/, reached only through its function URL. */
interface ResponderSpec {
  /** The binary and the function name's suffix (`<stack>-<handler>`). */
  readonly handler: string;
  /** How its alarms name it: "<label> failed requests". */
  readonly label: string;
  readonly description: string;
  readonly authType: lambda.FunctionUrlAuthType;
  readonly reservedConcurrentExecutions: number;
}

/**
 * The partitions of the table a responder role may use (`dynamodb:LeadingKeys` of its table
 * statement; written here, as in infra/template.yaml: rules.json lists the intake handlers only):
 * incidents, timelines and outbox (`INCIDENT#`), the trackers of any source (`ALARM#`: an
 * action is serialised on its incident's tracker), the actions' idempotency records
 * (`EVENT#action:<incident>:<action id>`) and links (`LINK#`: read by the page; written by
 * responder-api, whose resolve pages carry a new link; the page's own resolve pages carry none).
 */
const RESPONDER_LEADING_KEYS = ['ALARM#*', 'EVENT#*', 'INCIDENT#*', 'LINK#*'];

/** `alarm-intake` -> `AlarmIntake` (the logical id prefix, as `klaxon infra rules` names rules). */
function pascal(name: string): string {
  return name.split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');
}

export class KlaxonStack extends Stack {
  constructor(scope: Construct, id: string, props: KlaxonStackProps = {}) {
    super(scope, id, props);
    const rules = loadRules();
    const architecture = props.architecture ?? lambda.Architecture.ARM_64;

    const alertEmail = new CfnParameter(this, 'AlertEmail', {
      type: 'String', default: '',
      description: "Optional e-mail address subscribed to the ops topic (Klaxon's own health alarms).",
    });
    const logRetentionDays = new CfnParameter(this, 'LogRetentionDays', {
      type: 'Number', default: 90, allowedValues: ['7', '14', '30', '60', '90', '180', '365', '731'],
    });
    const idempotencyHours = new CfnParameter(this, 'IdempotencyHours', {
      type: 'Number', default: 48, minValue: 30, maxValue: 720,
    });
    const securityEmailDetail = new CfnParameter(this, 'SecurityEmailDetail', {
      type: 'String', default: 'false', allowedValues: ['false', 'true'],
      description: 'true: e-mail subscribers of the security topic get addresses and ids (SMS and chat never do); the security topic then carries no message attributes, so its subscriptions must not filter on them (docs/CONTRACTS.md).',
    });
    const responderConcurrency = new CfnParameter(this, 'ResponderReservedConcurrency', {
      type: 'Number', default: 5, minValue: 1, maxValue: 100,
      description: 'Reserved concurrency of the public incident page (responder), so that a flood on its URL cannot take the concurrency the intake functions need (and is throttled, and alarmed on, instead).',
    });
    const responderApiConcurrency = new CfnParameter(this, 'ResponderApiReservedConcurrency', {
      type: 'Number', default: 5, minValue: 1, maxValue: 100,
      description: 'Reserved concurrency of the responder JSON API (responder-api, IAM auth).',
    });
    const linkTtlDays = new CfnParameter(this, 'LinkTtlDays', {
      type: 'Number', default: 7, minValue: 1, maxValue: 90,
      description: 'KLAXON_LINK_TTL_DAYS, the days the links in pages keep working after their incident resolves (the intakes and the responder API issue them, the responders honour them).',
    });
    const hasAlertEmail = new CfnCondition(this, 'HasAlertEmail', {
      expression: Fn.conditionNot(Fn.conditionEquals(alertEmail.valueAsString, '')),
    });

    // With the AWS-managed SNS key, CloudWatch alarm actions cannot publish: a customer key
    // whose policy lets CloudWatch (and EventBridge and SNS, for the queues) use it.
    const key = new kms.Key(this, 'KlaxonKey', {
      description: 'Klaxon data and messages',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
      alias: `alias/${Aws.STACK_NAME}`,
      // The account administers the key and may grant its use through IAM policies (the
      // function roles'), spelled out as in the SAM template rather than CDK's default kms:*.
      policy: new iam.PolicyDocument({
        statements: [new iam.PolicyStatement({
          sid: 'AccountAdministers',
          principals: [new iam.AccountRootPrincipal()],
          actions: ['kms:Create*', 'kms:Describe*', 'kms:Enable*', 'kms:List*', 'kms:Put*', 'kms:Update*',
            'kms:Revoke*', 'kms:Disable*', 'kms:Get*', 'kms:Delete*', 'kms:TagResource', 'kms:UntagResource',
            'kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion', 'kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*',
            'kms:GenerateDataKey*'],
          resources: ['*'],
        })],
      }),
    });
    const sourceAccount = { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } };
    key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublishToEncryptedTopics',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'], resources: ['*'], conditions: sourceAccount,
    }));
    key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'EventBridgeAndSnsWriteEncryptedQueues',
      principals: [new iam.ServicePrincipal('events.amazonaws.com'), new iam.ServicePrincipal('sns.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'], resources: ['*'], conditions: sourceAccount,
    }));
    key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchLogsEncryptsLogGroups',
      principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:/aws/lambda/${Aws.STACK_NAME}-*` } },
    }));

    const table = new dynamodb.CfnTable(this, 'IncidentTable', {
      billingMode: 'PAY_PER_REQUEST',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      sseSpecification: { sseEnabled: true, sseType: 'KMS', kmsMasterKeyId: key.keyId },
      timeToLiveSpecification: { attributeName: 'expires_at_epoch', enabled: true },
      attributeDefinitions: ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'gsi3pk', 'gsi3sk']
        .map((attributeName) => ({ attributeName, attributeType: 'S' })),
      keySchema: [{ attributeName: 'pk', keyType: 'HASH' }, { attributeName: 'sk', keyType: 'RANGE' }],
      globalSecondaryIndexes: [
        ['open-incidents', 'gsi1'], ['by-service', 'gsi2'], ['escalation-due', 'gsi3'],
      ].map(([indexName, prefix]) => ({
        indexName,
        keySchema: [{ attributeName: `${prefix}pk`, keyType: 'HASH' }, { attributeName: `${prefix}sk`, keyType: 'RANGE' }],
        projection: { projectionType: 'ALL' },
      })),
    });
    table.applyRemovalPolicy(RemovalPolicy.RETAIN);

    const topic = (id: string) => new sns.Topic(this, id, { masterKey: key });
    const production = topic('ProductionTopic');
    const test = topic('TestTopic');
    const security = topic('SecurityTopic');
    const ops = topic('OpsTopic');
    // CloudWatch, for this stack's own alarms only (`<stack name>-...` in this account and
    // Region), not for any alarm of the account.
    ops.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'KlaxonHealthAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'], resources: [ops.topicArn],
      conditions: { ...sourceAccount, ArnLike: { 'aws:SourceArn': Fn.sub(`${rules.self_alarm_arn_prefix}*`) } },
    }));

    const deadLetterQueue = (id: string) => new sqs.Queue(this, id, {
      encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: key, retentionPeriod: Duration.days(14),
    });
    const subscriptionDlq = deadLetterQueue('SubscriptionDeadLetterQueue');
    subscriptionDlq.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'TopicsDeadLetter',
      principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
      actions: ['sqs:SendMessage'], resources: [subscriptionDlq.queueArn],
      conditions: { ArnEquals: { 'aws:SourceArn': [production, test, security, ops].map((t) => t.topicArn) } },
    }));
    const opsEmail = new sns.CfnSubscription(this, 'OpsEmail', {
      topicArn: ops.topicArn, protocol: 'email', endpoint: alertEmail.valueAsString,
      redrivePolicy: { deadLetterTargetArn: subscriptionDlq.queueArn },
    });
    opsEmail.cfnOptions.condition = hasAlertEmail;

    const bus = new events.EventBus(this, 'KlaxonBus', { eventBusName: `${Aws.STACK_NAME}-bus` });

    // Its policy, which lets exactly the intake rules send to it, is added with the rules.
    const intakeDlq = deadLetterQueue('IntakeDeadLetterQueue');
    const failureQueue = deadLetterQueue('IntakeFailureQueue');

    // What every handler is told: the table, the route topics, the bus and the engine settings
    // (the intakes and the responder API issue the links in pages, the responders honour them:
    // the same lifetime).
    const environment: Record<string, string> = {
      KLAXON_TABLE: table.ref,
      KLAXON_TOPIC_PRODUCTION: production.topicArn,
      KLAXON_TOPIC_TEST: test.topicArn,
      KLAXON_TOPIC_SECURITY: security.topicArn,
      KLAXON_TOPIC_OPS: ops.topicArn,
      KLAXON_EVENT_BUS: bus.eventBusName,
      KLAXON_IDEMPOTENCY_HOURS: idempotencyHours.valueAsString,
      KLAXON_OUTBOX_LEASE_SECONDS: '60',
      KLAXON_SECURITY_EMAIL_DETAIL: securityEmailDetail.valueAsString,
      KLAXON_LINK_TTL_DAYS: linkTtlDays.valueAsString,
    };
    const logGroupOf = (id: string, functionName: string) => {
      const logGroup = new logs.LogGroup(this, `${id}LogGroup`, {
        logGroupName: `/aws/lambda/${functionName}`, encryptionKey: key, removalPolicy: RemovalPolicy.DESTROY,
      });
      (logGroup.node.defaultChild as logs.CfnLogGroup).retentionInDays = logRetentionDays.valueAsNumber;
      return logGroup;
    };
    const routeTopics = [production, test, security, ops];

    // The responders' way in (docs/DEPLOY.md, "Responder page and API"): the incident page that
    // the links in pages open, and the JSON API (the klaxon CLI finds it by the stack output
    // ResponderApiUrl). Each is reached only through its function URL: invoked synchronously,
    // the HTTP client gets the answer or the error, so no retry, dead-letter queue or
    // on-failure destination applies; their errors are alarmed. Each has its own role, log
    // group and reserved concurrency (a flood on the public URL is throttled there and cannot
    // take the concurrency of the intake functions).
    const responderSpecs: ResponderSpec[] = [
      {
        handler: 'responder',
        label: 'The incident page',
        description: 'The incident page that the links in pages open (function URL, AuthType NONE; the link token is the credential) -> acknowledge, resolve, note',
        authType: lambda.FunctionUrlAuthType.NONE,
        reservedConcurrentExecutions: responderConcurrency.valueAsNumber,
      },
      {
        handler: 'responder-api',
        label: 'The responder API',
        description: "The responders' JSON API (function URL, AuthType AWS_IAM) -> list, show, acknowledge, resolve, note",
        authType: lambda.FunctionUrlAuthType.AWS_IAM,
        reservedConcurrentExecutions: responderApiConcurrency.valueAsNumber,
      },
    ];
    const responders = responderSpecs.map((spec) => {
      const id = pascal(spec.handler);
      const functionName = `${Aws.STACK_NAME}-${spec.handler}`;
      const logGroup = logGroupOf(id, functionName);
      const role = new iam.Role(this, `${id}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        inlinePolicies: {
          [spec.handler]: new iam.PolicyDocument({
            statements: [
              new iam.PolicyStatement({ sid: 'Logs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [`${logGroup.logGroupArn}:*`] }),
              // Reads an incident and its timeline; records an action in one transaction,
              // which needs the action of each item it writes; no Scan, no batch, no PartiQL,
              // no table management. Only its partitions (RESPONDER_LEADING_KEYS), with the
              // Null check (a ForAllValues test passes a request without the key).
              new iam.PolicyStatement({
                sid: 'IncidentRecords',
                actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem',
                  'dynamodb:ConditionCheckItem', 'dynamodb:Query'],
                resources: [table.attrArn],
                conditions: {
                  'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': RESPONDER_LEADING_KEYS },
                  Null: { 'dynamodb:LeadingKeys': 'false' },
                },
              }),
              // Lists of incidents: open ones (gsi1pk = OPEN) and a service's (gsi2pk =
              // SERVICE#...); not the reserved escalation-due index.
              new iam.PolicyStatement({
                sid: 'IncidentIndexes',
                actions: ['dynamodb:Query'],
                resources: ['open-incidents', 'by-service'].map((index) => `${table.attrArn}/index/${index}`),
                conditions: {
                  'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['OPEN', 'SERVICE#*'] },
                  Null: { 'dynamodb:LeadingKeys': 'false' },
                },
              }),
              // "Resolved by a person" goes to the routes the incident's pages went to: any route.
              new iam.PolicyStatement({ sid: 'Pages', actions: ['sns:Publish'], resources: routeTopics.map((t) => t.topicArn) }),
              // Only Klaxon's own sources (the engine's lifecycle events).
              new iam.PolicyStatement({
                sid: 'LifecycleAndRunbookEvents', actions: ['events:PutEvents'], resources: [bus.eventBusArn],
                conditions: {
                  'ForAllValues:StringEquals': { 'events:source': rules.event_sources },
                  Null: { 'events:source': 'false' },
                },
              }),
              new iam.PolicyStatement({ sid: 'EncryptedTableTopicsEnvironment', actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [key.keyArn] }),
            ],
          }),
        },
      });
      const fn = new RustFunction(this, `${id}Function`, {
        manifestPath: path.join(REPO_ROOT, 'Cargo.toml'),
        binaryName: spec.handler,
        functionName,
        description: spec.description,
        architecture,
        memorySize: 128,
        timeout: Duration.seconds(15),
        reservedConcurrentExecutions: spec.reservedConcurrentExecutions,
        role,
        environmentEncryption: key,
        logGroup,
        loggingFormat: lambda.LoggingFormat.JSON,
        environment,
        bundling: { cargoLambdaFlags: ['--quiet'] },
      });
      (fn.node.defaultChild as lambda.CfnFunction).addMetadata('checkov', {
        skip: [
          { id: 'CKV_AWS_117', comment: 'no VPC: the function calls only AWS APIs; a VPC would need NAT or endpoints for four services and slow cold starts' },
          { id: 'CKV_AWS_116', comment: 'invoked only through its function URL, synchronously: the HTTP client gets the error, there is no asynchronous event to keep; its errors are alarmed' },
        ],
      });
      // With AuthType NONE, FunctionUrl adds both permissions a function URL needs since
      // October 2025 (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html), for
      // Principal "*": lambda:InvokeFunctionUrl for AuthType NONE, and lambda:InvokeFunction
      // only when invoked via the function URL. With AWS_IAM it adds none: callers are allowed
      // by their identity policy (KlaxonResponderApiInvoke below).
      const url = new lambda.FunctionUrl(this, `${id}FunctionUrl`, { function: fn, authType: spec.authType });
      if (spec.authType === lambda.FunctionUrlAuthType.NONE) {
        (url.node.defaultChild as lambda.CfnUrl).addMetadata('checkov', {
          skip: [{ id: 'CKV_AWS_258', comment: 'public by design: the unguessable, expiring, revocable link token in the URL is the credential (a page\'s reader has no AWS identity); reserved concurrency and the throttles alarm bound a flood' }],
        });
      }
      return { spec, id, role, fn, url };
    });
    const [responder, responderApi] = responders;
    // A person's resolve through the API sends "resolved by a person" to the routes: with the
    // page's URL, that page carries a new link to the incident page, as the intakes' do. The
    // page function cannot be given its own URL (the URL depends on the function: a circular
    // dependency), so its resolves page without a new link; the links already sent keep working.
    responderApi.fn.addEnvironment('KLAXON_RESPONDER_URL', responder.url.url);

    // Responders' users and roles attach this policy (docs/DEPLOY.md): both actions a function
    // URL needs since October 2025, on the API function only, and only through its URL.
    const apiInvokePolicy = new iam.ManagedPolicy(this, 'KlaxonResponderApiInvoke', {
      description: "Call Klaxon's responder API (its function URL, IAM auth); attach to responders' users or roles.",
      statements: [
        new iam.PolicyStatement({
          sid: 'ResponderApiUrl', actions: ['lambda:InvokeFunctionUrl'], resources: [responderApi.fn.functionArn],
          conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
        new iam.PolicyStatement({
          sid: 'ResponderApiThroughItsUrlOnly', actions: ['lambda:InvokeFunction'], resources: [responderApi.fn.functionArn],
          conditions: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
        }),
      ],
    });

    // The intake handlers: one binary each (handlers/<name>/), the same engine, environment and
    // settings; they differ in the events their rule sends them and in their IAM. Their pages
    // link to the incident page (KLAXON_RESPONDER_URL).
    const intakeSpecs: IntakeSpec[] = [
      {
        handler: 'alarm-intake',
        label: 'alarm',
        description: 'CloudWatch alarm state changes -> runbooks -> incidents and pages',
        reservedConcurrentExecutions: 50,
        pageTopics: [production, test, security, ops],
        statements: [
          new iam.PolicyStatement({
            sid: 'AlarmTagsAndHistory',
            actions: ['cloudwatch:ListTagsForResource', 'cloudwatch:DescribeAlarmHistory'],
            resources: [`arn:${Aws.PARTITION}:cloudwatch:*:${Aws.ACCOUNT_ID}:alarm:*`],
          }),
          // GetMetricData supports no resource-level permissions.
          new iam.PolicyStatement({ sid: 'MetricSnapshots', actions: ['cloudwatch:GetMetricData'], resources: ['*'] }),
          // Elastic Load Balancing Describe* actions support no resource-level permissions.
          new iam.PolicyStatement({ sid: 'TargetHealth', actions: ['elasticloadbalancing:DescribeTargetHealth'], resources: ['*'] }),
          new iam.PolicyStatement({
            sid: 'Route53HealthChecks',
            actions: ['route53:GetHealthCheck', 'route53:GetHealthCheckLastFailureReason'],
            resources: [`arn:${Aws.PARTITION}:route53:::healthcheck/*`],
          }),
        ],
      },
      {
        handler: 'health-intake',
        label: 'AWS Health',
        description: 'AWS Health events -> runbooks -> incidents and pages',
        reservedConcurrentExecutions: 10,
        pageTopics: [production, test, ops], // AWS Health events have no security route
        statements: [],
      },
      {
        handler: 'security-intake',
        label: 'security',
        description: 'GuardDuty, Security Hub, Config and CloudTrail events -> security runbooks -> incidents and security pages',
        reservedConcurrentExecutions: 20,
        pageTopics: [security], // security incidents are pinned to the security route
        statements: [
          // GetResources supports no resource-level permissions (a security group's Environment tag).
          new iam.PolicyStatement({ sid: 'ResourceTags', actions: ['tag:GetResources'], resources: ['*'] }),
        ],
      },
    ];

    const leadingKeys = (handler: string): string[] => {
      const keys = rules.leading_keys[handler];
      if (!keys?.length) throw new Error(`rules.json has no leading_keys for ${handler}`);
      return keys;
    };
    const intakes = intakeSpecs.map((spec) => {
      const id = pascal(spec.handler);
      const functionName = `${Aws.STACK_NAME}-${spec.handler}`;
      const logGroup = logGroupOf(id, functionName);

      // Least privilege, spelled out (no grant* helpers: they add actions Klaxon never calls).
      const role = new iam.Role(this, `${id}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        inlinePolicies: {
          [spec.handler]: new iam.PolicyDocument({
            statements: [
              new iam.PolicyStatement({ sid: 'Logs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [`${logGroup.logGroupArn}:*`] }),
              // Only the partitions its events use (rules.json `leading_keys`); no Scan, no
              // index (no handler queries one).
              new iam.PolicyStatement({
                sid: 'IncidentRecords',
                actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem',
                  'dynamodb:ConditionCheckItem', 'dynamodb:BatchWriteItem', 'dynamodb:Query'],
                resources: [table.attrArn],
                conditions: {
                  'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeys(spec.handler) },
                  Null: { 'dynamodb:LeadingKeys': 'false' },
                },
              }),
              new iam.PolicyStatement({ sid: 'Pages', actions: ['sns:Publish'], resources: spec.pageTopics.map((t) => t.topicArn) }),
              // Only Klaxon's own sources: lifecycle events and runbook events.
              new iam.PolicyStatement({
                sid: 'LifecycleAndRunbookEvents', actions: ['events:PutEvents'], resources: [bus.eventBusArn],
                conditions: {
                  'ForAllValues:StringEquals': { 'events:source': rules.event_sources },
                  Null: { 'events:source': 'false' },
                },
              }),
              ...spec.statements,
              new iam.PolicyStatement({ sid: 'FailedEventsDestination', actions: ['sqs:SendMessage'], resources: [failureQueue.queueArn] }),
              new iam.PolicyStatement({ sid: 'EncryptedTableTopicsQueuesEnvironment', actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [key.keyArn] }),
            ],
          }),
        },
      });

      const fn = new RustFunction(this, `${id}Function`, {
        manifestPath: path.join(REPO_ROOT, 'Cargo.toml'),
        binaryName: spec.handler,
        functionName,
        description: spec.description,
        architecture,
        memorySize: 128,
        timeout: Duration.seconds(30),
        reservedConcurrentExecutions: spec.reservedConcurrentExecutions,
        role,
        environmentEncryption: key,
        logGroup,
        loggingFormat: lambda.LoggingFormat.JSON,
        environment: { ...environment, KLAXON_RESPONDER_URL: responder.url.url },
        bundling: { cargoLambdaFlags: ['--quiet'] },
      });
      (fn.node.defaultChild as lambda.CfnFunction).addMetadata('checkov', {
        skip: [
          { id: 'CKV_AWS_117', comment: 'no VPC: the function calls only AWS APIs; a VPC would need NAT or endpoints for six services and slow cold starts' },
          { id: 'CKV_AWS_116', comment: 'failed asynchronous events go to IntakeFailureQueue through an on-failure destination, which keeps the error; a legacy DLQ would duplicate it' },
        ],
      });
      // Asynchronous invocations: 2 retries, then the failure queue, never dropped.
      new lambda.CfnEventInvokeConfig(this, `${id}InvokeConfig`, {
        functionName: fn.functionName,
        qualifier: '$LATEST',
        maximumRetryAttempts: 2,
        maximumEventAgeInSeconds: 21600,
        destinationConfig: { onFailure: { destination: failureQueue.queueArn } },
      });
      // A duplicate that finds another invocation delivering returns
      // Retryable.DeliveryInProgress, a benign race Lambda retries: counted apart from the
      // handler's `error_kind` log field, and left out of the errors alarm below.
      const busy = new logs.MetricFilter(this, `${id}DeliveryInProgressFilter`, {
        logGroup,
        filterPattern: logs.FilterPattern.literal('{ $.error_kind = "DeliveryInProgress" }'),
        metricNamespace: `Klaxon/${Aws.STACK_NAME}`,
        metricName: `${spec.handler}-delivery-in-progress`,
        metricValue: '1',
        unit: cloudwatch.Unit.COUNT,
      });
      // An event Klaxon refuses is recorded as a REJECTED# item and not retried; the handler
      // logs it with `outcome = "rejected"`. Counted, so that no rejection is silent.
      const rejected = new logs.MetricFilter(this, `${id}RejectedFilter`, {
        logGroup,
        filterPattern: logs.FilterPattern.literal('{ $.outcome = "rejected" }'),
        metricNamespace: `Klaxon/${Aws.STACK_NAME}`,
        metricName: `${spec.handler}-rejected`,
        metricValue: '1',
        unit: cloudwatch.Unit.COUNT,
      });
      return { spec, id, role, fn, busy, rejected };
    });

    // Every handler runs runbooks, and any runbook may put a metric. PutMetricData supports no
    // resource-level permissions: limited to the runbooks' namespaces.
    // Who may publish a page. In the account, any role whose IAM policy allows sns:Publish
    // could publish to a topic whatever an Allow says: each topic denies sns:Publish to every
    // principal but the roles of the functions that page its route (aws:PrincipalArn, not
    // NotPrincipal). On the ops topic AWS services are left to the CloudWatch Allow above. The
    // responder roles page every route: an incident resolved by a person is told to the routes
    // its pages went to.
    for (const t of routeTopics) {
      const publishers = [
        ...intakes.filter((i) => i.spec.pageTopics.includes(t)).map((i) => i.role.roleArn),
        ...responders.map((r) => r.role.roleArn),
      ];
      t.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'OnlyKlaxonPublishes',
        effect: iam.Effect.DENY,
        principals: [new iam.StarPrincipal()],
        actions: ['sns:Publish'], resources: [t.topicArn],
        conditions: {
          ArnNotEquals: { 'aws:PrincipalArn': publishers },
          ...(t === ops ? { Bool: { 'aws:PrincipalIsAWSService': 'false' } } : {}),
        },
      }));
    }

    new iam.Policy(this, 'RunbookMetricsPolicy', {
      policyName: 'runbook-metrics',
      roles: intakes.map((i) => i.role),
      statements: [new iam.PolicyStatement({
        sid: 'RunbookMetrics', actions: ['cloudwatch:PutMetricData'], resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': rules.metric_namespaces } },
      })],
    });

    const functions = new Map<string, lambda.IFunction>(intakes.map((i) => [i.spec.handler, i.fn]));
    const ruleArns: string[] = [];
    for (const rule of rules.rules) {
      const target = functions.get(rule.handler);
      if (!target) throw new Error(`rules.json names handler ${rule.handler}, which this stack lacks`);
      // Only the alarm rule excludes Klaxon's own alarms (by their ARNs in `resources`); the
      // prefix is an `Fn::Sub` in rules.json, passed through to CloudFormation as it is.
      const excluded = 'resources' in rule.event_pattern ? "; Klaxon's own alarms excluded" : '';
      const cfnRule = new events.CfnRule(this, rule.name, {
        description: `Feeds ${rule.handler} (runbooks: ${rule.runbooks.join(', ')})${excluded}`,
        eventBusName: 'default',
        state: 'ENABLED',
        eventPattern: rule.event_pattern,
        targets: [{
          id: rule.handler,
          arn: target.functionArn,
          deadLetterConfig: { arn: intakeDlq.queueArn },
          retryPolicy: { maximumRetryAttempts: 185, maximumEventAgeInSeconds: 86400 },
        }],
      });
      new lambda.CfnPermission(this, `${rule.name}Permission`, {
        action: 'lambda:InvokeFunction', functionName: target.functionName,
        principal: 'events.amazonaws.com', sourceArn: cfnRule.attrArn,
      });
      ruleArns.push(cfnRule.attrArn);
    }
    // Exactly the intake rules may send to their dead-letter queue.
    intakeDlq.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'IntakeRulesDeadLetter',
      principals: [new iam.ServicePrincipal('events.amazonaws.com')],
      actions: ['sqs:SendMessage'], resources: [intakeDlq.queueArn],
      conditions: { ArnEquals: { 'aws:SourceArn': ruleArns }, ...sourceAccount },
    }));

    // Klaxon's own health, to the ops topic; named `<stack name>-...` so that the alarm rule
    // excludes them and the ops topic lets CloudWatch publish for them.
    const alarmOn = (id: string, name: string, description: string, metric: cloudwatch.IMetric) => {
      const alarm = new cloudwatch.Alarm(this, id, {
        alarmName: Fn.sub(`${rules.self_alarm_name_prefix}${name}`),
        alarmDescription: description,
        metric,
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      const cfn = alarm.node.defaultChild as cloudwatch.CfnAlarm;
      cfn.alarmActions = [ops.topicArn];
      cfn.okActions = [ops.topicArn];
    };
    const depth = (q: sqs.Queue) => q.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(1) });
    alarmOn('IntakeDeadLetterAlarm', 'intake-dead-letters', 'Events EventBridge could not deliver to Klaxon are waiting in the dead-letter queue.', depth(intakeDlq));
    alarmOn('IntakeFailureAlarm', 'intake-failed-events', "Events Klaxon failed on after Lambda's retries are waiting in the failure queue.", depth(failureQueue));
    alarmOn('SubscriptionDeadLetterAlarm', 'undelivered-pages', 'SNS could not deliver pages to a subscriber; they wait in the subscription dead-letter queue.', depth(subscriptionDlq));
    for (const { spec, id, fn, busy, rejected } of intakes) {
      const otherErrors = new cloudwatch.MathExpression({
        label: 'errors other than DeliveryInProgress',
        expression: 'errors - FILL(busy, 0)',
        usingMetrics: {
          errors: fn.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }),
          busy: busy.metric({ statistic: 'Sum', period: Duration.minutes(5) }),
        },
        period: Duration.minutes(5),
      });
      alarmOn(`${id}ErrorsAlarm`, `${spec.handler}-errors`, `The ${spec.label} handler returned errors other than DeliveryInProgress (Lambda retries them; see its logs).`, otherErrors);
      alarmOn(`${id}ThrottlesAlarm`, `${spec.handler}-throttles`, `The ${spec.label} handler was throttled (reserved concurrency reached).`, fn.metricThrottles({ statistic: 'Sum', period: Duration.minutes(5) }));
      alarmOn(`${id}RejectedAlarm`, `${spec.handler}-rejected-events`, `The ${spec.label} handler rejected events (kept as REJECTED# items in the table, not retried; the logs say why).`, rejected.metric({ statistic: 'Sum', period: Duration.minutes(5) }));
    }
    // The responders answer HTTP requests: a failure is a function error, a timeout or a 5XX
    // answer (Url5xxCount counts all three for requests through the URL; Errors also counts a
    // direct invocation). Either above 0 in 5 minutes fires.
    for (const { spec, id, fn } of responders) {
      const failed = new cloudwatch.MathExpression({
        label: 'function errors and 5XX answers',
        expression: 'FILL(errors, 0) + FILL(url5xx, 0)',
        usingMetrics: {
          errors: fn.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }),
          url5xx: fn.metric('Url5xxCount', { statistic: 'Sum', period: Duration.minutes(5) }),
        },
        period: Duration.minutes(5),
      });
      alarmOn(`${id}ErrorsAlarm`, `${spec.handler}-errors`, `${spec.label} failed requests (function errors, timeouts or 5XX answers; see its logs).`, failed);
    }
    // A flood on the public URL: requests beyond its reserved concurrency are throttled.
    alarmOn('ResponderThrottlesAlarm', 'responder-throttles', 'The incident page was throttled (its reserved concurrency reached; a flood on its public URL?).',
      responder.fn.metricThrottles({ statistic: 'Sum', period: Duration.minutes(5) }));

    new CfnOutput(this, 'IncidentTableName', { value: table.ref });
    new CfnOutput(this, 'ProductionTopicArn', { value: production.topicArn });
    new CfnOutput(this, 'TestTopicArn', { value: test.topicArn });
    new CfnOutput(this, 'SecurityTopicArn', { value: security.topicArn });
    new CfnOutput(this, 'OpsTopicArn', { value: ops.topicArn });
    new CfnOutput(this, 'KlaxonBusArn', { value: bus.eventBusArn });
    new CfnOutput(this, 'SubscriptionDeadLetterQueueArn', { value: subscriptionDlq.queueArn });
    for (const { id, fn } of intakes) new CfnOutput(this, `${id}FunctionName`, { value: fn.functionName });
    new CfnOutput(this, 'ResponderUrl', {
      description: 'The incident page (function URL, AuthType NONE; the link token in its path is the credential); the pages link to it (KLAXON_RESPONDER_URL).',
      value: responder.url.url,
    });
    new CfnOutput(this, 'ResponderApiUrl', {
      description: "The responders' JSON API (function URL, AuthType AWS_IAM); the klaxon CLI finds it by this output's name.",
      value: responderApi.url.url,
    });
    new CfnOutput(this, 'ResponderApiInvokePolicyArn', {
      description: 'Attach to the users or roles of responders who use the API or the CLI.',
      value: apiInvokePolicy.managedPolicyArn,
    });
    for (const { id, fn } of responders) new CfnOutput(this, `${id}FunctionName`, { value: fn.functionName });
  }
}
