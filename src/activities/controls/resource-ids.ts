/**
 * Resource ids as the finding sources give them (an ARN from Security Hub, a plain id from Config
 * or a generic finding) turned into the id a control acts on. Pure.
 */

/** `arn:<partition>:<service>:<region>:<account>:<resource>`: the resource part, when `arn` is an ARN of `service`. */
export function arnResource(arn: string, service: string): string | undefined {
  const m = /^arn:aws[a-z-]*:([a-z0-9-]+):([a-z0-9-]*):(\d{12})?:(.+)$/.exec(arn);
  return m && m[1] === service ? m[4] : undefined;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** A bucket name, or `arn:aws:s3:::name`. */
export function bucketId(raw: string): string | undefined {
  const name = /^arn:aws[a-z-]*:s3:::([^/]+)$/.exec(raw)?.[1] ?? raw;
  return BUCKET.test(name) && !name.includes('..') ? name : undefined;
}

/** sg-..., or `arn:aws:ec2:<region>:<account>:security-group/sg-...`. */
export function securityGroupId(raw: string): string | undefined {
  const id = arnResource(raw, 'ec2')?.replace(/^security-group\//, '') ?? raw;
  return /^sg-[0-9a-f]{8,17}$/.test(id) ? id : undefined;
}

/** A 12-digit account id, or Security Hub's `AWS::::Account:<id>`. */
export function accountId(raw: string): string | undefined {
  const id = /^AWS::::Account:(.*)$/.exec(raw)?.[1] ?? raw;
  return /^\d{12}$/.test(id) ? id : undefined;
}

/** An IAM user name, or `arn:aws:iam::<account>:user/<path>/<name>`. */
export function iamUserName(raw: string): string | undefined {
  const res = arnResource(raw, 'iam');
  const name = res === undefined ? raw : /^user\/(?:.*\/)?([^/]+)$/.exec(res)?.[1];
  return name !== undefined && /^[\w+=,.@-]{1,64}$/.test(name) ? name : undefined;
}

/** `fromCloudTrail` of the first six controls: src/findings/cloudtrail.ts reads their events itself. */
export function readByNormalizer(): { readonly ignore: string } {
  return { ignore: 'read by the CloudTrail normalizer (src/findings/cloudtrail.ts)' };
}
