// The CDK stack, synthesized offline (bundling skipped), checked on its own and against the
// SAM template (infra/template.yaml) on what matters: rule patterns and targets, function
// names, environment variables and reserved concurrency, IAM actions, resources and
// conditions per function, function URLs and their permissions, the responder API's managed
// policy, topic and queue policies, alarm names, the responder outputs; and the
// least-privilege statements asserted on both templates, each assertion shown to reject a
// template broken for its reason.
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

/** JSON with sorted keys: conditions compare whatever order their operators were written in. */
function canon(value: any): string {
  if (Array.isArray(value)) return `[${value.map(canon).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canon(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** action -> sorted resource shapes (with the statement's condition), over the function's
 * role's policies. */
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
      const condition = st.Condition ? ` if ${canon(shape(st.Condition, resources))}` : '';
      const res = [st.Resource].flat().map((x: any) => JSON.stringify(shape(x, resources)) + condition);
      for (const a of actions) out[a] = [...(out[a] ?? []), ...res].sort();
    }
  }
  return out;
}

/** Per function, sorted by name: the responders come before the intakes in CDK (the intakes'
 * pages link to the responder), after them in SAM. */
function functionSummary(resources: Resources) {
  return functions(resources).map(([id, r]) => ({
    name: shape(r.Properties.FunctionName, resources) as string,
    environment: shape(r.Properties.Environment.Variables, resources),
    memory: r.Properties.MemorySize,
    timeout: r.Properties.Timeout,
    concurrency: shape(r.Properties.ReservedConcurrentExecutions, resources),
    iam: iamOf(id, resources),
  })).sort((a, b) => a.name.localeCompare(b.name));
}

/** A logical id without CDK's hash suffix: `SecurityTopic1A2B3C4D` -> `SecurityTopic`. */
const baseId = (id: string) => id.replace(/[0-9A-F]{8}$/, '');

/** A value with references named by logical id without hash (`<AlarmIntakeRole.Arn>`,
 * `<OpsTopic>`) and pseudo parameters as `${AWS::...}`: alike in SAM and CDK, and telling
 * which resource a policy names. */
function named(value: any): any {
  if (Array.isArray(value)) return value.map(named);
  if (value && typeof value === 'object') {
    if ('Ref' in value) return String(value.Ref).startsWith('AWS::') ? `\${${value.Ref}}` : `<${baseId(value.Ref)}>`;
    if ('Fn::GetAtt' in value) return `<${baseId(value['Fn::GetAtt'][0])}.${value['Fn::GetAtt'][1]}>`;
    if ('Fn::Sub' in value && typeof value['Fn::Sub'] === 'string') {
      return { 'Fn::Sub': value['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (m: string, ref: string) => {
        if (ref.startsWith('AWS::')) return m;
        const [id, attr] = ref.split('.');
        return attr ? `<${baseId(id)}.${attr}>` : `<${baseId(id)}>`;
      }) };
    }
    if ('Fn::Join' in value) {
      const [sep, parts] = value['Fn::Join'];
      return parts.map((p: any) => named(p)).join(sep);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, named(v)]));
  }
  return value;
}

/** Topic and queue policies: the topics or queues each covers -> its statements (named). */
function resourcePolicies(resources: Resources): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of Object.values(resources)) {
    const targets = r.Type === 'AWS::SNS::TopicPolicy' ? r.Properties.Topics
      : r.Type === 'AWS::SQS::QueuePolicy' ? r.Properties.Queues : null;
    if (!targets) continue;
    out[named(targets).join(',')] = canon(named(r.Properties.PolicyDocument.Statement));
  }
  return out;
}

/** Logical ids (as they are) of the resources of a type whose id without hash is `base`. */
function idOf(resources: Resources, base: string, type?: string): string {
  const found = Object.keys(resources).filter((id) => baseId(id) === base && (!type || resources[id].Type === type));
  if (found.length !== 1) throw new Error(`${base}: ${found}`);
  return found[0];
}

const ROUTE_TOPICS = ['OpsTopic', 'ProductionTopic', 'SecurityTopic', 'TestTopic'];
const HANDLER_TOPICS: Record<string, string[]> = {
  'alarm-intake': ROUTE_TOPICS,
  'health-intake': ['OpsTopic', 'ProductionTopic', 'TestTopic'],
  'security-intake': ['SecurityTopic'],
  // "Resolved by a person" goes to the routes the incident's pages went to: any route.
  responder: ROUTE_TOPICS,
  'responder-api': ROUTE_TOPICS,
};
const INTAKES = ['alarm-intake', 'health-intake', 'security-intake'];
/** The handlers reached only through their function URL, and its AuthType. */
const RESPONDER_AUTH: Record<string, string> = { responder: 'NONE', 'responder-api': 'AWS_IAM' };
const URL_DOC = 'https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html';

/** The handler a function runs: the suffix of its name `${AWS::StackName}-<handler>`. */
const handlerOf = (r: Resources[string], resources: Resources) =>
  String(shape(r.Properties.FunctionName, resources)).replace('${AWS::StackName}-', '');
const functionsOf = (resources: Resources, handlers: string[]) =>
  functions(resources).filter(([, r]) => handlers.includes(handlerOf(r, resources)));
/** Does a reference (Ref, GetAtt, Sub) name the resource `id`? */
const refersTo = (value: any, id: string) => JSON.stringify(value ?? null).includes(`"${id}"`);
const isTrue = (v: any) => v === true || String(v).toLowerCase() === 'true';
/** A Lambda permission that applies only to requests through the function URL. */
const throughUrlOnly = (p: any) => p.Action === 'lambda:InvokeFunctionUrl'
  || (p.Action === 'lambda:InvokeFunction' && isTrue(p.InvokedViaFunctionUrl));
const urlsOf = (resources: Resources, fnId: string) => Object.entries(resources)
  .filter(([, r]) => r.Type === 'AWS::Lambda::Url' && refersTo(r.Properties.TargetFunctionArn, fnId)).map(([id]) => id);
const permissionsOf = (resources: Resources, fnId: string) => Object.entries(resources)
  .filter(([, r]) => r.Type === 'AWS::Lambda::Permission' && refersTo(r.Properties.FunctionName, fnId));

/**
 * The responder functions, asserted on a template (SAM or CDK); the same as assertion 14 of
 * infra/tests/check_templates.py. One line per problem.
 */
function responderProblems(resources: Resources): string[] {
  const problems: string[] = [];
  const intakes = functionsOf(resources, INTAKES);
  const responders = functionsOf(resources, Object.keys(RESPONDER_AUTH));
  for (const handler of Object.keys(RESPONDER_AUTH)) {
    if (intakes.length > 0 && !responders.some(([, r]) => handlerOf(r, resources) === handler)) problems.push(`no ${handler} function`);
  }
  for (const [id, r] of responders) {
    const handler = handlerOf(r, resources);
    const auth = RESPONDER_AUTH[handler];
    const urls = urlsOf(resources, id);
    if (urls.length !== 1) problems.push(`${id}: ${handler} must have exactly one function URL, not ${urls.length}`);
    for (const u of urls) {
      if (resources[u].Properties.AuthType !== auth) problems.push(`${id}: the ${handler} function URL must have AuthType ${auth}, not ${resources[u].Properties.AuthType}`);
    }
    if (r.Properties.ReservedConcurrentExecutions === undefined) problems.push(`${id}: ${handler} needs reserved concurrency`);
    const pub = permissionsOf(resources, id).filter(([, p]) => p.Properties.Principal === '*').map(([pid, p]) => [pid, p.Properties] as [string, any]);
    for (const [pid, p] of pub) {
      if (!throughUrlOnly(p)) problems.push(`${id}: ${pid} lets everyone call ${p.Action} without going through the function URL`);
      if (auth === 'AWS_IAM') problems.push(`${id}: ${handler}'s URL is IAM-authenticated: no permission for everyone (${pid})`);
    }
    if (auth === 'NONE') {
      if (!pub.some(([, p]) => p.Action === 'lambda:InvokeFunctionUrl' && p.FunctionUrlAuthType === 'NONE')) {
        problems.push(`${id}: its NONE function URL needs lambda:InvokeFunctionUrl for Principal "*" with FunctionUrlAuthType NONE (${URL_DOC})`);
      }
      if (!pub.some(([, p]) => p.Action === 'lambda:InvokeFunction' && isTrue(p.InvokedViaFunctionUrl))) {
        problems.push(`${id}: since October 2025 its NONE function URL also needs lambda:InvokeFunction for Principal "*" with InvokedViaFunctionUrl true (${URL_DOC})`);
      }
    } else {
      const granted = new Set<string>();
      for (const m of Object.values(resources).filter((x) => x.Type === 'AWS::IAM::ManagedPolicy')) {
        for (const st of m.Properties.PolicyDocument.Statement) {
          const only = [st.Resource].flat();
          if (st.Effect !== 'Allow' || only.length !== 1 || only[0]?.['Fn::GetAtt']?.[0] !== id) continue;
          for (const a of [st.Action].flat()) {
            if (a === 'lambda:InvokeFunctionUrl' && canon(st.Condition) === canon({ StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } })) granted.add(a);
            if (a === 'lambda:InvokeFunction' && Object.keys(st.Condition ?? {}).join() === 'Bool'
              && Object.keys(st.Condition.Bool).join() === 'lambda:InvokedViaFunctionUrl' && isTrue(st.Condition.Bool['lambda:InvokedViaFunctionUrl'])) granted.add(a);
          }
        }
      }
      if (granted.size !== 2) problems.push(`${id}: no managed policy grants responders both lambda:InvokeFunctionUrl and lambda:InvokeFunction on it alone, each with its condition (${URL_DOC})`);
    }
    // Reached only through its URL (synchronous): nothing else may invoke it, and its errors are alarmed.
    const other = permissionsOf(resources, id).filter(([, p]) => !throughUrlOnly(p.Properties));
    const targeted = Object.values(resources).some((x) => x.Type === 'AWS::Events::Rule' && x.Properties.Targets.some((t: any) => refersTo(t.Arn, id)));
    if (other.length > 0 || targeted) problems.push(`${id}: ${handler} must be reached only through its function URL (synchronous)`);
    const alarmed = Object.values(resources).some((a) => a.Type === 'AWS::CloudWatch::Alarm' && (a.Properties.AlarmActions ?? []).length > 0
      && (a.Properties.Metrics ?? []).some((m: any) => m.MetricStat?.Metric?.MetricName === 'Errors'
        && m.MetricStat.Metric.Dimensions.some((d: any) => d.Name === 'FunctionName' && d.Value?.Ref === id)));
    if (!alarmed) problems.push(`${id}: no alarm with an action watches its Errors`);
  }
  // The pages of the intakes and of responder-api (a person's resolve pages "resolved by a
  // person") link to the incident page; not responder's, whose own URL depends on it (a
  // circular dependency): its resolves page without a new link.
  const pageUrls = responders.filter(([, r]) => handlerOf(r, resources) === 'responder').flatMap(([id]) => urlsOf(resources, id));
  const linking = [...intakes, ...responders.filter(([, r]) => handlerOf(r, resources) === 'responder-api')];
  for (const [id, r] of pageUrls.length ? linking : []) {
    const v = r.Properties.Environment.Variables.KLAXON_RESPONDER_URL;
    if (!pageUrls.includes(v?.['Fn::GetAtt']?.[0]) || v['Fn::GetAtt'][1] !== 'FunctionUrl') {
      problems.push(`${id}: KLAXON_RESPONDER_URL must be the responder's function URL, not ${canon(v)}`);
    }
  }
  return problems;
}
const DYNAMODB_ITEM_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem', 'dynamodb:BatchWriteItem', 'dynamodb:Query'];
/** What a responder role may call: no CloudWatch, no tagging, no runbook metrics, no Scan or batch. */
const RESPONDER_ACTIONS = ['logs:CreateLogStream', 'logs:PutLogEvents', 'sns:Publish', 'events:PutEvents', 'kms:Decrypt',
  'kms:GenerateDataKey', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem', 'dynamodb:Query'];
const RESPONDER_INDEXES = ['open-incidents', 'by-service'];
const RESPONDER_INDEX_KEYS = ['OPEN', 'SERVICE#*'];
/** The partitions of the table a responder reads and writes: incidents, timelines and outbox,
 * the trackers of any source (an action is serialised on its incident's tracker), the actions'
 * idempotency records (`EVENT#action:<incident>:<action id>`) and links (read by the page;
 * written by responder-api, whose resolve pages carry a new link; the page's own carry none).
 * Not REJECTED#: only the intakes record rejected events. */
const RESPONDER_TABLE_KEYS = ['ALARM#*', 'EVENT#*', 'INCIDENT#*', 'LINK#*'];

/**
 * The least-privilege statements, asserted on a template (SAM or CDK); the same guarantees
 * as infra/tests/check_templates.py (docs/DEPLOY.md, Security). One line per problem.
 */
/** Rejections are never silent: each intake function's log group counts its
 * `outcome = "rejected"` lines, and an alarm with an action fires on a sum above 0. */
function rejectionProblems(resources: Resources): string[] {
  const problems: string[] = [];
  for (const [id, fn] of functionsOf(resources, INTAKES)) {
    const group = fn.Properties.LoggingConfig?.LogGroup?.Ref;
    const metrics = Object.values(resources)
      .filter((r) => r.Type === 'AWS::Logs::MetricFilter' && r.Properties.LogGroupName?.Ref === group
        && /^\{\s*\$\.outcome\s*=\s*"rejected"\s*\}$/.test(r.Properties.FilterPattern))
      .flatMap((r) => r.Properties.MetricTransformations)
      .filter((t: any) => String(t.MetricValue) === '1')
      .map((t: any) => canon([t.MetricNamespace, t.MetricName]));
    if (metrics.length === 0) {
      problems.push(`${id}: rejections are not counted: no metric filter { $.outcome = "rejected" } on its log group`);
      continue;
    }
    const watched = Object.values(resources).some((a) => a.Type === 'AWS::CloudWatch::Alarm'
      && metrics.includes(canon([a.Properties.Namespace, a.Properties.MetricName]))
      && a.Properties.Statistic === 'Sum' && a.Properties.ComparisonOperator === 'GreaterThanThreshold'
      && Number(a.Properties.Threshold) === 0 && (a.Properties.AlarmActions ?? []).length > 0);
    if (!watched) problems.push(`${id}: rejections are counted but no alarm watches them (Sum > 0, with an action)`);
  }
  return problems;
}

function leastPrivilegeProblems(resources: Resources): string[] {
  const rules = loadRules();
  const problems: string[] = [];
  const statementsOf = (roleId: string): any[] => [
    ...(resources[roleId].Properties.Policies ?? []).flatMap((p: any) => p.PolicyDocument.Statement),
    ...Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles ?? []).some((x: any) => x.Ref === roleId))
      .flatMap((r) => r.Properties.PolicyDocument.Statement),
  ];
  const fns = functions(resources).map(([id, r]) => {
    const name = shape(r.Properties.FunctionName, resources) as string;
    return { id, handler: name.replace('${AWS::StackName}-', ''), role: r.Properties.Role['Fn::GetAtt'][0] as string };
  }).filter((f) => f.handler in HANDLER_TOPICS);

  // The alarm rule excludes this stack's own alarms only; they are named `<stack>-...`.
  const exclusion = [{ 'anything-but': { prefix: { 'Fn::Sub': rules.self_alarm_arn_prefix } } }];
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type === 'AWS::Events::Rule' && r.Properties.Targets.some((t: any) => fns.some((f) => f.handler === 'alarm-intake' && t.Arn['Fn::GetAtt']?.[0] === f.id))
      && canon(r.Properties.EventPattern.resources) !== canon(exclusion)) {
      problems.push(`${id}: the alarm rule must exclude only this stack's own alarms, not ${canon(r.Properties.EventPattern.resources)}`);
    }
    if (r.Type === 'AWS::CloudWatch::Alarm' && !String(shape(r.Properties.AlarmName, resources)).startsWith(rules.self_alarm_name_prefix)) {
      problems.push(`${id}: Klaxon's own alarms must be named ${rules.self_alarm_name_prefix}...`);
    }
  }

  // Topics: Deny sns:Publish to all but the roles that publish; CloudWatch for own alarms.
  const ownAlarms = { 'Fn::Sub': `${rules.self_alarm_arn_prefix}*` };
  for (const [topic, t] of Object.entries(resources)) {
    if (t.Type !== 'AWS::SNS::Topic') continue;
    const publishers = fns.filter((f) => HANDLER_TOPICS[f.handler].includes(baseId(topic))).map((f) => f.role).sort();
    const stmts = Object.values(resources)
      .filter((r) => r.Type === 'AWS::SNS::TopicPolicy' && r.Properties.Topics.some((x: any) => x.Ref === topic))
      .flatMap((r) => r.Properties.PolicyDocument.Statement);
    if (stmts.some((s: any) => 'NotPrincipal' in s)) problems.push(`${topic}: NotPrincipal in a topic policy`);
    const cloudwatch = stmts.filter((s: any) => s.Effect === 'Allow' && [s.Principal?.Service].flat().includes('cloudwatch.amazonaws.com'));
    for (const s of cloudwatch) {
      if (canon(s.Condition?.ArnLike?.['aws:SourceArn']) !== canon(ownAlarms)) problems.push(`${topic}: CloudWatch may publish only for this stack's alarms`);
      if (s.Condition?.StringEquals?.['aws:SourceAccount']?.Ref !== 'AWS::AccountId') problems.push(`${topic}: CloudWatch Allow without aws:SourceAccount`);
    }
    const notified = Object.values(resources).some((r) => r.Type === 'AWS::CloudWatch::Alarm'
      && [...(r.Properties.AlarmActions ?? []), ...(r.Properties.OKActions ?? [])].some((a: any) => a.Ref === topic));
    if (notified && cloudwatch.length === 0) problems.push(`${topic}: alarms publish to it but no Allow for CloudWatch`);
    const deny = stmts.find((s: any) => s.Effect === 'Deny' && [s.Action].flat().includes('sns:Publish') && s.Principal === '*');
    if (!deny) { problems.push(`${topic}: no Deny of sns:Publish`); continue; }
    const cond = deny.Condition ?? {};
    const ops = Object.keys(cond);
    const exception = ['ArnNotEquals', 'ArnNotLike', 'StringNotEquals', 'StringNotLike'].filter((o) => cond[o]?.['aws:PrincipalArn']);
    const roles = exception.flatMap((o) => [cond[o]['aws:PrincipalArn']].flat()).map((v: any) => v?.['Fn::GetAtt']?.[0] ?? canon(v)).sort();
    if (canon(roles) !== canon(publishers)) problems.push(`${topic}: the Deny must except exactly the publishing roles ${publishers}, not ${roles}`);
    const exempt = cond.Bool?.['aws:PrincipalIsAWSService'] === 'false';
    if (exempt !== (cloudwatch.length > 0)) problems.push(`${topic}: AWS services are ${exempt ? '' : 'not '}left out of the Deny (aws:PrincipalIsAWSService)`);
    if (ops.some((o) => !exception.includes(o) && o !== 'Bool')) problems.push(`${topic}: the Deny has other conditions: ${ops}`);
  }

  // The intake roles: events:PutEvents by source; DynamoDB by partition, no Scan, no index.
  for (const f of fns) {
    for (const s of statementsOf(f.role)) {
      const actions: string[] = [s.Action].flat();
      if (actions.includes('events:PutEvents')
        && (canon([s.Condition?.['ForAllValues:StringEquals']?.['events:source']].flat().sort()) !== canon([...rules.event_sources].sort())
          || s.Condition?.Null?.['events:source'] !== 'false')) {
        problems.push(`${f.role}: events:PutEvents must be limited to events:source ${rules.event_sources} (with a Null check)`);
      }
      const ddb = actions.filter((a) => a.startsWith('dynamodb:'));
      if (f.handler in RESPONDER_AUTH) {
        const extra = actions.filter((a) => !RESPONDER_ACTIONS.includes(a));
        if (extra.length) problems.push(`${f.role}: actions beyond what a responder needs (${extra})`);
        if (ddb.length === 0) continue;
        const others = Object.keys(s.Condition ?? {}).filter((o) => o !== 'ForAllValues:StringLike' && o !== 'Null');
        if (others.length) problems.push(`${f.role}: unexpected conditions on its DynamoDB statement: ${others}`);
        for (const res of [s.Resource].flat()) {
          const where = String(shape(res, resources));
          if (where === '<AWS::DynamoDB::Table.Arn>') {
            // The table itself: the responders' partitions only, with the Null check.
            const keys = s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'];
            if (canon([keys ?? []].flat().sort()) !== canon(RESPONDER_TABLE_KEYS)) {
              problems.push(`${f.role}: DynamoDB on the table must be limited to the responders' partitions ${RESPONDER_TABLE_KEYS}, not ${keys}`);
            }
            if (s.Condition?.Null?.['dynamodb:LeadingKeys'] !== 'false') problems.push(`${f.role}: DynamoDB on the table without the Null check on dynamodb:LeadingKeys`);
            continue;
          }
          const index = where.startsWith('<AWS::DynamoDB::Table.Arn>/index/') ? where.split('/index/')[1] : undefined;
          if (!index || !RESPONDER_INDEXES.includes(index)) { problems.push(`${f.role}: DynamoDB on ${where}: the table, or the indexes ${RESPONDER_INDEXES}`); continue; }
          if (canon(ddb) !== canon(['dynamodb:Query'])) problems.push(`${f.role}: on the index ${index} only dynamodb:Query, not ${ddb}`);
          if (canon([s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys']].flat().sort()) !== canon([...RESPONDER_INDEX_KEYS].sort())
            || s.Condition?.Null?.['dynamodb:LeadingKeys'] !== 'false') problems.push(`${f.role}: a query of the index ${index} must be limited to its partition keys ${RESPONDER_INDEX_KEYS}`);
        }
        continue;
      }
      if (ddb.length === 0) continue;
      if (ddb.some((a) => !DYNAMODB_ITEM_ACTIONS.includes(a))) problems.push(`${f.role}: DynamoDB actions beyond items (${ddb})`);
      if ([s.Resource].flat().some((r: any) => !r?.['Fn::GetAtt'])) problems.push(`${f.role}: DynamoDB on the table only, no index`);
      const keys = s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'];
      if (canon([keys].flat().sort()) !== canon([...(rules.leading_keys[f.handler] ?? [])].sort())) {
        problems.push(`${f.role}: dynamodb:LeadingKeys must be ${rules.leading_keys[f.handler]}, not ${keys}`);
      }
      if (s.Condition?.Null?.['dynamodb:LeadingKeys'] !== 'false') problems.push(`${f.role}: DynamoDB without the Null check on dynamodb:LeadingKeys`);
    }
  }

  // The rules' dead-letter queue: exactly its rules may send to it.
  const users: Record<string, string[]> = {};
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type !== 'AWS::Events::Rule') continue;
    for (const t of r.Properties.Targets) {
      const q = t.DeadLetterConfig?.Arn?.['Fn::GetAtt']?.[0];
      if (q) users[q] = [...(users[q] ?? []), id].sort();
    }
  }
  for (const [queue, rulesUsing] of Object.entries(users)) {
    const allows = Object.values(resources)
      .filter((r) => r.Type === 'AWS::SQS::QueuePolicy' && r.Properties.Queues.some((x: any) => x.Ref === queue))
      .flatMap((r) => r.Properties.PolicyDocument.Statement)
      .filter((s: any) => s.Effect === 'Allow' && [s.Principal?.Service].flat().includes('events.amazonaws.com'));
    if (allows.length === 0) problems.push(`${queue}: no policy lets the rules send to it`);
    for (const s of allows) {
      const arns = [s.Condition?.ArnEquals?.['aws:SourceArn'] ?? []].flat().map((a: any) => a?.['Fn::GetAtt']?.[0] ?? canon(a)).sort();
      if (s.Condition?.ArnLike || canon(arns) !== canon(rulesUsing)) {
        problems.push(`${queue}: EventBridge may send for exactly the rules ${rulesUsing} (ArnEquals aws:SourceArn), not ${canon(s.Condition)}`);
      }
    }
  }
  return problems;
}

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

  const HANDLERS = INTAKES;
  const RESPONDERS = Object.keys(RESPONDER_AUTH);

  test('one function per intake handler, in SAM and CDK, each fed by its own rules', () => {
    const rules = loadRules();
    expect([...new Set(rules.rules.map((r) => r.handler))].sort()).toEqual(HANDLERS);
    for (const resources of [cdk, sam]) {
      expect(functions(resources)).toHaveLength(HANDLERS.length + RESPONDERS.length);
      expect(functionsOf(resources, HANDLERS)).toHaveLength(HANDLERS.length);
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

  test('each handler pages only its routes: security only the security topic, health never it, the responders every route', () => {
    const expected: Record<string, string[]> = {
      'alarm-intake': ['OpsTopic', 'ProductionTopic', 'SecurityTopic', 'TestTopic'],
      'health-intake': ['OpsTopic', 'ProductionTopic', 'TestTopic'],
      'security-intake': ['SecurityTopic'],
      responder: ['OpsTopic', 'ProductionTopic', 'SecurityTopic', 'TestTopic'],
      'responder-api': ['OpsTopic', 'ProductionTopic', 'SecurityTopic', 'TestTopic'],
    };
    for (const resources of [cdk, sam]) {
      for (const handler of [...HANDLERS, ...RESPONDERS]) {
        expect([handler, pageTopics(functionOf(handler, resources), resources)]).toEqual([handler, expected[handler]]);
      }
    }
  });

  test('runbook metrics: one policy on every intake role, limited by namespace', () => {
    for (const resources of [cdk, sam]) {
      const policies = Object.entries(resources).filter(([id, r]) => r.Type === 'AWS::IAM::Policy' && baseId(id) === 'RunbookMetricsPolicy');
      expect(policies).toHaveLength(1);
      const roles = policies[0][1].Properties.Roles.map((r: any) => r.Ref).sort();
      // The responders put no metric.
      expect(roles).toEqual(functionsOf(resources, HANDLERS).map(([, r]) => r.Properties.Role['Fn::GetAtt'][0]).sort());
      expect(policies[0][1].Properties.PolicyDocument.Statement[0].Condition.StringEquals['cloudwatch:namespace'])
        .toEqual(loadRules().metric_namespaces);
    }
  });

  test('every asynchronous hop has a dead-letter queue or an on-failure destination; the responders are synchronous', () => {
    expect(functionsOf(cdk, HANDLERS)).toHaveLength(HANDLERS.length);
    for (const [id] of functionsOf(cdk, HANDLERS)) {
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
    // A responder is reached only through its function URL: invoked synchronously, the HTTP
    // client gets the error; no event waits to be retried, so no on-failure destination applies.
    for (const resources of [cdk, sam]) {
      expect(functionsOf(resources, RESPONDERS)).toHaveLength(RESPONDERS.length);
      for (const [id] of functionsOf(resources, RESPONDERS)) {
        expect(urlsOf(resources, id)).toHaveLength(1);
        expect(permissionsOf(resources, id).every(([, p]) => throughUrlOnly(p.Properties))).toBe(true);
        expect(Object.values(resources).filter((c) => c.Type === 'AWS::Lambda::EventInvokeConfig' && refersTo(c.Properties.FunctionName, id))).toEqual([]);
      }
    }
  });

  test('every function times out before its outbox lease ends; the intakes are retried twice into the failure queue, alike in SAM and CDK', () => {
    for (const resources of [cdk, sam]) {
      expect(functions(resources)).toHaveLength(HANDLERS.length + RESPONDERS.length);
      for (const [id, r] of functions(resources)) {
        const lease = Number(r.Properties.Environment.Variables.KLAXON_OUTBOX_LEASE_SECONDS);
        expect(lease).toBeGreaterThanOrEqual(5);
        expect(lease).toBeLessThanOrEqual(120);
        expect(r.Properties.Timeout).toBeLessThan(lease);
        if (RESPONDERS.includes(handlerOf(r, resources))) continue;
        const configs = Object.values(resources).filter((c) => c.Type === 'AWS::Lambda::EventInvokeConfig'
          && c.Properties.FunctionName?.Ref === id);
        expect(configs).toHaveLength(1);
        expect(configs[0].Properties.MaximumRetryAttempts).toBe(2);
        expect(configs[0].Properties.DestinationConfig?.OnFailure?.Destination).toBeDefined();
      }
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

  test("Klaxon's own alarms go to the ops topic and are named <stack>-*, alike in SAM and CDK", () => {
    const names = (resources: Resources) => Object.values(resources)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm').map((r) => shape(r.Properties.AlarmName, resources)).sort();
    const alarms = Object.values(cdk).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    // Three queue depths, then errors, throttles and rejections of each intake function, the
    // errors of each responder and the throttles of the public one.
    expect(alarms.length).toBe(3 + 3 * HANDLERS.length + RESPONDERS.length + 1);
    for (const a of alarms) {
      expect(shape(a.Properties.AlarmName, cdk).startsWith(loadRules().self_alarm_name_prefix)).toBe(true);
      expect(a.Properties.AlarmActions).toHaveLength(1);
    }
    expect(names(cdk)).toEqual(names(sam));
    expect(loadRules().self_alarm_name_prefix).toBe('${AWS::StackName}-');
    expect(loadRules().self_alarm_arn_prefix)
      .toBe('arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-');
  });

  test('the errors alarms leave DeliveryInProgress races out, alike in SAM and CDK', () => {
    const summary = (resources: Resources) => {
      const filters = Object.values(resources)
        .filter((r) => r.Type === 'AWS::Logs::MetricFilter' && r.Properties.FilterPattern.includes('error_kind'))
        .map((r) => r.Properties.FilterPattern);
      const expressions = Object.values(resources)
        .filter((r) => r.Type === 'AWS::CloudWatch::Alarm' && HANDLERS.some((h) => JSON.stringify(r.Properties.AlarmName).includes(`-${h}-errors`)))
        .map((r) => (r.Properties.Metrics ?? []).filter((m: any) => m.Expression).map((m: any) => m.Expression));
      return { filters, expressions };
    };
    const c = summary(cdk);
    expect(c).toEqual(summary(sam));
    expect(c.filters).toEqual(HANDLERS.map(() => '{ $.error_kind = "DeliveryInProgress" }'));
    expect(c.expressions).toEqual(HANDLERS.map(() => ['errors - FILL(busy, 0)']));
  });

  test('every handler counts its rejections and an alarm watches the count, alike in SAM and CDK', () => {
    expect(rejectionProblems(cdk)).toEqual([]);
    expect(rejectionProblems(sam)).toEqual([]);
    const summary = (resources: Resources) => Object.values(resources)
      .filter((r) => r.Type === 'AWS::Logs::MetricFilter' && r.Properties.FilterPattern.includes('rejected'))
      .map((r) => [r.Properties.FilterPattern, r.Properties.MetricTransformations[0].MetricName]).sort();
    expect(summary(cdk)).toEqual(summary(sam));
    expect(summary(cdk)).toEqual(HANDLERS.map((h) => ['{ $.outcome = "rejected" }', `${h}-rejected`]).sort());
  });
  const rejectionMutations: Mutation[] = [
    ['security intake: rejection filter removed', (r) => { delete r[idOf(r, 'SecurityIntakeRejectedFilter')]; }, 'rejections are not counted'],
    ['alarm intake: filter counts something else', (r) => { r[idOf(r, 'AlarmIntakeRejectedFilter')].Properties.FilterPattern = '{ $.outcome = "ignored" }'; }, 'rejections are not counted'],
    ['health intake: rejection alarm removed', (r) => { delete r[idOf(r, 'HealthIntakeRejectedAlarm')]; }, 'no alarm watches'],
    ['alarm intake: rejection alarm without an action', (r) => { delete r[idOf(r, 'AlarmIntakeRejectedAlarm')].Properties.AlarmActions; }, 'no alarm watches'],
  ];
  for (const [what, mutate, expected] of rejectionMutations) {
    test(`the rejection check rejects a broken template: ${what}`, () => {
      for (const resources of [cdk, sam]) {
        const broken: Resources = JSON.parse(JSON.stringify(resources));
        mutate(broken);
        expect(rejectionProblems(broken).join('\n')).toContain(expected);
      }
    });
  }

  test('SAM and CDK agree on topic and queue policies (who may publish and send)', () => {
    const c = resourcePolicies(cdk);
    expect(Object.keys(c).sort()).toEqual(['<IntakeDeadLetterQueue>', '<OpsTopic>', '<ProductionTopic>',
      '<SecurityTopic>', '<SubscriptionDeadLetterQueue>', '<TestTopic>']);
    expect(c).toEqual(resourcePolicies(sam));
  });

  test('least privilege holds on both templates: alarm exclusion, topic policies, events:source, LeadingKeys, dead-letter queue', () => {
    expect(leastPrivilegeProblems(cdk)).toEqual([]);
    expect(leastPrivilegeProblems(sam)).toEqual([]);
  });

  // Each assertion rejects a template broken for its reason (a small mutation of each).
  type Mutation = [string, (r: Resources) => void, string];
  const stmt = (r: Resources, base: string, sid: string): any => {
    const res = r[idOf(r, base)];
    const docs = res.Type === 'AWS::IAM::Role' ? res.Properties.Policies.map((p: any) => p.PolicyDocument) : [res.Properties.PolicyDocument];
    return docs.flatMap((d: any) => d.Statement).find((s: any) => s.Sid === sid);
  };
  const dropStatement = (r: Resources, base: string, sid: string) => {
    const doc = r[idOf(r, base)].Properties.PolicyDocument;
    doc.Statement = doc.Statement.filter((s: any) => s.Sid !== sid);
  };
  const roleArn = (r: Resources, base: string) => ({ 'Fn::GetAtt': [idOf(r, base, 'AWS::IAM::Role'), 'Arn'] });
  const alarmPattern = (r: Resources) => r[idOf(r, 'AlarmIntakeRule', 'AWS::Events::Rule')].Properties.EventPattern;
  const mutations: Mutation[] = [
    ['alarm rule exclusion widened back to klaxon-*', (r) => { alarmPattern(r).resources = [{ 'anything-but': { wildcard: 'arn:aws:cloudwatch:*:*:alarm:klaxon-*' } }]; }, "exclude only this stack's own alarms"],
    ['alarm rule exclusion removed', (r) => { delete alarmPattern(r).resources; }, "exclude only this stack's own alarms"],
    ['own alarm named klaxon-<stack>-', (r) => { r[idOf(r, 'IntakeDeadLetterAlarm')].Properties.AlarmName = { 'Fn::Sub': 'klaxon-${AWS::StackName}-intake-dead-letters' }; }, 'must be named'],
    ['production topic: Deny removed', (r) => dropStatement(r, 'ProductionTopicPolicy', 'OnlyKlaxonPublishes'), 'no Deny of sns:Publish'],
    ['security topic: Deny without condition', (r) => { delete stmt(r, 'SecurityTopicPolicy', 'OnlyKlaxonPublishes').Condition; }, 'must except exactly'],
    ['test topic: Deny excepts every role', (r) => { stmt(r, 'TestTopicPolicy', 'OnlyKlaxonPublishes').Condition = { StringNotLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/*' } }; }, 'must except exactly'],
    ['security topic: Deny also excepts the health role', (r) => { stmt(r, 'SecurityTopicPolicy', 'OnlyKlaxonPublishes').Condition.ArnNotEquals['aws:PrincipalArn'].push(roleArn(r, 'HealthIntakeRole')); }, 'must except exactly'],
    ['production topic: NotPrincipal instead of aws:PrincipalArn', (r) => {
      const s = stmt(r, 'ProductionTopicPolicy', 'OnlyKlaxonPublishes');
      delete s.Principal; delete s.Condition;
      s.NotPrincipal = { AWS: [roleArn(r, 'AlarmIntakeRole'), roleArn(r, 'HealthIntakeRole')] };
    }, 'NotPrincipal'],
    ['production topic: Deny narrowed by another condition', (r) => { stmt(r, 'ProductionTopicPolicy', 'OnlyKlaxonPublishes').Condition.StringEquals = { 'aws:SourceVpc': 'vpc-1' }; }, 'other conditions'],
    ['ops topic: CloudWatch without aws:SourceArn', (r) => { delete stmt(r, 'OpsTopicPolicy', 'KlaxonHealthAlarmsPublish').Condition.ArnLike; }, "only for this stack's alarms"],
    ['ops topic: CloudWatch for every alarm', (r) => {
      stmt(r, 'OpsTopicPolicy', 'KlaxonHealthAlarmsPublish').Condition.ArnLike = { 'aws:SourceArn': { 'Fn::Sub': 'arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*' } };
    }, "only for this stack's alarms"],
    ['ops topic: CloudWatch without aws:SourceAccount', (r) => { delete stmt(r, 'OpsTopicPolicy', 'KlaxonHealthAlarmsPublish').Condition.StringEquals; }, 'without aws:SourceAccount'],
    ['ops topic: Deny catches CloudWatch too', (r) => { delete stmt(r, 'OpsTopicPolicy', 'OnlyKlaxonPublishes').Condition.Bool; }, 'aws:PrincipalIsAWSService'],
    ['ops topic: CloudWatch Allow removed', (r) => dropStatement(r, 'OpsTopicPolicy', 'KlaxonHealthAlarmsPublish'), 'no Allow for CloudWatch'],
    ['alarm role: PutEvents without events:source', (r) => { delete stmt(r, 'AlarmIntakeRole', 'LifecycleAndRunbookEvents').Condition; }, 'events:PutEvents must be limited'],
    ['security role: PutEvents may put aws.* events', (r) => { stmt(r, 'SecurityIntakeRole', 'LifecycleAndRunbookEvents').Condition['ForAllValues:StringEquals']['events:source'].push('aws.guardduty'); }, 'events:PutEvents must be limited'],
    ['health role: PutEvents without the Null check', (r) => { delete stmt(r, 'HealthIntakeRole', 'LifecycleAndRunbookEvents').Condition.Null; }, 'events:PutEvents must be limited'],
    ['alarm role: dynamodb:Scan added', (r) => { stmt(r, 'AlarmIntakeRole', 'IncidentRecords').Action.push('dynamodb:Scan'); }, 'DynamoDB actions beyond items'],
    ['security role: LeadingKeys removed', (r) => { delete stmt(r, 'SecurityIntakeRole', 'IncidentRecords').Condition['ForAllValues:StringLike']; }, 'dynamodb:LeadingKeys must be'],
    ['alarm role: Null check removed', (r) => { delete stmt(r, 'AlarmIntakeRole', 'IncidentRecords').Condition.Null; }, 'without the Null check'],
    ['health role: every tracker (ALARM#*)', (r) => {
      stmt(r, 'HealthIntakeRole', 'IncidentRecords').Condition['ForAllValues:StringLike']['dynamodb:LeadingKeys'] = ['ALARM#*', 'EVENT#*', 'INCIDENT#*', 'LINK#*', 'REJECTED#*'];
    }, 'dynamodb:LeadingKeys must be'],
    ['alarm role: the indexes back', (r) => {
      const s = stmt(r, 'AlarmIntakeRole', 'IncidentRecords');
      s.Resource = [s.Resource, { 'Fn::Sub': '${IncidentTable.Arn}/index/*' }];
    }, 'no index'],
    ['dead-letter queue: no aws:SourceArn', (r) => { delete stmt(r, 'IntakeDeadLetterQueuePolicy', 'IntakeRulesDeadLetter').Condition.ArnEquals; }, 'exactly the rules'],
    ['dead-letter queue: every rule of the account', (r) => {
      const c = stmt(r, 'IntakeDeadLetterQueuePolicy', 'IntakeRulesDeadLetter').Condition;
      delete c.ArnEquals;
      c.ArnLike = { 'aws:SourceArn': { 'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*' } };
    }, 'exactly the rules'],
    ['dead-letter queue: a rule left out', (r) => { stmt(r, 'IntakeDeadLetterQueuePolicy', 'IntakeRulesDeadLetter').Condition.ArnEquals['aws:SourceArn'].pop(); }, 'exactly the rules'],
    ['responder role: dynamodb:Scan added', (r) => { stmt(r, 'ResponderRole', 'IncidentRecords').Action.push('dynamodb:Scan'); }, 'actions beyond what a responder needs'],
    ['responder-api role: CloudWatch reads added', (r) => { stmt(r, 'ResponderApiRole', 'IncidentRecords').Action.push('cloudwatch:GetMetricData'); }, 'actions beyond what a responder needs'],
    ['responder role: every index', (r) => { stmt(r, 'ResponderRole', 'IncidentIndexes').Resource = { 'Fn::Sub': '${IncidentTable.Arn}/index/*' }; }, 'the table, or the indexes'],
    ['responder role: the table statement without conditions (every partition)', (r) => { delete stmt(r, 'ResponderRole', 'IncidentRecords').Condition; }, "on the table must be limited to the responders' partitions"],
    ['responder-api role: the table statement without LeadingKeys', (r) => { delete stmt(r, 'ResponderApiRole', 'IncidentRecords').Condition['ForAllValues:StringLike']; }, "on the table must be limited to the responders' partitions"],
    ['responder-api role: the table statement without the Null check', (r) => { delete stmt(r, 'ResponderApiRole', 'IncidentRecords').Condition.Null; }, 'on the table without the Null check'],
    ['responder role: rejections too (REJECTED#*)', (r) => { stmt(r, 'ResponderRole', 'IncidentRecords').Condition['ForAllValues:StringLike']['dynamodb:LeadingKeys'].push('REJECTED#*'); }, "on the table must be limited to the responders' partitions"],
    ['responder-api role: every partition (*)', (r) => { stmt(r, 'ResponderApiRole', 'IncidentRecords').Condition['ForAllValues:StringLike']['dynamodb:LeadingKeys'] = ['*']; }, "on the table must be limited to the responders' partitions"],
    ['responder role: ForAnyValue instead of ForAllValues on the table', (r) => {
      const c = stmt(r, 'ResponderRole', 'IncidentRecords').Condition;
      c['ForAnyValue:StringLike'] = c['ForAllValues:StringLike'];
      delete c['ForAllValues:StringLike'];
    }, "on the table must be limited to the responders' partitions"],
    ['responder-api role: index query without its partition keys', (r) => { delete stmt(r, 'ResponderApiRole', 'IncidentIndexes').Condition; }, 'must be limited to its partition keys'],
    ['responder role: PutEvents without events:source', (r) => { delete stmt(r, 'ResponderRole', 'LifecycleAndRunbookEvents').Condition; }, 'events:PutEvents must be limited'],
    ['production topic: Deny does not except the responder role', (r) => {
      const arns = stmt(r, 'ProductionTopicPolicy', 'OnlyKlaxonPublishes').Condition.ArnNotEquals['aws:PrincipalArn'];
      arns.splice(arns.findIndex((a: any) => baseId(a['Fn::GetAtt'][0]) === 'ResponderRole'), 1);
    }, 'must except exactly'],
  ];
  for (const [what, mutate, expected] of mutations) {
    test(`least privilege rejects a broken template: ${what}`, () => {
      for (const resources of [cdk, sam]) {
        const broken: Resources = JSON.parse(JSON.stringify(resources));
        mutate(broken);
        expect(leastPrivilegeProblems(broken).join('\n')).toContain(expected);
      }
    });
  }

  test('the responders: URL auth, both permissions since October 2025, reserved concurrency, the managed policy, the link in pages (on both templates)', () => {
    expect(responderProblems(cdk)).toEqual([]);
    expect(responderProblems(sam)).toEqual([]);
    for (const resources of [cdk, sam]) {
      for (const [, r] of functionsOf(resources, [...HANDLERS, 'responder-api'])) expect(r.Properties.Environment.Variables.KLAXON_RESPONDER_URL).toBeDefined();
      // The intakes and the responder API issue links, the responders honour them: one lifetime for all.
      for (const [, r] of functions(resources)) expect(r.Properties.Environment.Variables.KLAXON_LINK_TTL_DAYS).toEqual({ Ref: 'LinkTtlDays' });
    }
  });

  const fnId = (r: Resources, handler: string) => functionsOf(r, [handler])[0][0];
  const urlOf = (r: Resources, handler: string) => r[urlsOf(r, fnId(r, handler))[0]];
  const permission = (r: Resources, handler: string, action: string) =>
    permissionsOf(r, fnId(r, handler)).find(([, p]) => p.Properties.Action === action)![0];
  const apiPolicy = (r: Resources, sid: string) => r[idOf(r, 'KlaxonResponderApiInvoke')].Properties.PolicyDocument.Statement.find((x: any) => x.Sid === sid);
  const addPermission = (r: Resources, handler: string, props: any) => {
    r.ExtraPermission = { Type: 'AWS::Lambda::Permission', Properties: { FunctionName: { 'Fn::GetAtt': [fnId(r, handler), 'Arn'] }, ...props } };
  };
  const responderMutations: Mutation[] = [
    ['responder URL made AWS_IAM', (r) => { urlOf(r, 'responder').Properties.AuthType = 'AWS_IAM'; }, 'must have AuthType NONE'],
    ['responder-api URL made public', (r) => { urlOf(r, 'responder-api').Properties.AuthType = 'NONE'; }, 'must have AuthType AWS_IAM'],
    ['responder: lambda:InvokeFunction permission removed', (r) => { delete r[permission(r, 'responder', 'lambda:InvokeFunction')]; }, 'also needs lambda:InvokeFunction'],
    ['responder: lambda:InvokeFunctionUrl permission removed', (r) => { delete r[permission(r, 'responder', 'lambda:InvokeFunctionUrl')]; }, 'needs lambda:InvokeFunctionUrl'],
    ['responder: InvokeFunction for everyone, not only via the URL', (r) => { delete r[permission(r, 'responder', 'lambda:InvokeFunction')].Properties.InvokedViaFunctionUrl; }, 'without going through the function URL'],
    ['responder-api: a permission for everyone', (r) => addPermission(r, 'responder-api', { Action: 'lambda:InvokeFunctionUrl', Principal: '*', FunctionUrlAuthType: 'AWS_IAM' }), 'no permission for everyone'],
    ['responder: reserved concurrency removed', (r) => { delete r[fnId(r, 'responder')].Properties.ReservedConcurrentExecutions; }, 'needs reserved concurrency'],
    ['responder-api: managed policy without InvokeFunction', (r) => {
      const doc = r[idOf(r, 'KlaxonResponderApiInvoke')].Properties.PolicyDocument;
      doc.Statement = doc.Statement.filter((x: any) => x.Sid !== 'ResponderApiThroughItsUrlOnly');
    }, 'no managed policy grants'],
    ['responder-api: managed policy InvokeFunction without its condition', (r) => { delete apiPolicy(r, 'ResponderApiThroughItsUrlOnly').Condition; }, 'no managed policy grants'],
    ['responder-api removed', (r) => { delete r[fnId(r, 'responder-api')]; }, 'no responder-api function'],
    ['alarm intake: no KLAXON_RESPONDER_URL', (r) => { delete r[fnId(r, 'alarm-intake')].Properties.Environment.Variables.KLAXON_RESPONDER_URL; }, 'KLAXON_RESPONDER_URL must be'],
    ['responder-api: no KLAXON_RESPONDER_URL (resolve pages without a link)', (r) => { delete r[fnId(r, 'responder-api')].Properties.Environment.Variables.KLAXON_RESPONDER_URL; }, 'KLAXON_RESPONDER_URL must be'],
    ['responder-api: KLAXON_RESPONDER_URL its own URL', (r) => {
      r[fnId(r, 'responder-api')].Properties.Environment.Variables.KLAXON_RESPONDER_URL = { 'Fn::GetAtt': [urlsOf(r, fnId(r, 'responder-api'))[0], 'FunctionUrl'] };
    }, 'KLAXON_RESPONDER_URL must be'],
    ['responder: EventBridge may invoke it too', (r) => addPermission(r, 'responder', { Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com' }), 'reached only through its function URL'],
    ['responder: errors alarm removed', (r) => { delete r[idOf(r, 'ResponderErrorsAlarm')]; }, 'no alarm with an action watches its Errors'],
  ];
  for (const [what, mutate, expected] of responderMutations) {
    test(`the responder check rejects a broken template: ${what}`, () => {
      for (const resources of [cdk, sam]) {
        const broken: Resources = JSON.parse(JSON.stringify(resources));
        mutate(broken);
        expect(responderProblems(broken).join('\n')).toContain(expected);
      }
    });
  }

  test('SAM and CDK agree on function URLs, their permissions and the responder API policy', () => {
    const summary = (resources: Resources) => ({
      urls: Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Url')
        .map((r) => canon(shape(r.Properties, resources))).sort(),
      // Every Lambda permission that is not a rule's (those are compared with the rules).
      permissions: Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Permission' && r.Properties.Principal !== 'events.amazonaws.com')
        .map((r) => canon(shape(r.Properties, resources))).sort(),
      managedPolicies: Object.entries(resources).filter(([, r]) => r.Type === 'AWS::IAM::ManagedPolicy')
        .map(([id, r]) => [baseId(id), r.Properties.Description, canon(named(r.Properties.PolicyDocument.Statement))]),
      // Which function each URL belongs to, and who gets the public permissions.
      byFunction: functions(resources).map(([id, r]) => ({
        name: shape(r.Properties.FunctionName, resources),
        auth: urlsOf(resources, id).map((u) => resources[u].Properties.AuthType),
        public: permissionsOf(resources, id).filter(([, p]) => p.Properties.Principal === '*')
          .map(([, p]) => canon({ ...p.Properties, FunctionName: undefined })).sort(),
      })).sort((a, b) => String(a.name).localeCompare(String(b.name))),
    });
    const c = summary(cdk);
    expect(c).toEqual(summary(sam));
    expect(c.urls).toHaveLength(2);
    expect(c.permissions).toHaveLength(2);
    expect(c.managedPolicies).toHaveLength(1);
  });

  test('SAM and CDK agree on the responder parameters, alarms and outputs', () => {
    const samDoc: any = samTemplate();
    const cdkDoc: any = template.toJSON();
    for (const name of ['ResponderReservedConcurrency', 'ResponderApiReservedConcurrency', 'LinkTtlDays']) {
      const pick = (p: any) => ({ Type: p.Type, Default: Number(p.Default), MinValue: p.MinValue, MaxValue: p.MaxValue, Description: p.Description });
      expect(pick(cdkDoc.Parameters[name])).toEqual(pick(samDoc.Parameters[name]));
    }
    expect(samDoc.Parameters.ResponderReservedConcurrency.Default).toBe(5);
    expect(samDoc.Parameters.LinkTtlDays.Default).toBe(7);
    const alarms = (resources: Resources) => Object.values(resources)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm' && RESPONDERS.some((h) => JSON.stringify(r.Properties.AlarmName).includes(`-${h}-`)))
      .map((r) => canon({
        name: r.Properties.AlarmName, description: r.Properties.AlarmDescription, actions: named(r.Properties.AlarmActions),
        ok: named(r.Properties.OKActions), metric: r.Properties.MetricName ?? null, dims: named(r.Properties.Dimensions ?? null),
        math: (r.Properties.Metrics ?? []).map((m: any) => (m.Expression ? [m.Expression, m.Label] : [m.Id, m.MetricStat.Metric.MetricName, named(m.MetricStat.Metric.Dimensions), m.MetricStat.Stat, m.MetricStat.Period])).sort(),
      })).sort();
    expect(alarms(cdk)).toEqual(alarms(sam));
    expect(alarms(cdk)).toHaveLength(3);
    const outputs = (doc: any) => Object.fromEntries(['ResponderUrl', 'ResponderApiUrl', 'ResponderApiInvokePolicyArn', 'ResponderFunctionName', 'ResponderApiFunctionName']
      .map((k) => [k, { description: doc.Outputs[k]?.Description, value: named(doc.Outputs[k]?.Value) }]));
    expect(outputs(cdkDoc)).toEqual(outputs(samDoc));
    expect(outputs(cdkDoc).ResponderApiUrl.value).toBe('<ResponderApiFunctionUrl.FunctionUrl>');
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
    expect(c.map((f) => [f.memory, f.timeout, f.concurrency])).toEqual(s.map((f) => [f.memory, f.timeout, f.concurrency]));
    expect(c.map((f) => f.iam)).toEqual(s.map((f) => f.iam));
    // The environment compares a URL by its type only: which function's URL each
    // KLAXON_RESPONDER_URL names, alike in both (the incident page's, for the intakes and the API).
    const linksTo = (resources: Resources) => Object.fromEntries(functions(resources)
      .filter(([, r]) => r.Properties.Environment.Variables.KLAXON_RESPONDER_URL !== undefined)
      .map(([, r]) => {
        const url = resources[r.Properties.Environment.Variables.KLAXON_RESPONDER_URL['Fn::GetAtt']?.[0]];
        const target = url?.Properties.TargetFunctionArn['Fn::GetAtt']?.[0];
        return [handlerOf(r, resources), target && handlerOf(resources[target], resources)];
      }));
    expect(linksTo(cdk)).toEqual(linksTo(sam));
    for (const handler of [...HANDLERS, 'responder-api']) expect([handler, linksTo(sam)[handler]]).toEqual([handler, 'responder']);
  });

  test("SAM and CDK limit the responder roles' table actions to the same partitions, exactly the responders'", () => {
    const table = JSON.stringify('<AWS::DynamoDB::Table.Arn>');
    const onTable = (resources: Resources) => functionsOf(resources, RESPONDERS).map(([id, r]) => {
      const iam = iamOf(id, resources);
      const ddb = Object.keys(iam).filter((a) => a.startsWith('dynamodb:')).sort();
      return [handlerOf(r, resources), ddb.map((a) => [a, iam[a].filter((x) => x.startsWith(`${table} `) || x === table)])];
    }).sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    const c = onTable(cdk);
    expect(c).toEqual(onTable(sam));
    const condition = canon({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': RESPONDER_TABLE_KEYS }, Null: { 'dynamodb:LeadingKeys': 'false' } });
    expect(c.map(([handler]) => handler)).toEqual(RESPONDERS);
    for (const [, actions] of c) {
      const onTheTable = (actions as [string, string[]][]).filter(([, res]) => res.length > 0);
      expect(onTheTable.map(([a]) => a)).toEqual(['dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem',
        'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
      for (const [, res] of onTheTable) expect(res).toEqual([`${table} if ${condition}`]);
    }
  });
});
