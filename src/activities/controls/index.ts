import { ControlId } from '../../findings/finding.js';
import type { Control } from './control.js';
import { ebsDefaultEncryption } from './ebs-default-encryption.js';
import { iamUserMfa } from './iam-user-mfa.js';
import { s3BlockPublicAccess } from './s3-block-public-access.js';
import { s3DefaultEncryption } from './s3-default-encryption.js';
import { s3PublicAcl } from './s3-public-acl.js';
import { sgAdminPorts } from './sg-admin-ports.js';

/** Every control, by id. Adding a control means adding its module here. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const CONTROLS: Readonly<Record<ControlId, Control<any, any>>> = {
  [ControlId.S3BlockPublicAccess]: s3BlockPublicAccess,
  [ControlId.S3PublicAcl]: s3PublicAcl,
  [ControlId.S3DefaultEncryption]: s3DefaultEncryption,
  [ControlId.SgAdminPortsOpen]: sgAdminPorts,
  [ControlId.EbsDefaultEncryption]: ebsDefaultEncryption,
  [ControlId.IamUserConsoleMfa]: iamUserMfa,
};
