#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KlaxonStack } from '../lib/klaxon-stack';

const app = new App();
const arch = app.node.tryGetContext('architecture') ?? 'arm64';
new KlaxonStack(app, 'Klaxon', {
  architecture: arch === 'x86_64' ? lambda.Architecture.X86_64 : lambda.Architecture.ARM_64,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
