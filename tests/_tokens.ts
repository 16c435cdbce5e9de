/**
 * Real tokens for tests, signed with `jose`: an HMAC secret in an environment variable, and key
 * pairs whose public halves are written as PEM and JWKS files.
 */
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWTPayload,
  SignJWT,
  UnsecuredJWT,
} from "jose";

/** The HMAC secret tests sign with, 40 bytes. */
export const TEST_SECRET = "test-secret-for-the-gateway-0123456789ab";
/** The environment variable the test configs name for it. */
export const TEST_SECRET_ENV = "MMO_TEST_JWT_SECRET";
Deno.env.set(TEST_SECRET_ENV, TEST_SECRET);

const secretBytes = new TextEncoder().encode(TEST_SECRET);

/** What a test token says; `expSec` is seconds from now (negative: already expired). */
export interface TokenSpec {
  sub?: string;
  expSec?: number;
  nbfSec?: number;
  iss?: string;
  aud?: string;
  alg?: string;
  kid?: string;
  claims?: JWTPayload;
}

function build(spec: TokenSpec): SignJWT {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...spec.claims })
    .setProtectedHeader({ alg: spec.alg ?? "HS256", ...(spec.kid && { kid: spec.kid }) })
    .setIssuedAt();
  if (spec.sub !== undefined) jwt.setSubject(spec.sub);
  if (spec.expSec !== undefined) jwt.setExpirationTime(now + spec.expSec);
  if (spec.nbfSec !== undefined) jwt.setNotBefore(now + spec.nbfSec);
  if (spec.iss !== undefined) jwt.setIssuer(spec.iss);
  if (spec.aud !== undefined) jwt.setAudience(spec.aud);
  return jwt;
}

/** A token signed with the test HMAC secret (or `secret`). */
export function hmacToken(spec: TokenSpec = {}, secret: Uint8Array = secretBytes): Promise<string> {
  return build({ sub: "ann", expSec: 300, ...spec }).sign(secret);
}

/** A token signed with `key` (the private half of a generated pair). */
export function signedToken(key: CryptoKey, spec: TokenSpec): Promise<string> {
  return build({ sub: "ann", expSec: 300, ...spec }).sign(key);
}

/** An unsigned token (`alg: none`), which must never be accepted. */
export function unsecuredToken(sub = "ann"): string {
  return new UnsecuredJWT({ sub }).setExpirationTime("5m").encode();
}

/** A key pair for `alg` with its public half as PEM and as a one-key JWKS, in `dir`. */
export async function keyFiles(alg: "RS256" | "ES256" | "EdDSA", dir: string, kid = "k1") {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const pemFile = `${dir}/${alg}.pem`;
  const jwksFile = `${dir}/${alg}.jwks.json`;
  await Deno.writeTextFile(pemFile, await exportSPKI(publicKey));
  const jwk = { ...await exportJWK(publicKey), kid, alg, use: "sig" };
  await Deno.writeTextFile(jwksFile, JSON.stringify({ keys: [jwk] }));
  return { privateKey, publicKey, pemFile, jwksFile };
}

/** The `auth` config section for tests: JWT over the test HMAC secret, with `overrides`. */
export function hmacAuth(
  overrides: Record<string, unknown> = {},
  jwt: Record<string, unknown> = {},
) {
  return {
    mode: "jwt" as const,
    jwt: { hmac_secret_env: TEST_SECRET_ENV, leeway_sec: 0, ...jwt },
    ...overrides,
  };
}
