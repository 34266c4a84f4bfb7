export { remediateFinding } from './remediate-finding.js';
export { approvalDigest } from './approval-digest.js';
export { fixLedger } from './fix-ledger.js';
export { scanAccount } from './scan-account.js';
export { scanOrganization } from './scan-organization.js';
export { revertFix } from './revert-fix.js';
export { undoWindow } from './undo-window.js';
