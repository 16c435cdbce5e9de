/**
 * TLS material for the QUIC listener: loads and checks operator-supplied PEM files, or makes a
 * development CA and a leaf certificate signed by it (X.509 on WebCrypto). The development leaf
 * also serves browsers: WebTransport's `serverCertificateHashes` trusts it by its hash, which
 * the leaf qualifies for by being ECDSA P-256 and valid for under 14 days.
 *
 * @module
 */
// @peculiar/x509 resolves its classes through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** PEM certificate chain and key, ready for a QUIC listener. */
export interface TlsMaterial {
  /** Certificate chain, PEM, leaf first. */
  certPem: string;
  /** The leaf's private key, PEM (PKCS#8). */
  keyPem: string;
  /** SHA-256 fingerprint of the leaf certificate, colon-separated hex. */
  fingerprint: string;
}

/** A development CA and the leaf it signed. */
export interface DevTlsMaterial extends TlsMaterial {
  /** Where the CA certificate was written; clients trust this file. */
  caFile: string;
  /** The CA certificate, PEM. */
  caPem: string;
  /** SHA-256 fingerprint of the CA certificate, colon-separated hex. */
  caFingerprint: string;
  /** Whether the CA was made now (false when an existing one was reused). */
  caCreated: boolean;
  /**
   * The SHA-256 of the leaf certificate's DER, base64: the value browsers give
   * `serverCertificateHashes` (`{algorithm: "sha-256", value}`) to trust the leaf.
   */
  certificateHash: string;
  /** Whether the leaf was signed now (false when the one from an earlier start was reused). */
  leafCreated: boolean;
}

/** A certificate or key file that cannot be read or used; the message names the file. */
export class TlsCertError extends Error {
  /** Creates an error about `file`. */
  constructor(readonly file: string, message: string, options?: ErrorOptions) {
    super(`Invalid TLS file ${file}: ${message}`, options);
    this.name = "TlsCertError";
  }
}

const EC_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;
/** CA lifetime: long enough that developers trust it once, short enough to expire if leaked. */
const CA_VALIDITY_DAYS = 365;
/**
 * Leaf lifetime, backdating included: the WebTransport spec lets browsers trust a certificate
 * by hash only when it is valid for at most 14 days (Chromium checks notAfter - notBefore);
 * a day less leaves room for clock skew.
 */
const LEAF_VALIDITY_MS = 13 * DAY_MS;
/**
 * A leaf with less than this left is replaced at start, so a gateway runs at least this long
 * on its leaf. Until then it is reused, so the hash browsers were given survives restarts.
 */
const LEAF_RENEW_BEFORE_DAYS = 6;
/** Certificates start this long before now, for clocks slightly behind ours. */
const BACKDATE_MS = 60_000;
/** A CA this close to expiry is replaced rather than reused. */
const CA_RENEW_BEFORE_DAYS = 30;

/** The CA certificate's file name inside `dev_ca_dir`. */
export const DEV_CA_CERT_FILE = "ca.pem";
/** The CA key's file name inside `dev_ca_dir` (mode 0600). */
export const DEV_CA_KEY_FILE = "ca-key.pem";
/** The development leaf's file name inside `dev_ca_dir`: the certificate chain, leaf first. */
export const DEV_LEAF_CERT_FILE = "leaf.pem";
/** The development leaf key's file name inside `dev_ca_dir` (mode 0600). */
export const DEV_LEAF_KEY_FILE = "leaf-key.pem";

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0").toUpperCase())
    .join(":");
}

async function fingerprint(cert: x509.X509Certificate): Promise<string> {
  return hex(await cert.getThumbprint("SHA-256"));
}

async function certificateHash(cert: x509.X509Certificate): Promise<string> {
  const digest = new Uint8Array(await cert.getThumbprint("SHA-256"));
  return btoa(String.fromCharCode(...digest));
}

function serialNumber(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f; // a positive INTEGER
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readFile(file: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (error) {
    throw new TlsCertError(file, `cannot read the ${what}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function parseCertificates(file: string, pem: string): x509.X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) throw new TlsCertError(file, "no PEM CERTIFICATE block found");
  return blocks.map((block, i) => {
    try {
      return new x509.X509Certificate(block);
    } catch (error) {
      throw new TlsCertError(file, `certificate ${i + 1} does not parse as X.509`, {
        cause: error,
      });
    }
  });
}

function keyAlgorithm(cert: x509.X509Certificate): EcKeyImportParams | RsaHashedImportParams {
  const algorithm = cert.publicKey.algorithm as EcKeyAlgorithm & RsaHashedKeyAlgorithm;
  if (algorithm.name === "ECDSA") return { name: "ECDSA", namedCurve: algorithm.namedCurve };
  return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
}

/** Whether `privateKey` belongs to `cert`, comparing their public parts as JWK. */
async function keyMatches(cert: x509.X509Certificate, privateKey: CryptoKey): Promise<boolean> {
  const publicJwk = await crypto.subtle.exportKey("jwk", await cert.publicKey.export());
  const privateJwk = await crypto.subtle.exportKey("jwk", privateKey);
  return publicJwk.kty === "EC"
    ? publicJwk.x === privateJwk.x && publicJwk.y === privateJwk.y
    : publicJwk.n === privateJwk.n && publicJwk.e === privateJwk.e;
}

async function importKey(
  file: string,
  pem: string,
  cert: x509.X509Certificate,
): Promise<CryptoKey> {
  const block = pem.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/);
  if (!block) {
    throw new TlsCertError(
      file,
      "no PEM PRIVATE KEY (PKCS#8) block found; convert with `openssl pkcs8 -topk8 -nocrypt`",
    );
  }
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey(
      "pkcs8",
      x509.PemConverter.decodeFirst(block[0]),
      keyAlgorithm(cert),
      true,
      ["sign"],
    );
  } catch (error) {
    throw new TlsCertError(file, "the key does not parse as a PKCS#8 ECDSA or RSA key", {
      cause: error,
    });
  }
  return key;
}

/**
 * Reads a certificate chain and its key and checks that they parse, that the leaf is valid now
 * and that the key belongs to it.
 *
 * @throws {TlsCertError} naming the file at fault.
 */
export async function loadTlsFiles(certFile: string, keyFile: string): Promise<TlsMaterial> {
  const certPem = await readFile(certFile, "certificate");
  const keyPem = await readFile(keyFile, "key");
  const [leaf] = parseCertificates(certFile, certPem);
  const now = new Date();
  if (leaf.notAfter < now) {
    throw new TlsCertError(certFile, `the certificate expired on ${leaf.notAfter.toISOString()}`);
  }
  if (leaf.notBefore > now) {
    throw new TlsCertError(
      certFile,
      `the certificate is not valid before ${leaf.notBefore.toISOString()}`,
    );
  }
  const key = await importKey(keyFile, keyPem, leaf);
  if (!(await keyMatches(leaf, key))) {
    throw new TlsCertError(keyFile, `the key does not belong to the certificate in ${certFile}`);
  }
  return { certPem, keyPem, fingerprint: await fingerprint(leaf) };
}

interface DevCa {
  cert: x509.X509Certificate;
  key: CryptoKey;
}

async function loadDevCa(certFile: string, keyFile: string): Promise<DevCa | undefined> {
  let certPem: string, keyPem: string;
  try {
    [certPem, keyPem] = await Promise.all([
      Deno.readTextFile(certFile),
      Deno.readTextFile(keyFile),
    ]);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new TlsCertError(
      certFile,
      `cannot read the development CA: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const [cert] = parseCertificates(certFile, certPem);
  if (cert.notAfter.getTime() - Date.now() < CA_RENEW_BEFORE_DAYS * DAY_MS) return undefined;
  const key = await importKey(keyFile, keyPem, cert);
  if (!(await keyMatches(cert, key))) {
    throw new TlsCertError(keyFile, `the key does not belong to the CA in ${certFile}`);
  }
  return { cert, key };
}

async function createDevCa(): Promise<DevCa> {
  const keys = await crypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=MMO Gateway Development CA, O=MMO Gateway`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: EC_P256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, key: keys.privateKey };
}

function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/** The subject alternative names of the development leaf, each host both ways for IPs. */
function leafNames(hosts: string[]): Array<{ type: "ip" | "dns"; value: string }> {
  const names = new Set(["localhost", "127.0.0.1", "::1", ...hosts]);
  return [...names].filter((name) => name !== "0.0.0.0" && name !== "::").flatMap((name) =>
    isIp(name)
      // quiche (the matrixai client) matches an IP literal against DNS names only, so IP
      // addresses are listed both ways; rustls (native) uses the IP entries.
      ? [{ type: "ip" as const, value: name }, { type: "dns" as const, value: name }]
      : [{ type: "dns" as const, value: name }]
  );
}

interface DevLeaf {
  cert: x509.X509Certificate;
  keyPem: string;
}

/**
 * The leaf kept from an earlier start, when it can serve this one: signed by `ca`, at least
 * {@linkcode LEAF_RENEW_BEFORE_DAYS} left, no longer than a browser trusts by hash, for every
 * name in `names`, with its key. Anything else (missing, unreadable, stale) means a new leaf.
 */
async function reusableLeaf(
  certFile: string,
  keyFile: string,
  ca: DevCa,
  names: Array<{ type: string; value: string }>,
): Promise<DevLeaf | undefined> {
  try {
    const [certPem, keyPem] = await Promise.all([
      Deno.readTextFile(certFile),
      Deno.readTextFile(keyFile),
    ]);
    const [cert] = parseCertificates(certFile, certPem);
    const left = cert.notAfter.getTime() - Date.now();
    const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
    if (left < LEAF_RENEW_BEFORE_DAYS * DAY_MS || lifetime > LEAF_VALIDITY_MS) return undefined;
    if (!await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true })) {
      return undefined;
    }
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
    const has = (name: { type: string; value: string }) =>
      san.some((entry) => entry.type === name.type && entry.value === name.value);
    if (!names.every(has)) return undefined;
    if (!await keyMatches(cert, await importKey(keyFile, keyPem, cert))) return undefined;
    return { cert, keyPem };
  } catch {
    return undefined;
  }
}

async function createDevLeaf(
  ca: DevCa,
  names: Array<{ type: "ip" | "dns"; value: string }>,
): Promise<DevLeaf> {
  const keys = await crypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
  const notBefore = Date.now() - BACKDATE_MS;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: "CN=localhost, O=MMO Gateway",
    issuer: ca.cert.subject,
    notBefore: new Date(notBefore),
    notAfter: new Date(notBefore + LEAF_VALIDITY_MS),
    signingAlgorithm: EC_P256,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
    ],
  });
  const keyPem = x509.PemConverter.encode(
    await crypto.subtle.exportKey("pkcs8", keys.privateKey),
    "PRIVATE KEY",
  );
  return { cert, keyPem };
}

/**
 * Makes the development TLS material: reuses the CA in `caDir` when it is there and valid for
 * another month, otherwise creates one and writes it (`ca.pem`, `ca-key.pem` with mode 0600).
 * Then reuses the leaf of an earlier start (`leaf.pem`, `leaf-key.pem`) while it has at least
 * six days left and covers `localhost`, the loopback addresses and `hosts`, or signs a new one
 * (ECDSA P-256, valid 13 days, so browsers can trust it by hash) and writes it.
 *
 * @throws {TlsCertError} when the CA files exist but cannot be used, or files cannot be
 * written.
 */
export async function createDevTls(caDir: string, hosts: string[] = []): Promise<DevTlsMaterial> {
  const caFile = `${caDir}/${DEV_CA_CERT_FILE}`;
  const caKeyFile = `${caDir}/${DEV_CA_KEY_FILE}`;
  let ca = await loadDevCa(caFile, caKeyFile);
  const caCreated = ca === undefined;
  if (ca === undefined) {
    ca = await createDevCa();
    const keyPem = x509.PemConverter.encode(
      await crypto.subtle.exportKey("pkcs8", ca.key),
      "PRIVATE KEY",
    );
    await writeDevFiles(caDir, caFile, ca.cert.toString("pem") + "\n", caKeyFile, keyPem);
  }
  const caPem = ca.cert.toString("pem") + "\n";
  const names = leafNames(hosts);
  const leafFile = `${caDir}/${DEV_LEAF_CERT_FILE}`;
  const leafKeyFile = `${caDir}/${DEV_LEAF_KEY_FILE}`;
  // A new CA signs a new leaf: the old one would not chain to it.
  let leaf = caCreated ? undefined : await reusableLeaf(leafFile, leafKeyFile, ca, names);
  const leafCreated = leaf === undefined;
  if (leaf === undefined) {
    leaf = await createDevLeaf(ca, names);
    await writeDevFiles(
      caDir,
      leafFile,
      leaf.cert.toString("pem") + "\n" + caPem,
      leafKeyFile,
      leaf.keyPem,
    );
  }
  return {
    certPem: leaf.cert.toString("pem") + "\n" + caPem,
    keyPem: leaf.keyPem,
    fingerprint: await fingerprint(leaf.cert),
    caFile,
    caPem,
    caFingerprint: await fingerprint(ca.cert),
    caCreated,
    certificateHash: await certificateHash(leaf.cert),
    leafCreated,
  };
}

/**
 * Writes a certificate and its key (mode 0600) into `dir`.
 *
 * @throws {TlsCertError} naming the certificate file when either cannot be written.
 */
async function writeDevFiles(
  dir: string,
  certFile: string,
  certPem: string,
  keyFile: string,
  keyPem: string,
): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(keyFile, keyPem, { mode: 0o600 });
    await Deno.writeTextFile(certFile, certPem);
  } catch (error) {
    throw new TlsCertError(
      certFile,
      `cannot write the development certificate: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}
