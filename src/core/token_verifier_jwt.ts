/**
 * JWT verification with `jose`: an HMAC secret from the environment, a PEM public key, or a
 * JSON Web Key Set file, an algorithm allow-list (so `alg: none` and algorithm confusion are
 * refused before any key is touched), issuer, audience and clock leeway. Keys are loaded once
 * at start; a key that cannot be used is a config error naming the field.
 *
 * @module
 */
import {
  createLocalJWKSet,
  type CryptoKey,
  errors,
  importSPKI,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  jwtVerify,
  type JWTVerifyOptions,
} from "jose";
import type { GatewayConfig, JwtAlgorithm } from "../config/config.ts";
import {
  TokenKeyError,
  TokenRejectedError,
  type TokenVerifier,
  type VerifiedToken,
} from "./token_verifier.ts";

/** The `auth.jwt` config section. */
export type JwtConfig = GatewayConfig["auth"]["jwt"];

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash, 256 bits. */
const MIN_HMAC_SECRET_BYTES = 32;

/** The hub bounds user ids to this length; a longer `sub` is refused at the door. */
const MAX_USER_ID_LENGTH = 256;

const isHmac = (alg: JwtAlgorithm) => alg.startsWith("HS");

/** How a verified token finds its key: the HMAC secret, or a key chosen by the header. */
type VerificationKey = Uint8Array | ((header: JWSHeaderParameters) => Promise<CryptoKey>);

/** Reads where the environment variable lookup is injectable for tests. */
export type EnvLookup = (name: string) => string | undefined;

/** Verifies JWTs against one configured key source. */
export class JwtVerifier implements TokenVerifier {
  readonly #key: VerificationKey;
  readonly #options: JWTVerifyOptions;

  private constructor(key: VerificationKey, algorithms: JwtAlgorithm[], config: JwtConfig) {
    this.#key = key;
    this.#options = {
      algorithms,
      issuer: config.issuer,
      audience: config.audience,
      clockTolerance: config.leeway_sec,
      requiredClaims: ["sub"],
    };
  }

  /**
   * Loads the configured key: reads the secret's environment variable or the key file and
   * checks that it fits at least one allowed algorithm.
   *
   * @throws {TokenKeyError} naming the field when the key is missing or unusable.
   */
  static async load(
    config: JwtConfig,
    env: EnvLookup = (name) => Deno.env.get(name),
  ): Promise<JwtVerifier> {
    if (config.hmac_secret_env !== undefined) {
      const algorithms = config.algorithms.filter(isHmac);
      return new JwtVerifier(hmacSecret(config.hmac_secret_env, env), algorithms, config);
    }
    const algorithms = config.algorithms.filter((alg) => !isHmac(alg));
    if (config.public_key_file !== undefined) {
      const keys = await publicKeys(config.public_key_file, algorithms);
      return new JwtVerifier(
        // The allow-list is checked before the key is looked up, so the header's alg is one
        // of the imported ones.
        (header) => Promise.resolve(keys.get(header.alg as JwtAlgorithm)!),
        [...keys.keys()],
        config,
      );
    }
    if (config.jwks_file !== undefined) {
      return new JwtVerifier(await keySet(config.jwks_file), algorithms, config);
    }
    throw new TokenKeyError(
      "auth.jwt",
      "no key: set one of hmac_secret_env, public_key_file or jwks_file",
    );
  }

  /** Verifies `token`; see {@linkcode TokenVerifier.verify}. */
  async verify(token: string): Promise<VerifiedToken> {
    let payload;
    try {
      payload = typeof this.#key === "function"
        ? (await jwtVerify(token, this.#key, this.#options)).payload
        : (await jwtVerify(token, this.#key, this.#options)).payload;
    } catch (error) {
      throw rejection(error);
    }
    const { sub, exp } = payload;
    if (typeof sub !== "string" || sub.length === 0 || sub.length > MAX_USER_ID_LENGTH) {
      throw new TokenRejectedError(
        "bad_subject",
        `The sub claim must be a string of 1 to ${MAX_USER_ID_LENGTH} characters`,
      );
    }
    return { userId: sub, expiresAtSec: exp, claims: payload };
  }
}

function hmacSecret(variable: string, env: EnvLookup): Uint8Array {
  const field = "auth.jwt.hmac_secret_env";
  const value = env(variable);
  if (!value) throw new TokenKeyError(field, `environment variable ${variable} is unset or empty`);
  const secret = new TextEncoder().encode(value);
  if (secret.length < MIN_HMAC_SECRET_BYTES) {
    throw new TokenKeyError(
      field,
      `the secret in ${variable} is ${secret.length} bytes; HMAC tokens need at least ` +
        `${MIN_HMAC_SECRET_BYTES} (RFC 7518 section 3.2)`,
    );
  }
  return secret;
}

async function readKeyFile(field: string, file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (error) {
    throw new TokenKeyError(field, `cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Imports the PEM key once for every allowed algorithm it fits (RSA for RS and PS, ...). */
async function publicKeys(
  file: string,
  algorithms: JwtAlgorithm[],
): Promise<Map<JwtAlgorithm, CryptoKey>> {
  const field = "auth.jwt.public_key_file";
  const pem = await readKeyFile(field, file);
  if (!pem.includes("-----BEGIN PUBLIC KEY-----")) {
    throw new TokenKeyError(field, `${file} holds no PEM public key (BEGIN PUBLIC KEY)`);
  }
  const keys = new Map<JwtAlgorithm, CryptoKey>();
  for (const alg of algorithms) {
    try {
      keys.set(alg, await importSPKI(pem, alg));
    } catch {
      // This key type does not do this algorithm (an EC key and RS256, say).
    }
  }
  if (keys.size === 0) {
    throw new TokenKeyError(
      field,
      `the key in ${file} fits none of auth.jwt.algorithms (${algorithms.join(", ")})`,
    );
  }
  return keys;
}

async function keySet(file: string): Promise<(header: JWSHeaderParameters) => Promise<CryptoKey>> {
  const field = "auth.jwt.jwks_file";
  const text = await readKeyFile(field, file);
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(text);
  } catch (error) {
    throw new TokenKeyError(field, `${file} is not JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const keys = (jwks as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new TokenKeyError(field, `${file} must hold {"keys":[...]} with at least one key`);
  }
  try {
    return createLocalJWKSet(jwks);
  } catch (error) {
    throw new TokenKeyError(field, `${file} is not a usable key set: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Maps jose's errors to the fault the log names. */
function rejection(error: unknown): TokenRejectedError {
  const message = error instanceof Error ? error.message : String(error);
  const fault = (() => {
    if (error instanceof errors.JWTExpired) return "expired";
    if (error instanceof errors.JWTClaimValidationFailed) {
      switch (error.claim) {
        case "nbf":
          return "not_yet_valid";
        case "iss":
          return "wrong_issuer";
        case "aud":
          return "wrong_audience";
        case "sub":
          return "bad_subject";
        default:
          return "bad_claims";
      }
    }
    if (error instanceof errors.JOSEAlgNotAllowed) return "algorithm_not_allowed";
    if (error instanceof errors.JWSSignatureVerificationFailed) return "bad_signature";
    if (error instanceof errors.JWKSNoMatchingKey) return "unknown_key";
    if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
      return "malformed";
    }
    return "unverifiable";
  })();
  return new TokenRejectedError(fault, message, { cause: error });
}
