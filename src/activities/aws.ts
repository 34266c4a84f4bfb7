import { S3Client } from '@aws-sdk/client-s3';
import { EC2Client } from '@aws-sdk/client-ec2';
import type { Config } from '../config.js';

/** Region-scoped AWS clients, created once per region and reused. */
export interface AwsClients {
  s3(region: string): S3Client;
  ec2(region: string): EC2Client;
  /** Closes every client's sockets. */
  destroy(): void;
}

/**
 * Real AWS SDK clients. With `endpointUrl` set (an emulator such as moto) every call goes
 * there, S3 with path-style addressing; otherwise the SDK's normal endpoint and credential
 * resolution applies.
 */
export function createAwsClients(aws: Config['aws']): AwsClients {
  const common = (region: string) => ({
    region,
    ...(aws.endpointUrl ? { endpoint: aws.endpointUrl } : {}),
    // A copy: the SDK annotates the credentials object it is given, and config is frozen.
    ...(aws.emulatorCredentials ? { credentials: { ...aws.emulatorCredentials } } : {}),
    maxAttempts: 1, // retries are Temporal's job: visible in history, bounded by the retry policy
  });
  const s3s = new Map<string, S3Client>();
  const ec2s = new Map<string, EC2Client>();
  return {
    s3(region) {
      let c = s3s.get(region);
      if (!c) {
        c = new S3Client({ ...common(region), forcePathStyle: aws.endpointUrl !== undefined });
        s3s.set(region, c);
      }
      return c;
    },
    ec2(region) {
      let c = ec2s.get(region);
      if (!c) {
        c = new EC2Client(common(region));
        ec2s.set(region, c);
      }
      return c;
    },
    destroy() {
      for (const c of [...s3s.values(), ...ec2s.values()]) c.destroy();
      s3s.clear();
      ec2s.clear();
    },
  };
}
