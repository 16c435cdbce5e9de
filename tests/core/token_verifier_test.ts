import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/config.ts";
import { TokenKeyError, TokenRejectedError } from "../../src/core/token_verifier.ts";
import { type JwtConfig, JwtVerifier } from "../../src/core/token_verifier_jwt.ts";
import {
  hmacAuth,
  hmacToken,
  keyFiles,
  signedToken,
  TEST_SECRET_ENV,
  unsecuredToken,
} from "../_tokens.ts";

function jwtConfig(jwt: Record<string, unknown>, auth: Record<string, unknown> = {}): JwtConfig {
  return parseConfig({ auth: { mode: "jwt", ...auth, jwt: { leeway_sec: 0, ...jwt } } }).auth.jwt;
}

async function fault(verifier: JwtVerifier, token: string): Promise<string> {
  const error = await verifier.verify(token).then(
    () => assert.fail("the token was accepted"),
    (error) => error,
  );
  assert.ok(error instanceof TokenRejectedError, String(error));
  return error.fault;
}

Deno.test("JwtVerifier accepts an HMAC token and returns its sub, exp and claims", async () => {
  const verifier = await JwtVerifier.load(parseConfig({ auth: hmacAuth() }).auth.jwt);
  const token = await hmacToken({ sub: "ann", expSec: 60, claims: { role: "mage" } });
  const verified = await verifier.verify(token);
  assert.equal(verified.userId, "ann");
  assert.equal(verified.claims.role, "mage");
  assert.ok(Math.abs(verified.expiresAtSec! - (Date.now() / 1000 + 60)) < 5);
});

Deno.test("JwtVerifier refuses every bad HMAC token and says why", async () => {
  const verifier = await JwtVerifier.load(
    jwtConfig({ hmac_secret_env: TEST_SECRET_ENV, issuer: "login", audience: "game" }),
  );
  const good = { iss: "login", aud: "game" };
  assert.equal((await verifier.verify(await hmacToken(good))).userId, "ann");
  const other = new TextEncoder().encode("another-secret-of-at-least-32-bytes!!");
  const cases: Array<[string, Promise<string> | string]> = [
    ["bad_signature", hmacToken(good, other)],
    ["expired", hmacToken({ ...good, expSec: -10 })],
    ["not_yet_valid", hmacToken({ ...good, nbfSec: 60 })],
    ["wrong_issuer", hmacToken({ ...good, iss: "elsewhere" })],
    ["wrong_audience", hmacToken({ ...good, aud: "other-game" })],
    ["algorithm_not_allowed", hmacToken({ ...good, alg: "HS512" })],
    ["algorithm_not_allowed", unsecuredToken()],
    ["bad_subject", hmacToken({ ...good, sub: undefined })],
    ["bad_subject", hmacToken({ ...good, sub: "x".repeat(257) })],
    ["malformed", "not-a-token"],
    ["malformed", "a.b.c"],
    ["malformed", (await hmacToken(good)).slice(0, -1) + "."],
  ];
  for (const [expected, token] of cases) {
    assert.equal(await fault(verifier, await token), expected, `case ${expected}`);
  }
});

Deno.test("JwtVerifier verifies RS256, ES256 and EdDSA tokens with PEM and JWKS keys", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
      const keys = await keyFiles(alg, dir);
      const token = await signedToken(keys.privateKey, { alg, kid: "k1" });
      const pem = await JwtVerifier.load(jwtConfig({ public_key_file: keys.pemFile }));
      assert.equal((await pem.verify(token)).userId, "ann", `${alg} with PEM`);
      const jwks = await JwtVerifier.load(jwtConfig({ jwks_file: keys.jwksFile }));
      assert.equal((await jwks.verify(token)).userId, "ann", `${alg} with JWKS`);
      const unknownKid = await signedToken(keys.privateKey, { alg, kid: "other" });
      assert.equal(await fault(jwks, unknownKid), "unknown_key", `${alg} unknown kid`);
      // Algorithm confusion: the public key's PEM text used as an HMAC secret.
      const pemText = new TextEncoder().encode(await Deno.readTextFile(keys.pemFile));
      const confused = await hmacToken({}, pemText);
      assert.equal(await fault(pem, confused), "algorithm_not_allowed", `${alg} as HS256`);
      assert.equal(await fault(pem, unsecuredToken()), "algorithm_not_allowed");
    }
    // An EC key only verifies the EC algorithm of the allow-list.
    const ec = await keyFiles("ES256", dir);
    const rsa = await keyFiles("RS256", dir);
    const rsToken = await signedToken(rsa.privateKey, { alg: "RS256" });
    const ecOnly = await JwtVerifier.load(jwtConfig({ public_key_file: ec.pemFile }));
    assert.equal(await fault(ecOnly, rsToken), "algorithm_not_allowed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("JwtVerifier.load names the field of a missing or unusable key", async () => {
  const dir = await Deno.makeTempDir();
  const loadError = async (jwt: Record<string, unknown>, env: Record<string, string> = {}) => {
    const error = await JwtVerifier.load(jwtConfig(jwt), (name) => env[name]).then(
      () => assert.fail("the key loaded"),
      (error) => error,
    );
    assert.ok(error instanceof TokenKeyError, String(error));
    return error.message;
  };
  try {
    assert.match(
      await loadError({ hmac_secret_env: "NO_SUCH_SECRET" }),
      /^auth\.jwt\.hmac_secret_env: environment variable NO_SUCH_SECRET is unset or empty$/,
    );
    assert.match(
      await loadError({ hmac_secret_env: "S" }, { S: "short" }),
      /^auth\.jwt\.hmac_secret_env: the secret in S is 5 bytes; HMAC tokens need at least 32/,
    );
    assert.match(
      await loadError({ public_key_file: `${dir}/missing.pem` }),
      /^auth\.jwt\.public_key_file: cannot read .*missing\.pem/,
    );
    await Deno.writeTextFile(`${dir}/garbage.pem`, "hello");
    assert.match(
      await loadError({ public_key_file: `${dir}/garbage.pem` }),
      /^auth\.jwt\.public_key_file: .*holds no PEM public key/,
    );
    const ec = await keyFiles("ES256", dir);
    assert.match(
      await loadError({ public_key_file: ec.pemFile, algorithms: ["RS256"] }),
      /^auth\.jwt\.public_key_file: the key in .* fits none of auth\.jwt\.algorithms \(RS256\)/,
    );
    await Deno.writeTextFile(`${dir}/bad.json`, "{");
    assert.match(
      await loadError({ jwks_file: `${dir}/bad.json` }),
      /^auth\.jwt\.jwks_file: .*JSON/,
    );
    await Deno.writeTextFile(`${dir}/empty.json`, '{"keys":[]}');
    assert.match(
      await loadError({ jwks_file: `${dir}/empty.json` }),
      /^auth\.jwt\.jwks_file: .*at least one key/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the auth config refuses jwt without a key, with two keys, or with unusable algorithms", () => {
  const problem = (auth: Record<string, unknown>) => {
    try {
      parseConfig({ auth });
    } catch (error) {
      return (error as Error).message;
    }
    assert.fail("the config was accepted");
  };
  assert.match(problem({ mode: "jwt" }), /auth\.jwt\.hmac_secret_env: mode jwt needs a key/);
  assert.match(
    problem({ mode: "jwt", jwt: { hmac_secret_env: "S", jwks_file: "k.json" } }),
    /auth\.jwt\.jwks_file: set only one key source; hmac_secret_env is set too/,
  );
  assert.match(
    problem({ mode: "jwt", jwt: { hmac_secret_env: "S", algorithms: ["RS256"] } }),
    /auth\.jwt\.algorithms: lists no HS\* algorithm/,
  );
  assert.match(
    problem({ mode: "jwt", jwt: { public_key_file: "k.pem", algorithms: ["HS256"] } }),
    /auth\.jwt\.algorithms: lists only HS\* algorithms/,
  );
  assert.match(problem({ mode: "jwt", jwt: { algorithms: ["none"] } }), /auth\.jwt\.algorithms/);
  assert.match(
    problem({ mode: "jwt", jwt: { hmac_secret_env: "GATEWAY_SECRET" } }),
    /auth\.jwt\.hmac_secret_env: must be an environment variable name not starting with GATEWAY_/,
  );
  assert.equal(parseConfig({}).auth.mode, "none");
});
