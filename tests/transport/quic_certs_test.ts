import { denoRunArgs } from "../../src/config/deno_run.ts";
import assert from "node:assert/strict";
import { createDevTls, loadTlsFiles, TlsCertError } from "../../src/transport/tls_certs.ts";

Deno.test("createDevTls writes a CA once, reuses it and signs a fresh leaf each start", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await createDevTls(`${dir}/certs`);
    assert.ok(first.caCreated);
    assert.equal(await Deno.readTextFile(first.caFile), first.caPem);
    assert.equal((await Deno.stat(`${dir}/certs/ca-key.pem`)).mode! & 0o777, 0o600);
    assert.match(first.caFingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const second = await createDevTls(`${dir}/certs`);
    assert.equal(second.caCreated, false);
    assert.equal(second.caFingerprint, first.caFingerprint);
    assert.notEqual(second.fingerprint, first.fingerprint);
    await Deno.writeTextFile(`${dir}/cert.pem`, second.certPem);
    await Deno.writeTextFile(`${dir}/key.pem`, second.keyPem);
    const loaded = await loadTlsFiles(`${dir}/cert.pem`, `${dir}/key.pem`);
    assert.equal(loaded.fingerprint, second.fingerprint);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadTlsFiles rejects missing, malformed and mismatched files naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = await createDevTls(`${dir}/a`);
    const b = await createDevTls(`${dir}/b`);
    await Deno.writeTextFile(`${dir}/cert.pem`, a.certPem);
    await Deno.writeTextFile(`${dir}/key.pem`, a.keyPem);
    await Deno.writeTextFile(`${dir}/other-key.pem`, b.keyPem);
    await Deno.writeTextFile(`${dir}/junk.pem`, "not a certificate");
    await Deno.writeTextFile(
      `${dir}/bad.pem`,
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    const cases: Array<[string, string, string, RegExp]> = [
      [`${dir}/missing.pem`, `${dir}/key.pem`, `${dir}/missing.pem`, /cannot read/],
      [`${dir}/junk.pem`, `${dir}/key.pem`, `${dir}/junk.pem`, /no PEM CERTIFICATE/],
      [`${dir}/bad.pem`, `${dir}/key.pem`, `${dir}/bad.pem`, /does not parse/],
      [`${dir}/cert.pem`, `${dir}/junk.pem`, `${dir}/junk.pem`, /no PEM PRIVATE KEY/],
      [`${dir}/cert.pem`, `${dir}/other-key.pem`, `${dir}/other-key.pem`, /does not belong/],
    ];
    for (const [cert, key, file, message] of cases) {
      const error = await loadTlsFiles(cert, key).then(() => undefined, (e) => e);
      assert.ok(error instanceof TlsCertError, `${cert} + ${key}: ${error}`);
      assert.equal(error.file, file);
      assert.match(error.message, message);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the gateway exits 2 naming the file when the QUIC certificate is unusable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/junk.pem`, "junk");
    await Deno.writeTextFile(
      `${dir}/gateway.json`,
      JSON.stringify({
        websocket: { enabled: false },
        metrics: { enabled: false },
        quic: {
          enabled: true,
          host: "127.0.0.1",
          port: 0,
          cert_file: `${dir}/junk.pem`,
          key_file: `${dir}/junk.pem`,
        },
      }),
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        ...denoRunArgs("gateway"),
        new URL("../../main.ts", import.meta.url).pathname,
        "--config",
        `${dir}/gateway.json`,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(20_000),
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, stderr);
    assert.match(stderr, new RegExp(`Invalid TLS file ${dir}/junk.pem`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
