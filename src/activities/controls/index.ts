import { ControlId } from '../../findings/finding.js';
import type { Control } from './control.js';
import { s3BlockPublicAccess } from './s3-block-public-access.js';
import { sgAdminPorts } from './sg-admin-ports.js';

/** Every control, by id. Adding a control means adding its module here. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const CONTROLS: Readonly<Record<ControlId, Control<any, any>>> = {
  [ControlId.S3BlockPublicAccess]: s3BlockPublicAccess,
  [ControlId.SgAdminPortsOpen]: sgAdminPorts,
};
