/**
 * Builds the browser bundle from the current source and serves it to the browser tests from a
 * real http origin: `/` is a page that imports `/client.js` (the bundle) and exposes it as
 * `globalThis.sdk`, with a bounded wait `globalThis.until(check, ms, what)` and
 * `globalThis.devCertHashes(metricsUrl)` (WebTransport's `serverCertificateHashes` for a
 * gateway on development certificates), then sets `globalThis.sdkReady`.
 */

const ROOT = new URL("../../", import.meta.url);
const BUNDLE = new URL("dist/client.js", ROOT);

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>gateway client test</title>
<link rel="icon" href="data:,">
<script type="module">
  import * as sdk from "/client.js";
  globalThis.sdk = sdk;
  // Resolves once check() is true; fails after ms with what it was waiting for.
  globalThis.until = (check, ms, what) => new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const poll = () => {
      if (check()) resolve(true);
      else if (Date.now() > deadline) reject(new Error("Timed out after " + ms + " ms waiting for " + what));
      else setTimeout(poll, 20);
    };
    poll();
  });
  // WebTransport's serverCertificateHashes for the gateway's development certificate, read
  // from /dev-cert-hash on its metrics listener (metricsUrl: "http://host:port").
  globalThis.devCertHashes = async (metricsUrl) => {
    const { algorithm, value } = await (await fetch(metricsUrl + "/dev-cert-hash")).json();
    return [{ algorithm, value: Uint8Array.from(atob(value), (c) => c.charCodeAt(0)) }];
  };
  globalThis.sdkReady = true;
</script>
`;

/** Runs `deno task build-client` and returns the bundle's text. */
export async function buildClientBundle(): Promise<string> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "build-client"],
    cwd: ROOT.pathname,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`deno task build-client failed: ${new TextDecoder().decode(stderr)}`);
  }
  return await Deno.readTextFile(BUNDLE);
}

/** Serves the test page and `bundle` on 127.0.0.1, port 0. Shut it down in `finally`. */
export function servePage(bundle: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/") {
      return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (pathname === "/client.js") {
      return new Response(bundle, { headers: { "content-type": "text/javascript" } });
    }
    return new Response("Not Found", { status: 404 });
  });
}
