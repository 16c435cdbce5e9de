/**
 * A WebTransport session request (the extended CONNECT of RFC 9220), as the server sees it
 * before it answers: what the listener decides on.
 *
 * @module
 */
import type { FieldLine } from "./qpack.ts";

/** A WebTransport session request, before it is answered. */
export interface WebTransportRequest {
  /** `https://` + `:authority` + `:path`, the URL the client opened. */
  readonly url: URL;
  /** The `origin` field, which browsers always send; undefined without one. */
  readonly origin: string | undefined;
  /** Every field line of the request, in order. */
  readonly fields: readonly FieldLine[];
}
