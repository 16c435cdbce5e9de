import { denoRunArgs } from "../../src/config/deno_run.ts";
import assert from "node:assert/strict";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createDevTls, loadTlsFiles, TlsCertError } from "../../src/transport/tls_certs.ts";

const DAY_MS = 86_400_000;

Deno.test("createDevTls writes a CA and a leaf once and reuses both", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await createDevTls(`${dir}/certs`);
    assert.ok(first.caCreated);
    assert.ok(first.leafCreated);
    assert.equal(await Deno.readTextFile(first.caFile), first.caPem);
    assert.equal(await Deno.readTextFile(`${dir}/certs/leaf.pem`), first.certPem);
    assert.equal((await Deno.stat(`${dir}/certs/ca-key.pem`)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/certs/leaf-key.pem`)).mode! & 0o777, 0o600);
    assert.match(first.caFingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const second = await createDevTls(`${dir}/certs`);
    assert.equal(second.caCreated, false);
    assert.equal(second.leafCreated, false);
    assert.equal(second.caFingerprint, first.caFingerprint);
    assert.equal(second.fingerprint, first.fingerprint);
    assert.equal(second.certificateHash, first.certificateHash);
    assert.equal(second.keyPem, first.keyPem);
    await Deno.writeTextFile(`${dir}/cert.pem`, second.certPem);
    await Deno.writeTextFile(`${dir}/key.pem`, second.keyPem);
    const loaded = await loadTlsFiles(`${dir}/cert.pem`, `${dir}/key.pem`);
    assert.equal(loaded.fingerprint, second.fingerprint);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function certificates(pem: string): x509.X509Certificate[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!
    .map((block) => new x509.X509Certificate(block));
}

Deno.test("the development leaf is what browsers trust by hash: P-256, at most 14 days", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tls = await createDevTls(`${dir}/certs`);
    const [leaf, ca] = certificates(tls.certPem);
    const algorithm = leaf.publicKey.algorithm as EcKeyAlgorithm;
    assert.deepEqual([algorithm.name, algorithm.namedCurve], ["ECDSA", "P-256"]);
    const lifetime = leaf.notAfter.getTime() - leaf.notBefore.getTime();
    assert.ok(lifetime <= 14 * DAY_MS, `valid for ${lifetime / DAY_MS} days`);
    assert.ok(leaf.notBefore.getTime() <= Date.now());
    assert.ok(await leaf.verify({ publicKey: ca.publicKey, signatureOnly: true }));
    // The hash browsers get is the SHA-256 of the leaf's DER, as WebTransport defines it.
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", leaf.rawData));
    assert.equal(tls.certificateHash, btoa(String.fromCharCode(...digest)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createDevTls renews the leaf close to expiry, for new hosts and after a new CA", async () => {
  const dir = await Deno.makeTempDir();
  const certs = `${dir}/certs`;
  try {
    const first = await createDevTls(certs);
    // A leaf from a start eight days ago: five days left, under the six the renewal wants.
    const caKey = await crypto.subtle.importKey(
      "pkcs8",
      x509.PemConverter.decodeFirst(await Deno.readTextFile(`${certs}/ca-key.pem`)),
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["sign"],
    );
    const [oldLeaf, ca] = certificates(first.certPem);
    const keys = await crypto.subtle.generateKey(
      { name: "ECDSA", namedCurve: "P-256" },
      true,
      ["sign", "verify"],
    );
    const aged = await x509.X509CertificateGenerator.create({
      serialNumber: "01",
      subject: "CN=localhost",
      issuer: ca.subject,
      notBefore: new Date(Date.now() - 8 * DAY_MS),
      notAfter: new Date(Date.now() + 5 * DAY_MS),
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      publicKey: keys.publicKey,
      signingKey: caKey,
      extensions: [oldLeaf.getExtension(x509.SubjectAlternativeNameExtension)!],
    });
    await Deno.writeTextFile(`${certs}/leaf.pem`, aged.toString("pem") + "\n" + first.caPem);
    await Deno.writeTextFile(
      `${certs}/leaf-key.pem`,
      x509.PemConverter.encode(
        await crypto.subtle.exportKey("pkcs8", keys.privateKey),
        "PRIVATE KEY",
      ),
    );
    const renewed = await createDevTls(certs);
    assert.ok(renewed.leafCreated, "a leaf with five days left is renewed");
    assert.notEqual(renewed.fingerprint, first.fingerprint);
    assert.equal(renewed.caFingerprint, first.caFingerprint);

    const withHost = await createDevTls(certs, ["game.example"]);
    assert.ok(withHost.leafCreated, "a leaf without a requested host is renewed");
    assert.equal((await createDevTls(certs, ["game.example"])).leafCreated, false);

    await Deno.remove(`${certs}/ca.pem`);
    const newCa = await createDevTls(certs, ["game.example"]);
    assert.ok(newCa.caCreated && newCa.leafCreated, "a new CA signs a new leaf");
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
