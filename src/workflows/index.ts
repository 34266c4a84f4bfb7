export { remediateFinding } from './remediate-finding.js';
