/**
 * TLS material for `switchyard echo --tls`: a certificate made on the spot, or the files named
 * by `--cert` and `--key`.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { generate } from 'selfsigned';

/** A certificate and key in PEM, ready for `https.createServer`. */
export interface Certificate {
  cert: string;
  key: string;
  /** The SHA-256 fingerprint, which a client can compare with what it received. */
  fingerprint: string;
  /** The names (DNS and IP) it is valid for. */
  names: string;
}

/** Makes a self-signed certificate for localhost, 127.0.0.1, ::1 and `host` if given. */
export async function generateCertificate(host?: string): Promise<Certificate> {
  const names = new Set(['localhost', '127.0.0.1', '::1']);
  if (host && host !== '0.0.0.0' && host !== '::') names.add(host);
  const altNames = [...names].map((name) =>
    isIP(name) ? { type: 7 as const, ip: name } : { type: 2 as const, value: name },
  );
  // Elliptic-curve keys: generating an RSA key takes long enough to notice at every start.
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return describe(pems.cert, pems.private);
}

/** Reads a certificate and key from PEM files. */
export async function readCertificate(certPath: string, keyPath: string): Promise<Certificate> {
  const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
  return describe(cert, key);
}

function describe(cert: string, key: string): Certificate {
  const parsed = new X509Certificate(cert);
  return { cert, key, fingerprint: parsed.fingerprint256, names: parsed.subjectAltName ?? parsed.subject };
}
