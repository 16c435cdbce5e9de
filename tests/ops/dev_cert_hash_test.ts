/**
 * `/dev-cert-hash` on the metrics listener: the development leaf's hash, which a browser page
 * needs for WebTransport's `serverCertificateHashes`, served only while QUIC runs on development
 * certificates; under `--workers`, by the supervisor for worker 0.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/config.ts";
import { Logger } from "../../src/core/logger.ts";
import { WorkerSupervisor } from "../../src/cluster/worker_supervisor.ts";
import { createDevTls } from "../../src/transport/tls_certs.ts";
import { startTestGateway, within } from "../_helpers.ts";
import { quicTestConfig } from "../_quic_harness.ts";

/** The base64 SHA-256 of the first certificate in `dir/leaf.pem`. */
async function leafHash(dir: string): Promise<string> {
  const pem = await Deno.readTextFile(`${dir}/leaf.pem`);
  const leaf = new x509.X509Certificate(
    pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0],
  );
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", leaf.rawData));
  return btoa(String.fromCharCode(...digest));
}

async function devCertHash(metricsPort: number): Promise<Response> {
  return await fetch(`http://127.0.0.1:${metricsPort}/dev-cert-hash`, {
    headers: { origin: "http://page.example" },
  });
}

Deno.test("/dev-cert-hash serves the development leaf's hash to pages of any origin", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using gateway = startTestGateway({
      quic: { enabled: true, host: "127.0.0.1", port: 0, dev_ca_dir: dir },
    });
    await gateway.ready;
    const response = await devCertHash(gateway.metricsAddr!.port);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("access-control-allow-origin"), "*");
    assert.deepEqual(await response.json(), { algorithm: "sha-256", value: await leafHash(dir) });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("/dev-cert-hash is 404 with the operator's certificate and without QUIC", async () => {
  for (const quic of [quicTestConfig("native"), { enabled: false }]) {
    await using gateway = startTestGateway({ quic });
    await gateway.ready;
    const response = await devCertHash(gateway.metricsAddr!.port);
    await response.body?.cancel();
    assert.equal(response.status, 404, JSON.stringify(quic));
  }
});

Deno.test("--workers: the supervisor serves worker 0's /dev-cert-hash", async () => {
  const dir = await Deno.makeTempDir();
  const input = {
    websocket: { host: "127.0.0.1", port: 0 },
    metrics: { host: "127.0.0.1", port: 0 },
    quic: { enabled: true, host: "127.0.0.1", port: 0, dev_ca_dir: dir },
    log: { level: "error" },
  };
  const path = `${dir}/config.json`;
  await Deno.writeTextFile(path, JSON.stringify(input));
  // Workers may write only to .dev-certs: made here, the CA and leaf are reused by worker 0,
  // which signs for its quic.host and host name.
  await createDevTls(dir, ["127.0.0.1", Deno.hostname()]);
  const supervisor = new WorkerSupervisor({
    count: 1,
    config: parseConfig(input),
    args: ["--config", path],
    logger: new Logger("error"),
  });
  try {
    await within(supervisor.start(), 20_000, "the worker to start");
    const response = await devCertHash(supervisor.metricsAddr!.port);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("access-control-allow-origin"), "*");
    assert.deepEqual(await response.json(), { algorithm: "sha-256", value: await leafHash(dir) });
  } finally {
    await supervisor.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
