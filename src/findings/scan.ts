import { CONTROL_RESOURCE_TYPE, FindingSource, type ControlId, type FirstControlId, type Finding, type Severity } from './finding.js';

/** The finding a scan reports for a violating resource. Pure (used by the scan workflow). */
export function scanFinding(
  control: ControlId,
  account: string,
  region: string,
  v: { readonly resourceId: string; readonly title: string; readonly severity: Severity },
  observedAt: string,
  scanId: string,
  /** The control's resource type, as the scan page gives it (pages of runs recorded before it was given lack it). */
  resourceType?: string,
): Finding {
  return {
    id: `scan/${scanId}/${control}/${v.resourceId}`,
    source: FindingSource.Scan,
    control,
    account,
    region,
    resource: { type: resourceType ?? CONTROL_RESOURCE_TYPE[control as FirstControlId], id: v.resourceId },
    severity: v.severity,
    title: v.title,
    observedAt,
    state: 'active',
    origin: { scanId },
  };
}
