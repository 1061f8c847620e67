// The CDK stack, synthesized offline (bundling skipped), checked on its own and against the
// SAM template (infra/template.yaml) on what matters: rule patterns and targets, function
// names and environment variables, IAM actions and resources per function.
import * as fs from 'fs';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as YAML from 'yaml';
import { KlaxonStack, loadRules, REPO_ROOT } from '../lib/klaxon-stack';

type Resources = Record<string, { Type: string; Properties?: any; Condition?: string }>;

function synth(): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new KlaxonStack(app, 'Klaxon', { env: { account: '000000000000', region: 'us-east-1' } });
  return Template.fromStack(stack);
}

// CloudFormation's short-form tags, as plain JSON intrinsics.
const tags: YAML.Tags = [
  ['Ref', (v: string) => ({ Ref: v })],
  ['GetAtt', (v: string) => ({ 'Fn::GetAtt': v.split('.') })],
  ['Sub', (v: any) => ({ 'Fn::Sub': v })],
  ['If', (v: any) => ({ 'Fn::If': v })],
  ['Not', (v: any) => ({ 'Fn::Not': v })],
  ['Equals', (v: any) => ({ 'Fn::Equals': v })],
  ['Join', (v: any) => ({ 'Fn::Join': v })],
].flatMap(([tag, resolve]: any) => [
  { tag: `!${tag}`, resolve: (s: string) => resolve(s) },
  { tag: `!${tag}`, collection: 'seq', resolve: (seq: any) => resolve(seq.toJSON()) },
]) as YAML.Tags;

function samTemplate(): { Resources: Resources } {
  const text = fs.readFileSync(path.join(REPO_ROOT, 'infra', 'template.yaml'), 'utf8');
  return YAML.parse(text, { customTags: tags });
}

/** A value with references replaced by the type of what they point at. */
function shape(value: any, resources: Resources): any {
  // SAM's function becomes a Lambda function at deployment.
  const type = (id: string) => (resources[id]?.Type ?? id).replace('AWS::Serverless::Function', 'AWS::Lambda::Function');
  const typeOf = (id: string) => (id.startsWith('AWS::') ? `\${${id}}` : `<${type(id)}>`);
  if (Array.isArray(value)) return value.map((v) => shape(v, resources));
  if (value && typeof value === 'object') {
    if ('Ref' in value) return typeOf(value.Ref);
    if ('Fn::GetAtt' in value) {
      const [id, attr] = value['Fn::GetAtt'];
      return `<${type(id)}.${attr}>`;
    }
    if ('Fn::Sub' in value) {
      const text: string = Array.isArray(value['Fn::Sub']) ? value['Fn::Sub'][0] : value['Fn::Sub'];
      return text.replace(/\$\{([^}]+)\}/g, (_m, ref: string) => {
        if (ref.startsWith('AWS::')) return `\${${ref}}`;
        const [id, attr] = ref.split('.');
        return attr ? `<${type(id)}.${attr}>` : typeOf(id);
      });
    }
    if ('Fn::Join' in value) {
      const [sep, parts] = value['Fn::Join'];
      return parts.map((p: any) => shape(p, resources)).join(sep);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shape(v, resources)]));
  }
  return value;
}

const SAM_FUNCTION = 'AWS::Serverless::Function';
const functions = (resources: Resources) =>
  Object.entries(resources).filter(([, r]) => r.Type === SAM_FUNCTION || r.Type === 'AWS::Lambda::Function');

/** action -> sorted resource shapes, over the function's role's policies. */
function iamOf(fnId: string, resources: Resources): Record<string, string[]> {
  const roleRef = resources[fnId].Properties.Role;
  const roleId = roleRef['Fn::GetAtt'][0];
  const docs: any[] = (resources[roleId].Properties.Policies ?? []).map((p: any) => p.PolicyDocument);
  for (const r of Object.values(resources)) {
    if (r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles ?? []).some((x: any) => x.Ref === roleId)) {
      docs.push(r.Properties.PolicyDocument);
    }
  }
  const out: Record<string, string[]> = {};
  for (const doc of docs) {
    for (const st of doc.Statement) {
      const actions = [st.Action].flat();
      const res = [st.Resource].flat().map((x: any) => JSON.stringify(shape(x, resources)));
      for (const a of actions) out[a] = [...(out[a] ?? []), ...res].sort();
    }
  }
  return out;
}

function functionSummary(resources: Resources) {
  return functions(resources).map(([id, r]) => ({
    name: shape(r.Properties.FunctionName, resources),
    environment: shape(r.Properties.Environment.Variables, resources),
    memory: r.Properties.MemorySize,
    timeout: r.Properties.Timeout,
    concurrency: r.Properties.ReservedConcurrentExecutions,
    iam: iamOf(id, resources),
  }));
}

/** A logical id without CDK's hash suffix: `SecurityTopic1A2B3C4D` -> `SecurityTopic`. */
const baseId = (id: string) => id.replace(/[0-9A-F]{8}$/, '');

/** The function of an intake handler, by its name `<stack>-<handler>`. */
function functionOf(handler: string, resources: Resources): string {
  const found = functions(resources).filter(([, r]) => shape(r.Properties.FunctionName, resources) === `\${AWS::StackName}-${handler}`);
  expect(found).toHaveLength(1);
  return found[0][0];
}

/** The topics (logical ids without hash) a function's role may publish to. */
function pageTopics(fnId: string, resources: Resources): string[] {
  const roleId = resources[fnId].Properties.Role['Fn::GetAtt'][0];
  const statements = (resources[roleId].Properties.Policies ?? []).flatMap((p: any) => p.PolicyDocument.Statement);
  return statements
    .filter((st: any) => [st.Action].flat().includes('sns:Publish'))
    .flatMap((st: any) => [st.Resource].flat().map((r: any) => baseId(r.Ref)))
    .sort();
}

function rulesSummary(resources: Resources) {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::Events::Rule')
    .map((r) => ({
      description: r.Properties.Description,
      bus: r.Properties.EventBusName,
      pattern: r.Properties.EventPattern,
      targets: r.Properties.Targets.map((t: any) => ({
        id: t.Id,
        arn: shape(t.Arn, resources),
        deadLetter: shape(t.DeadLetterConfig?.Arn, resources),
        retry: t.RetryPolicy,
      })),
    }));
}

describe('Klaxon CDK stack', () => {
  const template = synth();
  const cdk: Resources = template.toJSON().Resources;
  const sam = samTemplate().Resources;

  test('intake rules are the generated ones, each target with a dead-letter queue and retries', () => {
    const rules = loadRules();
    expect(rules.rules.length).toBeGreaterThan(0);
    for (const rule of rules.rules) {
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: rule.event_pattern,
        Targets: [Match.objectLike({
          Id: rule.handler,
          DeadLetterConfig: { Arn: Match.anyValue() },
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
        })],
      });
    }
  });

  const HANDLERS = ['alarm-intake', 'health-intake', 'security-intake'];

  test('one function per intake handler, in SAM and CDK, each fed by its own rules', () => {
    const rules = loadRules();
    expect([...new Set(rules.rules.map((r) => r.handler))].sort()).toEqual(HANDLERS);
    for (const resources of [cdk, sam]) {
      expect(functions(resources)).toHaveLength(HANDLERS.length);
      for (const handler of HANDLERS) {
        const fnId = functionOf(handler, resources);
        const fed = Object.values(resources).filter((r) => r.Type === 'AWS::Events::Rule'
          && r.Properties.Targets.some((t: any) => t.Arn['Fn::GetAtt']?.[0] === fnId));
        const own = rules.rules.filter((r) => r.handler === handler);
        // A handler's triggers may need several rules (EventBridge: 2048 characters each).
        expect(fed.map((r) => JSON.stringify(r.Properties.EventPattern)).sort())
          .toEqual(own.map((r) => JSON.stringify(r.event_pattern)).sort());
        for (const rule of fed) {
          expect(JSON.stringify(rule.Properties.EventPattern).length).toBeLessThanOrEqual(2048);
          expect(rule.Properties.Targets[0].Id).toBe(handler);
          expect(rule.Properties.Targets[0].DeadLetterConfig?.Arn).toBeDefined();
          // Only the alarm rule excludes Klaxon's own alarms (other sources send `resources: []`).
          expect(rule.Properties.Description.endsWith("; Klaxon's own alarms excluded"))
            .toBe('resources' in rule.Properties.EventPattern);
        }
      }
    }
  });

  test('every function logs to its own log group with retention', () => {
    for (const resources of [cdk, sam]) {
      const groups = functions(resources).map(([, r]) => r.Properties.LoggingConfig?.LogGroup?.Ref);
      expect(new Set(groups).size).toBe(groups.length);
      for (const [id, r] of functions(resources)) {
        const group = resources[r.Properties.LoggingConfig.LogGroup.Ref];
        expect(group.Type).toBe('AWS::Logs::LogGroup');
        expect(group.Properties.RetentionInDays).toBeDefined();
        expect(shape(group.Properties.LogGroupName, resources)).toBe(`/aws/lambda/${shape(r.Properties.FunctionName, resources)}`);
        expect(pageTopics(id, resources).length).toBeGreaterThan(0);
      }
    }
  });

  test('each handler pages only its routes: security only the security topic, health never it', () => {
    const expected: Record<string, string[]> = {
      'alarm-intake': ['OpsTopic', 'ProductionTopic', 'SecurityTopic', 'TestTopic'],
      'health-intake': ['OpsTopic', 'ProductionTopic', 'TestTopic'],
      'security-intake': ['SecurityTopic'],
    };
    for (const resources of [cdk, sam]) {
      for (const handler of HANDLERS) {
        expect([handler, pageTopics(functionOf(handler, resources), resources)]).toEqual([handler, expected[handler]]);
      }
    }
  });

  test('runbook metrics: one policy on every intake role, limited by namespace', () => {
    for (const resources of [cdk, sam]) {
      const policies = Object.entries(resources).filter(([id, r]) => r.Type === 'AWS::IAM::Policy' && baseId(id) === 'RunbookMetricsPolicy');
      expect(policies).toHaveLength(1);
      const roles = policies[0][1].Properties.Roles.map((r: any) => r.Ref).sort();
      expect(roles).toEqual(functions(resources).map(([, r]) => r.Properties.Role['Fn::GetAtt'][0]).sort());
      expect(policies[0][1].Properties.PolicyDocument.Statement[0].Condition.StringEquals['cloudwatch:namespace'])
        .toEqual(loadRules().metric_namespaces);
    }
  });

  test('every asynchronous hop has a dead-letter queue or an on-failure destination', () => {
    expect(functions(cdk)).toHaveLength(HANDLERS.length);
    for (const [id] of functions(cdk)) {
      const configs = Object.values(cdk).filter((r) => r.Type === 'AWS::Lambda::EventInvokeConfig'
        && r.Properties.FunctionName?.Ref === id);
      expect(configs).toHaveLength(1);
      expect(configs[0].Properties.MaximumRetryAttempts).toBe(2);
      expect(configs[0].Properties.DestinationConfig?.OnFailure?.Destination).toBeDefined();
    }
    for (const r of Object.values(cdk).filter((x) => x.Type === 'AWS::Events::Rule')) {
      for (const t of r.Properties.Targets) expect(t.DeadLetterConfig?.Arn).toBeDefined();
    }
    for (const r of Object.values(cdk).filter((x) => x.Type === 'AWS::SNS::Subscription')) {
      expect(r.Properties.RedrivePolicy).toBeDefined();
    }
  });

  test('no IAM statement grants * or service:*', () => {
    for (const r of Object.values(cdk)) {
      const docs = r.Type === 'AWS::IAM::Role' ? (r.Properties.Policies ?? []).map((p: any) => p.PolicyDocument)
        : r.Type === 'AWS::IAM::Policy' ? [r.Properties.PolicyDocument] : [];
      for (const doc of docs) {
        for (const st of doc.Statement) {
          for (const a of [st.Action].flat()) expect(a === '*' || String(a).endsWith(':*')).toBe(false);
        }
      }
    }
  });

  test('table, topics and queues are encrypted with the customer key; the table is durable', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expires_at_epoch', Enabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
    });
    template.resourceCountIs('AWS::SNS::Topic', 4);
    for (const r of Object.values(cdk).filter((x) => x.Type === 'AWS::SNS::Topic')) {
      expect(r.Properties.KmsMasterKeyId).toBeDefined();
    }
    for (const r of Object.values(cdk).filter((x) => x.Type === 'AWS::SQS::Queue')) {
      expect(r.Properties.KmsMasterKeyId).toBeDefined();
    }
  });

  test("Klaxon's own alarms go to the ops topic and are named klaxon-*", () => {
    const alarms = Object.values(cdk).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    // Three queue depths, then errors and throttles of each function.
    expect(alarms.length).toBe(3 + 2 * HANDLERS.length);
    for (const a of alarms) {
      expect(JSON.stringify(a.Properties.AlarmName)).toContain('klaxon-');
      expect(a.Properties.AlarmActions).toHaveLength(1);
    }
  });

  test('the errors alarms leave DeliveryInProgress races out, alike in SAM and CDK', () => {
    const summary = (resources: Resources) => {
      const filters = Object.values(resources)
        .filter((r) => r.Type === 'AWS::Logs::MetricFilter')
        .map((r) => r.Properties.FilterPattern);
      const expressions = Object.values(resources)
        .filter((r) => r.Type === 'AWS::CloudWatch::Alarm' && JSON.stringify(r.Properties.AlarmName).includes('-errors'))
        .map((r) => (r.Properties.Metrics ?? []).filter((m: any) => m.Expression).map((m: any) => m.Expression));
      return { filters, expressions };
    };
    const c = summary(cdk);
    expect(c).toEqual(summary(sam));
    expect(c.filters).toEqual(HANDLERS.map(() => '{ $.error_kind = "DeliveryInProgress" }'));
    expect(c.expressions).toEqual(HANDLERS.map(() => ['errors - FILL(busy, 0)']));
  });

  test('SAM and CDK agree on rules and targets', () => {
    expect(rulesSummary(cdk)).toEqual(rulesSummary(sam));
  });

  test('SAM and CDK agree on functions, environment variables and IAM per function', () => {
    const c = functionSummary(cdk);
    const s = functionSummary(sam);
    expect(c.map((f) => f.name)).toEqual(s.map((f) => f.name));
    expect(c.map((f) => Object.keys(f.environment).sort())).toEqual(s.map((f) => Object.keys(f.environment).sort()));
    expect(c.map((f) => f.environment)).toEqual(s.map((f) => f.environment));
    expect(c.map((f) => [f.memory, f.timeout])).toEqual(s.map((f) => [f.memory, f.timeout]));
    expect(c.map((f) => f.iam)).toEqual(s.map((f) => f.iam));
  });
});
