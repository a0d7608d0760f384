// A self-signed X.509 serving certificate, generated in-process for the HTTPS metrics endpoint when no
// certificate is mounted. Node has no X.509 generation API and the image carries no openssl binary, so
// this writes the DER of a minimal TBSCertificate (RFC 5280) and signs it with node:crypto (ECDSA P-256).
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

/** A PEM certificate and its PEM (PKCS #8) private key. */
export interface CertificatePem {
  readonly cert: string;
  readonly key: string;
}

export interface SelfSignedOptions {
  /** Subject common name. */
  readonly commonName: string;
  /** DNS names and IP addresses for subjectAltName (IPv4 or IPv6 literals become iPAddress entries). */
  readonly altNames: readonly string[];
  /** Validity start, ms since the epoch (default: now − 1 h, for clock skew between hosts). */
  readonly notBeforeMs?: number;
  /** Validity in days from now (default 365). */
  readonly validDays?: number;
}

// DER encoding: tag, definite length, contents.
function der(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

const seq = (...c: Buffer[]): Buffer => der(0x30, ...c);

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [40 * (arcs[0] ?? 0) + (arcs[1] ?? 0)];
  for (const arc of arcs.slice(2)) {
    const group: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) group.unshift(0x80 | (v & 0x7f));
    out.push(...group);
  }
  return der(0x06, Buffer.from(out));
}

/** UTCTime before 2050, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5). */
function time(ms: number): Buffer {
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  const year = Number(iso.slice(0, 4));
  return year < 2050 ? der(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii')) : der(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand "::" and write eight 16-bit groups.
  const [head = '', tail] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [der(0x01, Buffer.from([0xff]))] : []), der(0x04, value));
}

function toPem(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Builds the DER of a certificate for `publicKey`, signed by `privateKey` (both P-256). */
export function buildCertificateDer(o: SelfSignedOptions, publicKey: KeyObject, privateKey: KeyObject): Buffer {
  if (o.altNames.length === 0) throw new Error('altNames: expected at least one DNS name or IP address');
  const notBefore = o.notBeforeMs ?? Date.now() - 3600_000;
  const notAfter = notBefore + 3600_000 + (o.validDays ?? 365) * 86400_000;
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // positive
  serial[0] |= 0x01; // no leading zero byte to strip
  const name = seq(der(0x31, seq(oid('2.5.4.3'), der(0x0c, Buffer.from(o.commonName, 'utf8')))));
  const sans = o.altNames.map((n) => (isIP(n) !== 0 ? der(0x87, ipBytes(n)) : der(0x82, Buffer.from(n, 'ascii'))));
  const extensions = seq(
    extension('2.5.29.19', true, seq()), // basicConstraints: not a CA
    extension('2.5.29.15', true, der(0x03, Buffer.from([0x07, 0x80]))), // keyUsage: digitalSignature
    extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extKeyUsage: serverAuth
    extension('2.5.29.17', false, seq(...sans)), // subjectAltName
  );
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))), // v3
    der(0x02, serial),
    ECDSA_SHA256,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, extensions),
  );
  const signature = sign('sha256', tbs, privateKey); // DER Ecdsa-Sig-Value, as X.509 wants it
  return seq(tbs, ECDSA_SHA256, der(0x03, Buffer.from([0]), signature));
}

/** A fresh P-256 key and a self-signed serving certificate for it, both PEM. */
export function generateSelfSignedCertificate(o: SelfSignedOptions): CertificatePem {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const cert = toPem('CERTIFICATE', buildCertificateDer(o, publicKey, privateKey));
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return { cert, key };
}
