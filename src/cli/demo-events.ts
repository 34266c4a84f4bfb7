import { randomUUID } from 'node:crypto';

/**
 * Events shaped exactly as EventBridge delivers them to an API destination, for the demo.
 * Trimmed to the fields that matter, with the rest as AWS sends them.
 */
const ACCOUNT = '123456789012';
const actor = {
  type: 'AssumedRole',
  principalId: 'AROAEXAMPLEROLEID1234:jane',
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/Developer/jane`,
  accountId: ACCOUNT,
};

function envelope(detailType: string, source: string, region: string, detail: Record<string, unknown>) {
  return { version: '0', id: randomUUID(), 'detail-type': detailType, source, account: ACCOUNT, time: new Date().toISOString(), region, resources: [], detail };
}

function cloudTrail(source: 's3' | 'ec2', eventName: string, region: string, requestParameters: unknown, responseElements: unknown = null) {
  const now = new Date().toISOString();
  return envelope('AWS API Call via CloudTrail', `aws.${source}`, region, {
    eventVersion: '1.09',
    userIdentity: actor,
    eventTime: now,
    eventSource: `${source}.amazonaws.com`,
    eventName,
    awsRegion: region,
    sourceIPAddress: '203.0.113.10',
    userAgent: 'aws-cli/2.17.0',
    requestParameters,
    responseElements,
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: false,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: ACCOUNT,
    eventCategory: 'Management',
  });
}

/** Someone removed a bucket's public access block. */
export function deleteBucketPublicAccessBlockEvent(bucket: string, region: string) {
  return cloudTrail('s3', 'DeleteBucketPublicAccessBlock', region, { publicAccessBlock: [''], bucketName: bucket, Host: `${bucket}.s3.${region}.amazonaws.com` });
}

/** Someone opened a port of a security group to a CIDR. */
export function authorizeIngressEvent(groupId: string, region: string, port: number, cidr: string) {
  return cloudTrail(
    'ec2',
    'AuthorizeSecurityGroupIngress',
    region,
    {
      groupId,
      ipPermissions: { items: [{ ipProtocol: 'tcp', fromPort: port, toPort: port, groups: {}, ipRanges: { items: [{ cidrIp: cidr }] }, ipv6Ranges: {}, prefixListIds: {} }] },
    },
    { requestId: randomUUID(), _return: true },
  );
}

/** A Security Hub finding for control S3.8 (bucket-level Block Public Access), imported into EventBridge. */
export function securityHubS3_8Event(bucket: string, region: string) {
  const now = new Date().toISOString();
  const id = `arn:aws:securityhub:${region}:${ACCOUNT}:security-control/S3.8/finding/${randomUUID()}`;
  return envelope('Security Hub Findings - Imported', 'aws.securityhub', region, {
    findings: [
      {
        SchemaVersion: '2018-10-08',
        Id: id,
        ProductArn: `arn:aws:securityhub:${region}::product/aws/securityhub`,
        ProductName: 'Security Hub',
        CompanyName: 'AWS',
        Region: region,
        GeneratorId: 'security-control/S3.8',
        AwsAccountId: ACCOUNT,
        Types: ['Software and Configuration Checks/Industry and Regulatory Standards'],
        FirstObservedAt: now,
        LastObservedAt: now,
        CreatedAt: now,
        UpdatedAt: now,
        Severity: { Label: 'HIGH', Normalized: 70, Original: 'HIGH' },
        Title: 'S3 general purpose buckets should block public access',
        Description: 'This control checks whether an Amazon S3 general purpose bucket blocks public access at the bucket level.',
        ProductFields: { ControlId: 'S3.8', 'aws/securityhub/ProductName': 'Security Hub' },
        Resources: [{ Type: 'AwsS3Bucket', Id: `arn:aws:s3:::${bucket}`, Partition: 'aws', Region: region }],
        Compliance: { Status: 'FAILED', SecurityControlId: 'S3.8', AssociatedStandards: [{ StandardsId: 'standards/aws-foundational-security-best-practices/v/1.0.0' }] },
        WorkflowState: 'NEW',
        Workflow: { Status: 'NEW' },
        RecordState: 'ACTIVE',
        FindingProviderFields: { Severity: { Label: 'HIGH', Original: 'HIGH' }, Types: ['Software and Configuration Checks/Industry and Regulatory Standards'] },
      },
    ],
  });
}

/** AWS Config found a security group non-compliant with the managed rule restricted-common-ports. */
export function configNonCompliantEvent(groupId: string, region: string) {
  const now = new Date().toISOString();
  const rule = 'securityhub-restricted-common-ports-a1b2c3';
  return envelope('Config Rules Compliance Change', 'aws.config', region, {
    resourceId: groupId,
    awsRegion: region,
    awsAccountId: ACCOUNT,
    configRuleName: rule,
    recordVersion: '1.0',
    configRuleARN: `arn:aws:config:${region}:${ACCOUNT}:config-rule/config-rule-ab12cd`,
    messageType: 'ComplianceChangeNotification',
    newEvaluationResult: {
      evaluationResultIdentifier: {
        evaluationResultQualifier: { configRuleName: rule, resourceType: 'AWS::EC2::SecurityGroup', resourceId: groupId, evaluationMode: 'DETECTIVE' },
        orderingTimestamp: now,
      },
      complianceType: 'NON_COMPLIANT',
      resultRecordedTime: now,
      configRuleInvokedTime: now,
    },
    oldEvaluationResult: null,
    notificationCreationTime: now,
    resourceType: 'AWS::EC2::SecurityGroup',
  });
}
