/**
 * Picks the {@linkcode Connector} for a transport.
 *
 * @module
 */
import type { ClientTransport, Connector } from "./_client_connection.ts";
import { connectQuicClient } from "./_client_connection_quic.ts";
import { connectWs } from "./_client_connection_ws.ts";

/** The connector of every transport the tools speak. */
export const CONNECTORS: Readonly<Record<ClientTransport, Connector>> = {
  ws: connectWs,
  quic: connectQuicClient,
};
