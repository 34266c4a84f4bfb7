import { S3Client } from '@aws-sdk/client-s3';
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import type { Config } from '../config.js';

/** Region-scoped AWS clients, created once per region and reused. */
export interface AwsClients {
  s3(region: string): S3Client;
  ec2(region: string): EC2Client;
  /** IAM is global; its client lives in the default region. */
  iam(): IAMClient;
  sts(region: string): STSClient;
  securityHub(region: string): SecurityHubClient;
  /** Closes every client's sockets. */
  destroy(): void;
}

/**
 * Real AWS SDK clients. With `endpointUrl` set (an emulator such as moto) every call goes
 * there, S3 with path-style addressing; otherwise the SDK's normal endpoint and credential
 * resolution applies.
 */
export function createAwsClients(aws: Config['aws'], overrides: { securityHubEndpoint?: string } = {}): AwsClients {
  const common = (region: string) => ({
    region,
    ...(aws.endpointUrl ? { endpoint: aws.endpointUrl } : {}),
    // A copy: the SDK annotates the credentials object it is given, and config is frozen.
    ...(aws.emulatorCredentials ? { credentials: { ...aws.emulatorCredentials } } : {}),
    maxAttempts: 1, // retries are Temporal's job: visible in history, bounded by the retry policy
  });
  const all: { destroy(): void }[] = [];
  const cache = <T extends { destroy(): void }>(make: (region: string) => T) => {
    const byRegion = new Map<string, T>();
    return (region: string): T => {
      let c = byRegion.get(region);
      if (!c) {
        c = make(region);
        byRegion.set(region, c);
        all.push(c);
      }
      return c;
    };
  };
  const iam = cache((region) => new IAMClient(common(region)));
  return {
    s3: cache((region) => new S3Client({ ...common(region), forcePathStyle: aws.endpointUrl !== undefined })),
    ec2: cache((region) => new EC2Client(common(region))),
    iam: () => iam(aws.region),
    sts: cache((region) => new STSClient(common(region))),
    securityHub: cache((region) => new SecurityHubClient({ ...common(region), ...(overrides.securityHubEndpoint ? { endpoint: overrides.securityHubEndpoint } : {}) })),
    destroy() {
      for (const c of all.splice(0)) c.destroy();
    },
  };
}
