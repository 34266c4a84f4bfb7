import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/**
 * Test certificates made in memory (ECDSA P-256, SHA-256): a CA and end-entity certificates it
 * signs, as PEM. Pure JavaScript, so the tests need no openssl.
 */

x509.cryptoProvider.set(webcrypto as unknown as webcrypto.Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 60 * 60 * 1000;

export interface TestCa {
  readonly certPem: string;
  /** Signs a certificate for a server (serverAuth, with these DNS names / IP addresses) or a client (clientAuth). */
  issue(o: { commonName: string; usage: 'server' | 'client'; dnsNames?: readonly string[]; ips?: readonly string[] }): Promise<{ certPem: string; keyPem: string }>;
}

async function keyPair(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

const serial = () => Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex').replace(/^./, '1');

export async function createTestCa(name = 'rectify test CA'): Promise<TestCa> {
  const keys = await keyPair();
  const notBefore = new Date(Date.now() - DAY);
  const notAfter = new Date(Date.now() + 7 * DAY);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certPem: caCert.toString('pem'),
    async issue(o) {
      const leaf = await keyPair();
      const names = [...(o.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })), ...(o.ips ?? []).map((value) => ({ type: 'ip' as const, value }))];
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: `CN=${o.commonName}`,
        issuer: caCert.subject,
        notBefore,
        notAfter,
        publicKey: leaf.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: ALG,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
          new x509.ExtendedKeyUsageExtension([o.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
          await x509.SubjectKeyIdentifierExtension.create(leaf.publicKey),
          await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
          ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
        ],
      });
      return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(leaf.privateKey) };
    },
  };
}
