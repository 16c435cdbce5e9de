/**
 * Tokens for the benchmark's `auth.mode: "jwt"` gateways: one HMAC secret per benchmark process
 * and a file of HS256 tokens, one a line, each with its own subject, that bench/driver.mjs sends
 * in order (`DRIVER_TOKENS`). Minted once (about 3 s for 19,000) and reused by every run.
 *
 * @module
 */
import { SignJWT } from "jose";

/** The environment variable the gateway reads the secret from (`auth.jwt.hmac_secret_env`). */
export const BENCH_SECRET_ENV = "BENCH_JWT_SECRET";

/** The secret, random per benchmark process (at least 32 bytes, as the gateway requires). */
export const BENCH_SECRET = Array.from(
  crypto.getRandomValues(new Uint8Array(32)),
  (b) => b.toString(16).padStart(2, "0"),
).join("");

/** Tokens minted: enough for the largest figure (19,000 idle sessions) and a margin. */
export const BENCH_TOKEN_COUNT = 20_000;

let minted: Promise<string> | undefined;

/** The path of the token file, minted on first use. */
export function benchTokenFile(): Promise<string> {
  minted ??= (async () => {
    const key = new TextEncoder().encode(BENCH_SECRET);
    const run = crypto.randomUUID().slice(0, 8);
    const tokens = [];
    for (let n = 0; n < BENCH_TOKEN_COUNT; n++) {
      tokens.push(
        await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(`bench-${run}-${n}`)
          .setIssuedAt().setExpirationTime("24h").sign(key),
      );
    }
    const path = await Deno.makeTempFile({ prefix: "bench_tokens_", suffix: ".txt" });
    await Deno.writeTextFile(path, tokens.join("\n") + "\n");
    return path;
  })();
  return minted;
}

/** Removes the token file, if one was minted. */
export async function removeBenchTokenFile(): Promise<void> {
  if (minted === undefined) return;
  const path = await minted;
  minted = undefined;
  await Deno.remove(path).catch(() => {});
}
