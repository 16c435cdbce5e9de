/**
 * Registers an accepted QUIC connection (or WebTransport session) as a gateway session: feeds
 * the message stream through the frame decoder and datagrams to the pipeline, and maps stream
 * faults to close codes.
 *
 * @module
 */
import {
  DisconnectClientAway,
  DisconnectClientClosed,
  DisconnectHandshakeTimeout,
  DisconnectMessageTooBig,
  DisconnectProtocolErrors,
  DisconnectTransportError,
} from "../core/disconnect.ts";
import type { Gateway } from "../core/gateway.ts";
import type { Session } from "../core/session.ts";
import type { QuicConnectionHandler, QuicEngineConnection } from "./quic_engine.ts";
import { FrameDecoder } from "./quic_framing.ts";
import { QuicTransport } from "./transport_quic.ts";

/** Options for {@linkcode attachQuicConnection}. */
export interface AttachQuicOptions {
  /** Where frames go. */
  gateway: Gateway;
  /** Largest message in bytes (`protocol.max_message_bytes`). */
  maxMessageBytes: number;
  /** See {@linkcode QuicTransportOptions.closeLingerMs}. */
  closeLingerMs: number;
  /** See {@linkcode QuicTransportOptions.kind}. */
  kind?: "quic" | "webtransport";
  /** Called once the connection has closed, after its session ended. */
  onConnectionClosed?: () => void;
  /**
   * Time for the client to send its first stream data or datagram, in ms; past it the session
   * is closed with 4007 (`limits.handshake_timeout_ms`). Absent: no limit.
   */
  streamTimeoutMs?: number;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Registers an accepted QUIC connection as a session and returns the handler the engine feeds.
 * Framing faults are answered with an error and a close (1009 for a frame over the maximum,
 * 1008 otherwise): a length-prefixed stream cannot be resynchronised after one.
 */
export function attachQuicConnection(
  connection: QuicEngineConnection,
  options: AttachQuicOptions,
): { session: Session; handler: QuicConnectionHandler } {
  const { gateway } = options;
  const transport = new QuicTransport(connection, options);
  const session = gateway.open(transport, connection.remoteAddr);
  let streamTimer = options.streamTimeoutMs === undefined ? undefined : setTimeout(() => {
    streamTimer = undefined;
    if (gateway.sessions.get(session.id) === session) {
      gateway.close(session, DisconnectHandshakeTimeout);
    }
  }, options.streamTimeoutMs);
  const spoke = () => {
    if (streamTimer === undefined) return;
    clearTimeout(streamTimer);
    streamTimer = undefined;
  };
  const deliver = (payload: Uint8Array, datagram: boolean) => {
    let text: string;
    try {
      text = decoder.decode(payload);
    } catch {
      gateway.receiveBinary(session, payload.length);
      return;
    }
    if (datagram) gateway.receiveDatagram(session, text, payload.length);
    else gateway.receiveText(session, text, payload.length);
  };
  const frames = new FrameDecoder(options.maxMessageBytes, {
    onFrame: (payload) => deliver(payload, false),
    onFault: (fault, message) => {
      // A stream cut short because the session already ended is no client fault.
      if (gateway.sessions.get(session.id) !== session) return;
      gateway.receiveUnframed(
        session,
        message,
        fault === "frame_too_big" ? DisconnectMessageTooBig : DisconnectProtocolErrors,
      );
    },
  });
  const handler: QuicConnectionHandler = {
    onStreamData: (chunk) => {
      spoke();
      frames.push(chunk);
    },
    onStreamEnd: () => {
      frames.end();
      // Finishing the message stream is how a client says goodbye without a close code, unless
      // the gateway closed first: then the session is no longer carried by this connection
      // (detached for a resume, or ended) and the client only acknowledges the close.
      if (!frames.failed && session.transport === transport) {
        gateway.close(session, DisconnectClientClosed);
      }
    },
    onDatagram: (bytes) => {
      spoke();
      if (bytes.length > options.maxMessageBytes) {
        gateway.receiveUnframed(session, "Datagram too big", DisconnectMessageTooBig);
      } else deliver(bytes, true);
    },
    onClosed: (info) => {
      spoke();
      // 1000 is goodbye; another code from the client means it may come back; an idle timeout
      // or a reset is a drop.
      gateway.closed(
        session,
        !info.remote
          ? DisconnectTransportError
          : info.code === DisconnectClientClosed.code
          ? DisconnectClientClosed
          : DisconnectClientAway,
      );
      options.onConnectionClosed?.();
    },
  };
  return { session, handler };
}
