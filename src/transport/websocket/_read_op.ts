/**
 * A leaner read for TCP connections than `Deno.Conn.read`, when this Deno allows it.
 *
 * `Deno.Conn.read` wraps the runtime's read op in an async function that adds each pending
 * read's promise to a per-connection `Set` and deletes it after. Under load the churn of
 * those sets' tables ends up in V8's old space: with 1,000 sessions at 20,000 msgs/s the live
 * heap after each scavenge grew from 8.5 to 17 MB every few seconds and needed a mark-compact,
 * where calling the op directly kept it flat at 8.5 MB, as bare `Deno.upgradeWebSocket` does
 * (Deno 2.9.6). So the engine calls the op directly when Deno exposes it (its internal `core`
 * and the connection's internal resource id, both of which Node compatibility relies on), and
 * falls back to `conn.read` when a Deno release hides either: same behaviour, more GC.
 *
 * @module
 */

interface Core {
  read(rid: number, buffer: Uint8Array): Promise<number>;
}

const internal = (Deno as unknown as Record<symbol, { core?: Core } | undefined>)[
  (Deno as unknown as { internal: symbol }).internal
];
const core: Core | undefined = typeof internal?.core?.read === "function"
  ? internal.core
  : undefined;
let ridSymbol: symbol | undefined;

/**
 * The runtime resource id of `conn` for {@linkcode readOp}, or -1 when this Deno does not
 * expose what the direct read needs (then use `conn.read`).
 */
export function resourceId(conn: Deno.TcpConn): number {
  if (core === undefined) return -1;
  ridSymbol ??= Object.getOwnPropertySymbols(conn)
    .find((symbol) => symbol.description === "Deno.internal.rid");
  if (ridSymbol === undefined) return -1;
  const rid = (conn as unknown as Record<symbol, unknown>)[ridSymbol];
  return typeof rid === "number" ? rid : -1;
}

/**
 * Reads into `buffer` (never empty) from resource `rid`; resolves with the bytes read, 0 at
 * the end of the stream. Only for a `rid` from {@linkcode resourceId} that is not -1.
 */
export function readOp(rid: number, buffer: Uint8Array): Promise<number> {
  return core!.read(rid, buffer);
}
