/**
 * Cluster figures (issue 5): fan-out deliveries per second to a 1,000-member group on one node
 * and across two nodes, and request round trips per second through a service in-process and
 * over NATS. Every figure uses the bundled `chat` service and real processes on loopback.
 */
import { startGateway, startNats, startService } from "./_processes.ts";
import { closeClients, openClients, request, requestLoop } from "./_players.ts";

const BENCH_SERVICE = new URL("./bench_service.ts", import.meta.url).pathname;

/** Occurrences of `needle` in `text` (envelopes of one kind in a possibly batched frame). */
function countOf(text: string, needle: string): number {
  let count = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) count++;
  return count;
}

/** Waits until no message has arrived for `quietMs` (setup traffic has settled). */
async function settle(lastMessageAt: () => number, quietMs = 300, maxMs = 30_000) {
  const deadline = performance.now() + maxMs;
  while (performance.now() - lastMessageAt() < quietMs && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Joins `members` receivers spread over `ports` to one room, then has one publisher on the
 * first port say as fast as 4 in-flight requests allow for `ms`; returns deliveries/s counted
 * at the receivers, from the first say to the last delivery.
 */
async function fanout(
  ports: number[],
  members: number,
  ms: number,
): Promise<number> {
  const perNode = Math.ceil(members / ports.length);
  const receivers = (await Promise.all(
    ports.map((port) => openClients(port, perNode)),
  )).flat().slice(0, members);
  const [publisher] = await openClients(ports[0], 1);
  let lastMessageAt = performance.now();
  let delivered = 0;
  try {
    await Promise.all(
      receivers.map((socket) => request(socket, 1, "chat.join", { room: "bench" })),
    );
    await request(publisher, 1, "chat.join", { room: "bench" });
    for (const socket of receivers) {
      socket.onmessage = (event) => {
        lastMessageAt = performance.now();
        delivered += countOf(event.data as string, '"chat.message"');
      };
    }
    await settle(() => lastMessageAt); // presence pushes from the joins
    delivered = 0;
    const started = performance.now();
    const end = started + ms;
    let sent = 0;
    let id = 1;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (performance.now() < end) {
        await request(publisher, ++id, "chat.say", { text: "x".repeat(32) }).catch(() => {});
        sent++;
      }
    }));
    const expected = sent * receivers.length;
    const deadline = performance.now() + 10_000;
    while (delivered < expected && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return delivered / ((lastMessageAt - started) / 1000);
  } finally {
    await closeClients([...receivers, publisher]);
  }
}

/**
 * Rate limits off: one client here sends far more than a player (a request loop reaches
 * thousands a second, the fan-out publisher near the default 200/s), and these figures measure
 * routing and fan-out, not the limiter (the feature-cost rows of bench/compare.ts do).
 */
const NO_RATE_LIMITS = { limits: { messages_per_sec: 0 } };

/** One figure: a name, a unit and a function that measures it once. */
export interface Figure {
  /** Short id, used in the JSON. */
  id: string;
  /** What it measures, for the table. */
  title: string;
  /** Unit of the value. */
  unit: string;
  /** Measures once. */
  run(): Promise<number>;
}

/** The cluster figures, each setting up and tearing down its own processes. */
export function clusterFigures(options: { members: number; ms: number; clients: number }) {
  const { members, ms, clients } = options;
  return [
    {
      id: "fanout_one_node",
      title: `Fan-out to a ${members}-member group, one node`,
      unit: "deliveries/s",
      async run() {
        await using gateway = await startGateway(NO_RATE_LIMITS);
        return await fanout([Number(gateway.info.port)], members, ms);
      },
    },
    {
      id: "fanout_two_nodes",
      title: `Fan-out to a ${members}-member group, two nodes over NATS`,
      unit: "deliveries/s",
      async run() {
        await using nats = await startNats();
        const cluster = { ...NO_RATE_LIMITS, cluster: { nats: { servers: [nats.info.url] } } };
        await using a = await startGateway(cluster);
        await using b = await startGateway(cluster);
        return await fanout([Number(a.info.port), Number(b.info.port)], members, ms);
      },
    },
    {
      id: "requests_in_process",
      title: `Request round trips through a service, in-process (${clients} clients)`,
      unit: "requests/s",
      async run() {
        await using gateway = await startGateway(NO_RATE_LIMITS);
        const sockets = await openClients(Number(gateway.info.port), clients);
        try {
          return await requestLoop(sockets, "chat.leave", ms);
        } finally {
          await closeClients(sockets);
        }
      },
    },
    {
      id: "requests_over_nats",
      title: `Request round trips through a service process over NATS (${clients} clients)`,
      unit: "requests/s",
      async run() {
        await using nats = await startNats();
        await using _service = await startService(BENCH_SERVICE, nats.info.url);
        await using gateway = await startGateway({
          ...NO_RATE_LIMITS,
          routing: { embedded_services: false },
          cluster: { nats: { servers: [nats.info.url] } },
        });
        const sockets = await openClients(Number(gateway.info.port), clients);
        try {
          return await requestLoop(sockets, "chat.leave", ms);
        } finally {
          await closeClients(sockets);
        }
      },
    },
  ] satisfies Figure[];
}
