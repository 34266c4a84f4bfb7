import { cloudTrailLogValidation } from './cloudtrail-log-validation.js';
import { ebsDefaultEncryption } from './ebs-default-encryption.js';
import { ec2DefaultSgClosed } from './ec2-default-sg-closed.js';
import { ec2EbsSnapshotPublic } from './ec2-ebs-snapshot-public.js';
import { ec2Imdsv2Required } from './ec2-imdsv2-required.js';
import { iamAccessKeyStale } from './iam-access-key-stale.js';
import { iamUserMfa } from './iam-user-mfa.js';
import { kmsKeyRotation } from './kms-key-rotation.js';
import { lambdaPublicInvoke } from './lambda-public-invoke.js';
import { rdsInstancePublic } from './rds-instance-public.js';
import { rdsSnapshotPublic } from './rds-snapshot-public.js';
import { registerControl, type CatalogedControl } from './registry.js';
import { s3BlockPublicAccess } from './s3-block-public-access.js';
import { s3BucketTlsRequired } from './s3-bucket-tls-required.js';
import { s3DefaultEncryption } from './s3-default-encryption.js';
import { s3PublicAcl } from './s3-public-acl.js';
import { sgAdminPorts } from './sg-admin-ports.js';
import { snsTopicPublic } from './sns-topic-public.js';
import { sqsQueuePublic } from './sqs-queue-public.js';

export * from './registry.js';

/** The first six: src/findings/cloudtrail.ts reads their CloudTrail events itself. */
export const FIRST_CONTROLS = [s3BlockPublicAccess, s3PublicAcl, s3DefaultEncryption, sgAdminPorts, ebsDefaultEncryption, iamUserMfa] as readonly CatalogedControl[];

/** The catalog added since: each reads its own CloudTrail events (catalog.fromCloudTrail). */
export const CATALOG_CONTROLS = [
  s3BucketTlsRequired,
  ec2DefaultSgClosed,
  ec2EbsSnapshotPublic,
  rdsSnapshotPublic,
  rdsInstancePublic,
  ec2Imdsv2Required,
  iamAccessKeyStale,
  kmsKeyRotation,
  cloudTrailLogValidation,
  lambdaPublicInvoke,
  snsTopicPublic,
  sqsQueuePublic,
] as readonly CatalogedControl[];

/**
 * The built-in controls, registered on first import of this module. A control of one's own is
 * registered with `registerControl` (or named in CONTROL_MODULES) and is then known everywhere
 * the built-in ones are (see docs/controls.md).
 */
for (const c of FIRST_CONTROLS) registerControl(c, { builtIn: true });
for (const c of CATALOG_CONTROLS) registerControl(c);
