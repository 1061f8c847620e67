#!/usr/bin/env python3
"""Creates Klaxon's AWS resources on a local AWS endpoint (moto server).

The one definition of Klaxon's local resources: `scripts/local-aws setup` uses it, and the
integration tests call it to get a fresh, uniquely named set per test.

    python3 scripts/local_aws.py setup --endpoint http://127.0.0.1:4566 [--prefix klaxon] [--fixtures]

Prints one JSON object with the names and ARNs (and, with --fixtures, the SQS queues
subscribed to each topic, a queue with a filter policy on severity, and a queue that
receives the Klaxon bus's lifecycle events through a rule). Refuses any endpoint that is
not on 127.0.0.1 / localhost: this script never touches a real AWS account.
"""
import argparse
import json
import sys
import urllib.parse

ROUTES = ["production", "test", "security", "ops"]


def local_only(endpoint):
    host = urllib.parse.urlparse(endpoint).hostname
    if host not in ("127.0.0.1", "localhost"):
        sys.exit(f"local_aws.py: refusing endpoint {endpoint!r}: only 127.0.0.1 is allowed")


def clients(endpoint, region):
    import boto3

    kw = dict(endpoint_url=endpoint, region_name=region,
              aws_access_key_id="test", aws_secret_access_key="test")
    return {name: boto3.client(name, **kw) for name in ("dynamodb", "sns", "events", "sqs")}


def create_table(ddb, name):
    """Keys and indexes as documented in docs/DATA-MODEL.md."""
    attrs = ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk"]
    index = lambda n, i: {  # noqa: E731
        "IndexName": n,
        "KeySchema": [{"AttributeName": f"gsi{i}pk", "KeyType": "HASH"},
                      {"AttributeName": f"gsi{i}sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attrs],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[index("open-incidents", 1), index("by-service", 2),
                                index("escalation-due", 3)],
    )
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "expires_at_epoch"})


def queue(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def setup(args):
    local_only(args.endpoint)
    c = clients(args.endpoint, args.region)
    p = args.prefix
    out = {"endpoint": args.endpoint, "region": args.region, "table": p, "event_bus": p, "topics": {}}
    create_table(c["dynamodb"], p)
    for route in ROUTES:
        out["topics"][route] = c["sns"].create_topic(Name=f"{p}-{route}")["TopicArn"]
    out["event_bus_arn"] = c["events"].create_event_bus(Name=p)["EventBusArn"]
    if args.fixtures:
        fx = {"queues": {}}
        for route in ROUTES:
            url, arn = queue(c["sqs"], f"{p}-{route}-all")
            c["sns"].subscribe(TopicArn=out["topics"][route], Protocol="sqs", Endpoint=arn)
            fx["queues"][route] = url
        # A subscriber that only wants critical production pages (filter on attributes).
        url, arn = queue(c["sqs"], f"{p}-production-critical")
        c["sns"].subscribe(TopicArn=out["topics"]["production"], Protocol="sqs", Endpoint=arn,
                           Attributes={"FilterPolicy": json.dumps({"severity": ["critical"]})})
        fx["queues"]["production_critical"] = url
        # Lifecycle events, and events that runbooks emit, from the Klaxon bus.
        for name, source in (("lifecycle", "klaxon"), ("runbook_events", "klaxon.runbook")):
            queue_name = f"{p}-{name.replace('_', '-')}"
            url, arn = queue(c["sqs"], queue_name)
            c["events"].put_rule(Name=queue_name, EventBusName=p,
                                 EventPattern=json.dumps({"source": [source]}))
            c["events"].put_targets(Rule=queue_name, EventBusName=p,
                                    Targets=[{"Id": f"{name.replace('_', '-')}-queue", "Arn": arn}])
            fx["queues"][name] = url
        if args.world:
            fx["world"] = world(args, p)
        out["fixtures"] = fx
    json.dump(out, sys.stdout)
    print()


def world(args, p):
    """Resources that enrichment and tag lookups read: a target group with three
    instances, one of them stopped (moto reports it `unused` / Target.InvalidState); a
    security group tagged Environment=production and one tagged dev; a Route 53 health
    check."""
    import boto3
    kw = dict(endpoint_url=args.endpoint, region_name=args.region,
              aws_access_key_id="test", aws_secret_access_key="test")
    ec2, elb, r53 = (boto3.client(s, **kw) for s in ("ec2", "elbv2", "route53"))
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instances = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=image, MinCount=3, MaxCount=3, InstanceType="t3.micro", SubnetId=subnet)["Instances"]]
    name = ("tg-" + p)[:32].rstrip("-")
    tg = elb.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=vpc,
                                 TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": i, "Port": 8080} for i in instances])
    ec2.stop_instances(InstanceIds=[instances[2]])
    groups = {}
    for env_name in ("production", "dev"):
        g = ec2.create_security_group(GroupName=f"{p}-{env_name}", Description="klaxon test",
                                      VpcId=vpc)["GroupId"]
        ec2.create_tags(Resources=[g], Tags=[{"Key": "Environment", "Value": env_name},
                                            {"Key": "Team", "Value": "edge"}])
        groups[env_name] = g
    check = r53.create_health_check(CallerReference=p, HealthCheckConfig={
        "Type": "HTTPS", "FullyQualifiedDomainName": "shop.example.com", "Port": 443,
        "ResourcePath": "/health", "RequestInterval": 30, "FailureThreshold": 3,
    })["HealthCheck"]["Id"]
    return {"target_group_arn": tg, "instances": instances, "stopped_instance": instances[2],
            "security_groups": groups, "health_check_id": check}


def warmup(args):
    """Touches every service once, one after the other. moto creates each service's backend
    on its first request; several first requests at once (parallel tests) can race there and
    get a garbled answer, so the test run warms the server up first."""
    local_only(args.endpoint)
    c = clients(args.endpoint, args.region)
    c["dynamodb"].list_tables()
    c["sns"].list_topics()
    c["events"].list_event_buses()
    c["sqs"].list_queues()
    import boto3
    kw = dict(endpoint_url=args.endpoint, region_name=args.region,
              aws_access_key_id="test", aws_secret_access_key="test")
    boto3.client("cloudwatch", **kw).list_metrics()
    boto3.client("ec2", **kw).describe_vpcs()
    boto3.client("elbv2", **kw).describe_target_groups()
    boto3.client("route53", **kw).list_health_checks()
    boto3.client("resourcegroupstaggingapi", **kw).get_resources()


def env(args):
    """Prints the environment the handler needs, for `eval` or `cargo lambda watch`."""
    acct = "123456789012"
    lines = {
        "AWS_ENDPOINT_URL": args.endpoint, "AWS_REGION": args.region,
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "KLAXON_TABLE": args.prefix, "KLAXON_EVENT_BUS": args.prefix,
    }
    for route in ROUTES:
        lines[f"KLAXON_TOPIC_{route.upper()}"] = f"arn:aws:sns:{args.region}:{acct}:{args.prefix}-{route}"
    for k, v in lines.items():
        print(f"export {k}={v}")


def published(args):
    """Prints what the topic was sent, as moto records it (its /moto-api/data.json, a
    test-only view): the Publish request's message, before SNS picks a protocol's copy."""
    import urllib.request
    local_only(args.endpoint)
    with urllib.request.urlopen(args.endpoint.rstrip("/") + "/moto-api/data.json") as response:
        data = json.load(response)
    out = []
    for topic in data.get("sns", {}).get("Topic", []):
        if topic.get("arn") == args.topic:
            for _id, message, subject, attributes, _group in topic.get("sent_notifications", []):
                out.append({"message": message, "subject": subject, "attributes": attributes or {}})
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["setup", "env", "warmup", "published"])
    ap.add_argument("--endpoint", default="http://127.0.0.1:4566")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--prefix", default="klaxon")
    ap.add_argument("--fixtures", action="store_true",
                    help="also create SQS queues subscribed to the topics and the bus (for tests)")
    ap.add_argument("--world", action="store_true",
                    help="with --fixtures: also a target group, security groups, a health check")
    ap.add_argument("--topic", help="published: the topic ARN")
    args = ap.parse_args()
    {"setup": setup, "env": env, "warmup": warmup, "published": published}[args.command](args)


if __name__ == "__main__":
    main()
