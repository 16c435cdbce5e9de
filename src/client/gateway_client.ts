/**
 * The gateway client: requests matched to responses by id, pushes by route, its own heartbeat,
 * reconnects by close code with backoff, and session resume with replay and de-duplication.
 * Web-standard APIs only, so it runs in browsers, Deno and Node 22+.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions } from "./backoff.ts";
import { ClientErrorCode, GatewayError } from "./client_error.ts";
import type { ClientEvents, ClosedEvent, PushHandler } from "./client_events.ts";
import type { ClientTransport, TransportClose, TransportKind } from "./client_transport.ts";
import { openWebSocket } from "./client_transport_websocket.ts";
import {
  type CertificateHash,
  openWebTransport,
  webTransportConstructor,
} from "./client_transport_webtransport.ts";
import { closeAction } from "./close_policy.ts";
import {
  type ConnectTarget,
  connectTargets,
  type GatewayUrl,
  type TransportChoice,
} from "./gateway_url.ts";
import { Heartbeat } from "./heartbeat.ts";

/** Options for the client's reconnects. */
export interface ReconnectOptions extends BackoffOptions {
  /** Attempts after one drop before the client gives up and closes. Default: unlimited. */
  maxAttempts?: number;
}

/** Options for {@linkcode GatewayClient.connect}. */
export interface GatewayClientOptions {
  /** A token (JWT) to authenticate with: sent as the first envelope, `auth`. */
  token?: string;
  /**
   * Fetches a fresh token: called when the gateway warns that the token expires
   * (`auth.expiring`), after a close with 4003 (token expired), for each new session after a
   * reconnect, and for the first one when `token` is not set.
   */
  getToken?: () => string | Promise<string>;
  /** Which transport to use. Default `auto`. */
  transport?: TransportChoice;
  /** WebTransport certificates trusted by hash (development certificates). */
  serverCertificateHashes?: CertificateHash[];
  /** Offer `mmo.batch.v1` on WebSocket so the gateway may send many envelopes per frame.
   * Default true. */
  batching?: boolean;
  /** How long a request waits for its answer, in ms, across reconnects. Default 10,000. */
  requestTimeoutMs?: number;
  /** How long opening one connection may take, in ms, and then each step of its handshake
   * (auth, resume). Default 10,000. */
  connectTimeoutMs?: number;
  /** How often the client checks for silence and pings, in ms. Default 20,000, a third of
   * the gateway's default 60 s heartbeat TTL. */
  heartbeatIntervalMs?: number;
  /** How long a ping may go unanswered before the connection counts as dead, in ms.
   * Default 10,000. */
  heartbeatTimeoutMs?: number;
  /** Reconnect after drops: true (default), false, or how. */
  reconnect?: boolean | ReconnectOptions;
  /** Resume the session after a reconnect where the gateway supports it. Default true. */
  resume?: boolean;
  /** Closes the client when aborted. */
  signal?: AbortSignal;
}

/** Options for one {@linkcode GatewayClient.request}. */
export interface RequestOptions {
  /** Overrides the client's `requestTimeoutMs`. */
  timeoutMs?: number;
}

/** Options for one {@linkcode GatewayClient.notify}. */
export interface NotifyOptions {
  /** Send as a datagram where the transport has them (WebTransport) and it fits: it may be
   * lost, duplicated or reordered. Falls back to the reliable stream. */
  unreliable?: boolean;
}

/** Where the client is in its life. */
export type ClientState = "connecting" | "open" | "reconnecting" | "closed";

/** How a connection's handshake went. */
type HandshakeOutcome = { resumed: false } | { resumed: true; replayed: number };

interface Pending {
  readonly id: number;
  readonly route: string | undefined;
  readonly text: string;
  resolve(data: unknown): void;
  reject(error: GatewayError): void;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The connection it was written to; undefined while queued. */
  transport: ClientTransport | undefined;
  /** Written to a connection that dropped: answered by the replay, or lost. */
  inDoubt: boolean;
  /** A handshake step (auth, hello, resume): bound to its connection, outside the seq order. */
  internal: boolean;
}

interface InboundEnvelope {
  type: string;
  id?: unknown;
  route?: unknown;
  data?: unknown;
  code?: unknown;
  message?: unknown;
  seq?: unknown;
}

const DEFAULTS = {
  transport: "auto" as TransportChoice,
  batching: true,
  requestTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  heartbeatIntervalMs: 20_000,
  heartbeatTimeoutMs: 10_000,
  resume: true,
};

/** Close code the client reports for a connection that could not be opened. */
const CLOSE_ABNORMAL = 1006;
/** The push that warns of a token's expiry. */
const AUTH_EXPIRING = "auth.expiring";
/** How long to wait for the gateway's close after it refused a handshake, in ms. */
const REFUSAL_CLOSE_WAIT_MS = 1_000;
/** Error codes with which a gateway refuses resume; any of them means "start afresh". */
const RESUME_REFUSED = new Set([
  "resume_failed",
  "unknown_type",
  "unauthenticated",
  "bad_envelope",
]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function reportError(error: unknown): void {
  const report = (globalThis as { reportError?: (error: unknown) => void }).reportError;
  if (report) report(error);
  else console.error(error);
}

/**
 * A connection to the gateway that survives drops. Create it with
 * {@linkcode GatewayClient.connect}; close it with {@linkcode GatewayClient.close}.
 *
 * @example
 * ```ts ignore
 * const client = await GatewayClient.connect("wss://game.example/ws", { token });
 * client.on("chat.message", (message) => console.log(message));
 * await client.request("chat.join", { room: "lobby", name: "ann" });
 * ```
 */
export class GatewayClient implements AsyncDisposable {
  /** Resolves once the client has stopped for good, with the close code. */
  readonly closed: Promise<ClosedEvent>;
  readonly #targets: ConnectTarget[];
  readonly #options: GatewayClientOptions;
  readonly #reconnect: ReconnectOptions | undefined;
  readonly #requestTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  /** Requests not yet written, in the order they were made. */
  readonly #outbox: Pending[] = [];
  readonly #pushHandlers = new Map<string, Set<PushHandler<never>>>();
  readonly #eventHandlers: { [K in keyof ClientEvents]: Set<ClientEvents[K]> } = {
    open: new Set(),
    reconnecting: new Set(),
    resumed: new Set(),
    closed: new Set(),
    error: new Set(),
  };
  /** Aborts connects and backoff waits when the client closes. */
  readonly #stop = new AbortController();
  #state: ClientState = "connecting";
  #transport: ClientTransport | undefined;
  /** A connection whose handshake is in progress. */
  #connecting: ClientTransport | undefined;
  #heartbeat: Heartbeat | undefined;
  #nextId = 1;
  #session: string | undefined;
  #user: string | undefined;
  #resumeToken: string | undefined;
  /** The highest `seq` seen in this session: anything at or below it is a duplicate. */
  #lastSeq = 0;
  /** Replayed messages still to come after a resume. */
  #replayRemaining: number | undefined;
  /** Cleared once a gateway answers `hello` with `unknown_type` (no resume there). */
  #helloSupported = true;
  /** The last close was 4003: the next handshake needs a fresh token. */
  #tokenExpired = false;
  #settleClosed!: (event: ClosedEvent) => void;

  private constructor(url: GatewayUrl, options: GatewayClientOptions) {
    this.#options = options;
    this.#targets = connectTargets(
      url,
      options.transport ?? DEFAULTS.transport,
      webTransportConstructor() !== undefined,
    );
    this.#reconnect = options.reconnect === false
      ? undefined
      : options.reconnect === true || options.reconnect === undefined
      ? {}
      : options.reconnect;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
    this.closed = new Promise((resolve) => this.#settleClosed = resolve);
  }

  /**
   * Connects, authenticates when a token is given, and resolves once the first session is
   * open.
   *
   * @throws {TypeError} when `url` or the transport choice cannot work (bad scheme, no URL
   * for the transport, no WebTransport in this runtime).
   * @throws {GatewayError} with code `connect_failed` when no connection could be opened,
   * the gateway's code (e.g. `unauthorized`) when it refused the handshake, or
   * `token_unavailable` when `getToken` failed.
   */
  static async connect(
    url: GatewayUrl,
    options: GatewayClientOptions = {},
  ): Promise<GatewayClient> {
    const client = new GatewayClient(url, options);
    await client.#start();
    return client;
  }

  /** Where the client is in its life. */
  get state(): ClientState {
    return this.#state;
  }

  /** Read through a getter so the type checker does not narrow it across awaits. */
  get #closed(): boolean {
    return this.#state === "closed";
  }

  /** The session id, when the gateway told it (with auth or resume on). */
  get session(): string | undefined {
    return this.#session;
  }

  /** The authenticated user, when a token was accepted. */
  get user(): string | undefined {
    return this.#user;
  }

  /** The transport of the current connection, if any. */
  get transport(): TransportKind | undefined {
    return this.#transport?.kind;
  }

  /**
   * Sends a request and resolves with the response's `data`. While the client is reconnecting
   * the request waits, and is sent once the session is back.
   *
   * @throws {GatewayError} with the gateway's error code (`unknown_route`, `timeout`, ...), or
   * `request_timeout`, `connection_lost` or `closed` (see docs/client.md for when).
   * @throws {TypeError} when `data` cannot be encoded as JSON.
   */
  request<T = unknown>(route: string, data?: unknown, options: RequestOptions = {}): Promise<T> {
    if (this.#state === "closed") {
      return Promise.reject(
        new GatewayError(
          ClientErrorCode.closed,
          `Cannot request "${route}": the client is closed`,
          {
            route,
          },
        ),
      );
    }
    const id = this.#nextId++;
    let envelope: string;
    try {
      envelope = JSON.stringify({ type: "request", id, route, data });
    } catch (error) {
      return Promise.reject(
        new TypeError(`Cannot request "${route}": data is not JSON-encodable`, { cause: error }),
      );
    }
    const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = {
        id,
        route,
        text: envelope,
        resolve: resolve as (data: unknown) => void,
        reject,
        timer: undefined,
        transport: undefined,
        inDoubt: false,
        internal: false,
      };
      this.#expireAfter(
        pending,
        timeoutMs,
        `Request "${route}" got no answer within ${timeoutMs} ms`,
      );
      this.#pending.set(id, pending);
      if (this.#state !== "open" || !this.#write(pending)) this.#outbox.push(pending);
    });
  }

  /**
   * Sends a notification (no answer). Returns false when the client is not connected right
   * now: the message is dropped, since a stale notification (a position, an input) is worse
   * than none. Use `request` for what must arrive.
   */
  notify(route: string, data?: unknown, options: NotifyOptions = {}): boolean {
    const transport = this.#transport;
    if (this.#state !== "open" || transport === undefined) return false;
    const envelope = JSON.stringify({ type: "notify", route, data });
    const sent = (options.unreliable === true && transport.sendDatagram(envelope)) ||
      transport.send(envelope);
    if (sent) this.#heartbeat?.sent();
    return sent;
  }

  /** Calls `handler` with the `data` of every push to `route`; returns the unsubscribe. */
  on<T = unknown>(route: string, handler: PushHandler<T>): () => void {
    let handlers = this.#pushHandlers.get(route);
    if (handlers === undefined) this.#pushHandlers.set(route, handlers = new Set());
    handlers.add(handler as PushHandler<never>);
    return () => {
      handlers.delete(handler as PushHandler<never>);
      if (handlers.size === 0 && this.#pushHandlers.get(route) === handlers) {
        this.#pushHandlers.delete(route);
      }
    };
  }

  /** Calls `handler` on a lifecycle event; returns the unsubscribe. */
  onEvent<K extends keyof ClientEvents>(name: K, handler: ClientEvents[K]): () => void {
    const handlers = this.#eventHandlers[name] as Set<ClientEvents[K]>;
    handlers.add(handler);
    return () => handlers.delete(handler);
  }

  /**
   * Closes the connection with `code` (default 1000), stops reconnecting and rejects every
   * request still waiting with `closed`. Resolves once the connection is released; safe twice.
   */
  async close(code = 1000, reason = ""): Promise<void> {
    if (this.#state !== "closed") {
      this.#stop.abort();
      const transports = [this.#transport, this.#connecting];
      this.#finish({ code, reason });
      await Promise.all(transports.map((transport) => transport?.close(code, reason)));
    }
    await this.closed;
  }

  /** Closes the client. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #start(): Promise<void> {
    const signal = this.#options.signal;
    if (signal?.aborted) {
      this.#finish({ code: 1000, reason: "aborted" });
      throw new GatewayError(ClientErrorCode.connectFailed, "Cannot connect: aborted");
    }
    const onAbort = () => void this.close(1000, "aborted");
    signal?.addEventListener("abort", onAbort, { once: true });
    void this.closed.then(() => signal?.removeEventListener("abort", onAbort));
    let transport: ClientTransport;
    try {
      transport = await this.#open();
    } catch (error) {
      const message = (error as Error).message;
      this.#finish({ code: CLOSE_ABNORMAL, reason: message });
      throw new GatewayError(ClientErrorCode.connectFailed, message, { cause: error });
    }
    try {
      const outcome = await this.#handshake(transport);
      this.#ready(transport, outcome);
    } catch (error) {
      this.#finish(await this.#release(transport, error));
      throw error;
    }
    void this.#supervise(transport);
  }

  /** Opens a connection to the first target that answers. */
  async #open(): Promise<ClientTransport> {
    const failures: string[] = [];
    for (const target of this.#targets) {
      const options = {
        timeoutMs: this.#connectTimeoutMs,
        signal: this.#stop.signal,
      };
      try {
        const transport = target.kind === "websocket"
          ? await openWebSocket(target.url, {
            ...options,
            batching: this.#options.batching ?? DEFAULTS.batching,
          })
          : await openWebTransport(target.url, {
            ...options,
            serverCertificateHashes: this.#options.serverCertificateHashes,
          });
        if (this.#closed) {
          // Opened just as the app closed the client, too late for the abort to stop it.
          await transport.close(1000, "");
          throw new Error("the client closed while connecting");
        }
        // Try what worked first next time, so a fallback is not paid on every reconnect.
        this.#targets.splice(this.#targets.indexOf(target), 1);
        this.#targets.unshift(target);
        this.#connecting = transport;
        transport.onMessage = (text) => this.#receive(text);
        return transport;
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
    throw new Error(failures.join("; "));
  }

  /**
   * Makes a new connection a session: resumes the old one when it can, else authenticates
   * (with a token) or learns a resume token (`hello`).
   */
  async #handshake(transport: ClientTransport): Promise<HandshakeOutcome> {
    const resumeToken = this.#resumeToken;
    if (resumeToken !== undefined) {
      // Tokens are single use, whatever the answer.
      this.#resumeToken = undefined;
      let replayed: number | undefined;
      try {
        await this.#call(
          transport,
          "resume",
          { token: resumeToken, last_seq: this.#lastSeq },
          (data) => {
            replayed = typeof data.replayed === "number" ? data.replayed : 0;
            this.#session = text(data.session) ?? this.#session;
            this.#resumeToken = text(data.resume_token);
            this.#replayRemaining = replayed;
            if (replayed === 0) this.#replayDone();
          },
        );
      } catch (error) {
        if (!(error instanceof GatewayError) || !RESUME_REFUSED.has(error.code)) throw error;
      }
      if (replayed !== undefined) {
        if (this.#tokenExpired) await this.#authenticate(transport, true);
        return { resumed: true, replayed };
      }
    }
    // A fresh session: nothing of the old one survives, requests it left unanswered included.
    this.#lastSeq = 0;
    this.#replayRemaining = undefined;
    this.#session = undefined;
    this.#rejectInDoubt();
    const authenticated = await this.#authenticate(transport, this.#state === "reconnecting");
    if (!authenticated && (this.#options.resume ?? DEFAULTS.resume) && this.#helloSupported) {
      try {
        await this.#call(transport, "hello", undefined, (data) => {
          this.#session = text(data.session);
          this.#resumeToken = text(data.resume_token);
          if (typeof data.seq === "number") this.#lastSeq = Math.max(this.#lastSeq, data.seq);
        });
      } catch (error) {
        if (!(error instanceof GatewayError) || error.code !== "unknown_type") throw error;
        this.#helloSupported = false;
      }
    }
    return { resumed: false };
  }

  /** Sends `auth` when the app gave a token source; false when it gave none. */
  async #authenticate(transport: ClientTransport, fresh: boolean): Promise<boolean> {
    const token = await this.#token(fresh);
    if (token === undefined) return false;
    await this.#call(transport, "auth", { token }, (data) => {
      this.#user = text(data.user) ?? this.#user;
      this.#session = text(data.session) ?? this.#session;
      const resumeToken = text(data.resume_token);
      if (resumeToken !== undefined && (this.#options.resume ?? DEFAULTS.resume)) {
        this.#resumeToken = resumeToken;
      }
    });
    return true;
  }

  /** The token to send: a fresh one from `getToken` when asked for (or when no static one). */
  async #token(fresh: boolean): Promise<string | undefined> {
    const { token, getToken } = this.#options;
    if (getToken === undefined || (!fresh && token !== undefined)) return token;
    try {
      return await getToken();
    } catch (error) {
      throw new GatewayError(
        ClientErrorCode.tokenUnavailable,
        `Cannot authenticate: getToken failed: ${(error as Error)?.message ?? error}`,
        { cause: error },
      );
    }
  }

  /** A handshake step: sent at once on `transport`, answered through `apply`. */
  #call(
    transport: ClientTransport,
    type: string,
    data: unknown,
    apply: (data: Record<string, unknown>) => void,
  ): Promise<void> {
    const id = this.#nextId++;
    const envelope = JSON.stringify(data === undefined ? { type, id } : { type, id, data });
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        id,
        route: undefined,
        text: envelope,
        // Applied when the reply arrives, before any message after it: replayed messages may
        // share its frame.
        resolve: (data) => {
          apply(isObject(data) ? data : {});
          resolve();
        },
        reject,
        timer: undefined,
        transport,
        inDoubt: false,
        internal: true,
      };
      this.#expireAfter(
        pending,
        this.#connectTimeoutMs,
        `The gateway did not answer "${type}" within ${this.#connectTimeoutMs} ms`,
      );
      this.#pending.set(id, pending);
      if (!transport.send(envelope)) {
        this.#settle(pending);
        reject(this.#lost(`The connection closed before "${type}" was sent`));
      }
    });
  }

  /** Starts `pending`'s deadline: after `ms` unanswered, it is dropped and rejected with
   * `message` (code `requestTimeout`). */
  #expireAfter(pending: Pending, ms: number, message: string): void {
    pending.timer = setTimeout(() => {
      this.#settle(pending);
      pending.reject(
        new GatewayError(ClientErrorCode.requestTimeout, message, { route: pending.route }),
      );
    }, ms);
  }

  /** The connection is a session now: start its heartbeat, send what waited, tell the app. */
  #ready(transport: ClientTransport, outcome: HandshakeOutcome): void {
    const reconnected = this.#state === "reconnecting";
    this.#connecting = undefined;
    this.#transport = transport;
    this.#state = "open";
    this.#tokenExpired = false;
    this.#heartbeat = new Heartbeat({
      intervalMs: this.#options.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs,
      timeoutMs: this.#options.heartbeatTimeoutMs ?? DEFAULTS.heartbeatTimeoutMs,
      ping: () => {
        if (transport.send(`{"type":"ping"}`)) this.#heartbeat?.sent();
      },
      dead: () => void transport.close(4000, "heartbeat timeout"),
    });
    while (this.#outbox.length > 0 && this.#write(this.#outbox[0])) this.#outbox.shift();
    if (outcome.resumed) {
      this.#emit("resumed", { session: this.#session, replayed: outcome.replayed });
    } else {
      this.#emit("open", {
        session: this.#session,
        user: this.#user,
        transport: transport.kind,
        reconnected,
      });
    }
  }

  /** Writes a request to the current connection; false when it can no longer send. */
  #write(pending: Pending): boolean {
    const transport = this.#transport;
    if (transport === undefined || !transport.send(pending.text)) return false;
    pending.transport = transport;
    this.#heartbeat?.sent();
    return true;
  }

  /** Follows the session across connections until the client stops. */
  async #supervise(first: ClientTransport): Promise<void> {
    let transport: ClientTransport | undefined = first;
    while (transport !== undefined) {
      const close = await transport.closed;
      this.#dropped(transport);
      if (this.#state === "closed") return;
      transport = await this.#reconnectAfter(close);
    }
  }

  /** A connection ended: its handshake steps fail, its written requests are in doubt. */
  #dropped(transport: ClientTransport): void {
    if (this.#transport === transport) {
      this.#transport = undefined;
      this.#heartbeat?.stop();
      this.#heartbeat = undefined;
    }
    for (const pending of [...this.#pending.values()]) {
      if (pending.transport !== transport) continue;
      if (pending.internal) {
        this.#settle(pending);
        pending.reject(this.#lost("The connection closed during the handshake"));
      } else {
        pending.inDoubt = true;
      }
    }
  }

  /** Reconnects after `close` as its code says; undefined once the client has stopped. */
  async #reconnectAfter(close: TransportClose): Promise<ClientTransport | undefined> {
    let last = close;
    let action = closeAction(close.code);
    // Without getToken, the expired token is all there is: the gateway would refuse it.
    if (action === "new_token") {
      if (this.#options.getToken === undefined) action = "stop";
      else this.#tokenExpired = true;
    }
    const maxAttempts = this.#reconnect?.maxAttempts ?? Infinity;
    for (let attempt = 0; this.#reconnect !== undefined && action !== "stop"; attempt++) {
      if (attempt >= maxAttempts) break;
      const delayMs = action === "immediate" && attempt === 0
        ? 0
        : backoffDelay(Math.min(attempt, 30), this.#reconnect);
      this.#state = "reconnecting";
      this.#emit("reconnecting", {
        code: last.code,
        reason: last.reason,
        attempt: attempt + 1,
        delayMs,
      });
      if (!await this.#sleep(delayMs)) return undefined;
      let transport: ClientTransport;
      try {
        transport = await this.#open();
      } catch (error) {
        if (this.#closed) return undefined;
        last = { code: CLOSE_ABNORMAL, reason: (error as Error).message };
        action = "backoff";
        continue;
      }
      try {
        const outcome = await this.#handshake(transport);
        if (this.#closed) return undefined;
        this.#ready(transport, outcome);
        return transport;
      } catch (error) {
        if (this.#closed) return undefined;
        last = await this.#release(transport, error);
        this.#dropped(transport);
        if (error instanceof GatewayError && error.code === ClientErrorCode.tokenUnavailable) {
          this.#emit("error", error);
        }
        action = closeAction(last.code) === "stop" ? "stop" : "backoff";
      }
    }
    this.#finish(last);
    return undefined;
  }

  /**
   * Ends a connection whose handshake failed and tells how it closed: the gateway's own code
   * when it closed it (4500 after `unauthorized`), else 1006 with `why`, closed locally.
   */
  async #release(transport: ClientTransport, why: unknown): Promise<TransportClose> {
    this.#connecting = undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const byGateway = await Promise.race([
      transport.closed.then(() => true),
      new Promise<false>((resolve) =>
        timer = setTimeout(() => resolve(false), REFUSAL_CLOSE_WAIT_MS)
      ),
    ]);
    clearTimeout(timer);
    if (byGateway) return await transport.closed;
    await transport.close(1000, "handshake failed");
    return { code: CLOSE_ABNORMAL, reason: `handshake failed: ${(why as Error)?.message ?? why}` };
  }

  /** Waits `ms`; false when the client closed meanwhile. */
  #sleep(ms: number): Promise<boolean> {
    const signal = this.#stop.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve(!signal.aborted);
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Handles the text of one message: one envelope, or a batch of them. */
  #receive(message: string): void {
    if (this.#state === "closed") return;
    this.#heartbeat?.received();
    let value: unknown;
    try {
      value = JSON.parse(message);
    } catch {
      this.#emit(
        "error",
        new GatewayError(ClientErrorCode.badMessage, "The gateway sent invalid JSON"),
      );
      return;
    }
    if (Array.isArray(value)) { for (const envelope of value) this.#handle(envelope); }
    else this.#handle(value);
  }

  #handle(value: unknown): void {
    if (!isObject(value) || typeof value.type !== "string") {
      this.#emit(
        "error",
        new GatewayError(ClientErrorCode.badMessage, "The gateway sent a non-envelope"),
      );
      return;
    }
    const envelope = value as unknown as InboundEnvelope;
    const pending = typeof envelope.id === "number" ? this.#pending.get(envelope.id) : undefined;
    // Handshake replies belong to their connection, not to the session's sequence.
    if (pending?.internal && (envelope.type === "response" || envelope.type === "error")) {
      this.#answer(pending, envelope);
      return;
    }
    let replayDone = false;
    if (typeof envelope.seq === "number") {
      if (this.#replayRemaining !== undefined) replayDone = --this.#replayRemaining <= 0;
      const duplicate = envelope.seq <= this.#lastSeq;
      if (!duplicate) this.#lastSeq = envelope.seq;
      if (duplicate) {
        if (replayDone) this.#replayDone();
        return;
      }
    }
    switch (envelope.type) {
      case "response":
      case "error":
        if (pending) this.#answer(pending, envelope);
        else if (envelope.type === "error" && envelope.id === undefined) {
          this.#emit("error", this.#errorOf(envelope, undefined));
        }
        break;
      case "push":
        if (typeof envelope.route === "string") this.#push(envelope.route, envelope.data);
        break;
      case "ping":
        // The gateway measures the round trip to idle clients; answering is all it needs.
        if (
          Number.isSafeInteger(envelope.id) &&
          this.#transport?.send(`{"type":"pong","id":${envelope.id}}`)
        ) {
          this.#heartbeat?.sent();
        }
        break;
        // pong and types of later protocol versions: nothing to do.
    }
    if (replayDone) this.#replayDone();
  }

  #answer(pending: Pending, envelope: InboundEnvelope): void {
    this.#settle(pending);
    if (envelope.type === "response") pending.resolve(envelope.data);
    else pending.reject(this.#errorOf(envelope, pending.route));
  }

  #errorOf(envelope: InboundEnvelope, route: string | undefined): GatewayError {
    const code = text(envelope.code) ?? "unknown_error";
    return new GatewayError(code, text(envelope.message) ?? `The gateway answered ${code}`, {
      route,
    });
  }

  #push(route: string, data: unknown): void {
    if (route === AUTH_EXPIRING && this.#options.getToken !== undefined) void this.#refreshToken();
    for (const handler of this.#pushHandlers.get(route) ?? []) {
      try {
        (handler as PushHandler)(data, route);
      } catch (error) {
        reportError(error);
      }
    }
  }

  /** Sends a fresh token before the current one expires. */
  async #refreshToken(): Promise<void> {
    const transport = this.#transport;
    if (transport === undefined) return;
    try {
      await this.#authenticate(transport, true);
    } catch (error) {
      // The session goes on until the token expires; then 4003 brings a reconnect.
      if (error instanceof GatewayError) this.#emit("error", error);
    }
  }

  /** The replay after a resume is complete: what it did not answer is lost. */
  #replayDone(): void {
    this.#replayRemaining = undefined;
    this.#rejectInDoubt();
  }

  #rejectInDoubt(): void {
    for (const pending of [...this.#pending.values()]) {
      if (!pending.inDoubt) continue;
      this.#settle(pending);
      pending.reject(
        this.#lost(
          `Request "${pending.route}" was sent before the connection dropped and got no answer`,
          pending.route,
        ),
      );
    }
  }

  #lost(message: string, route?: string): GatewayError {
    return new GatewayError(ClientErrorCode.connectionLost, message, { route });
  }

  /** Forgets a request: no answer, timeout or drop will settle it again. */
  #settle(pending: Pending): void {
    clearTimeout(pending.timer);
    this.#pending.delete(pending.id);
    const queued = this.#outbox.indexOf(pending);
    if (queued >= 0) this.#outbox.splice(queued, 1);
  }

  /** Stops for good: every waiting request fails with `closed`, the app hears `closed`. */
  #finish(close: ClosedEvent): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#stop.abort();
    this.#heartbeat?.stop();
    this.#heartbeat = undefined;
    this.#transport = undefined;
    this.#connecting = undefined;
    for (const pending of [...this.#pending.values()]) {
      this.#settle(pending);
      pending.reject(
        new GatewayError(
          ClientErrorCode.closed,
          pending.route === undefined
            ? "The client closed during the handshake"
            : `Request "${pending.route}" got no answer: the client closed (code ${close.code})`,
          { route: pending.route },
        ),
      );
    }
    this.#settleClosed(close);
    this.#emit("closed", close);
  }

  #emit<K extends keyof ClientEvents>(name: K, event: Parameters<ClientEvents[K]>[0]): void {
    for (const handler of this.#eventHandlers[name]) {
      try {
        (handler as (event: unknown) => void)(event);
      } catch (error) {
        reportError(error);
      }
    }
  }
}
