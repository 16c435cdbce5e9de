/**
 * Chooses how routed messages and pushes travel: in-process (embedded mode, no
 * `cluster.nats.servers`) or across gateway nodes and service processes over NATS.
 *
 * @module
 */
import { Announcer } from "./announcer.ts";
import { NatsAdminCluster } from "./admin_cluster_nats.ts";
import type { AdminCluster } from "../ops/admin_cluster.ts";
import { LocalAdminCluster } from "../ops/admin_cluster_local.ts";
import type { AdminNode } from "../ops/admin_node.ts";
import type { Broker } from "../services/broker.ts";
import { MemoryBroker } from "../services/broker_memory.ts";
import { NatsBroker } from "./broker_nats.ts";
import { type Announcement, REGISTRY_VERSION, Subjects } from "./cluster_protocol.ts";
import { ClusterRegistry } from "./registry.ts";
import { RegistryWatcher } from "./registry_watcher.ts";
import type { GatewayConfig } from "../config/config.ts";
import type { Hub } from "../services/hub.ts";
import type { ClusterState } from "../ops/metrics.ts";
import type { Logger } from "../core/logger.ts";
import type {
  DuplicatePolicy,
  LoginEvictedHandler,
  LoginRegistry,
} from "../core/login_registry.ts";
import { LocalLoginRegistry } from "../core/login_registry_local.ts";
import { NatsLoginRegistry } from "./login_registry_nats.ts";
import { NatsLink } from "./nats_link.ts";
import type { Router } from "../services/router.ts";
import { SERVICE_NAME } from "../core/service.ts";
import type { ServiceHost } from "../core/service_host.ts";
import { LocalServiceHost } from "../services/service_host_local.ts";
import { NatsServiceHost } from "./service_host_nats.ts";
import type { SessionManager } from "../core/session_manager.ts";
import type { RemoteSessions, SessionHandover } from "../core/session_resumer.ts";
import { NatsSessionTakeover } from "./session_takeover_nats.ts";

/** The routing layer the gateway runs with. */
export interface Routing extends AsyncDisposable {
  /** Where requests and notifies go. */
  readonly services: ServiceHost;
  /** Where pushes go. */
  readonly broker: Broker;
  /** Present in cluster mode. */
  readonly cluster: ClusterState | undefined;
  /** The cluster's instances and routes, in cluster mode. */
  readonly registry: ClusterRegistry | undefined;
  /** One session per user (on this node, or on every node over NATS); when asked for. */
  readonly logins: LoginRegistry | undefined;
  /**
   * Makes this node answer the admin API's requests for its sessions (in cluster mode, also
   * other nodes' requests over NATS, whether or not this node serves the API) and returns how
   * the API reaches every gateway node: this one alone, or all of them over NATS.
   */
  serveAdmin(node: AdminNode, options: AdminRoutingOptions): AdminCluster;
  /** Sessions moving between nodes on resume, in cluster mode. */
  readonly takeover: SessionTakeover | undefined;
}

/** Limits of the admin requests between nodes, from the `admin` config section. */
export interface AdminRoutingOptions {
  /** How long to wait for each node, ms. */
  timeoutMs: number;
  /** Largest request a node reads, bytes. */
  maxRequestBytes: number;
}

/** Moves sessions between nodes: asks other nodes, and answers them through `serve`. */
export interface SessionTakeover extends RemoteSessions {
  /** Answers other nodes' takeovers of this node's sessions through `handover`. */
  serve(handover: SessionHandover): void;
}

/** What {@linkcode createRouting} needs from the rest of the gateway. */
export interface RoutingParts {
  /** Live sessions. */
  sessions: SessionManager;
  /** Local users and groups. */
  hub: Hub;
  /** Routes served in-process. */
  router: Router;
  /** Logger for NATS state changes. */
  logger: Logger;
  /** Keep one session per user with this policy, ending the losers with `evict`. */
  logins?: { policy: DuplicatePolicy; evict: LoginEvictedHandler };
}

/** Builds embedded or NATS routing from `config.cluster`. */
export function createRouting(config: GatewayConfig, parts: RoutingParts): Routing {
  const { sessions, hub, router, logger } = parts;
  const nats = config.cluster.nats;
  if (nats.servers.length === 0) {
    const broker = new MemoryBroker(hub);
    const services = new LocalServiceHost({ router, hub, broker });
    return {
      services,
      broker,
      cluster: undefined,
      registry: undefined,
      logins: parts.logins && new LocalLoginRegistry(parts.logins),
      serveAdmin: (node) => new LocalAdminCluster(node),
      takeover: undefined,
      [Symbol.asyncDispose]: () => Promise.resolve(),
    };
  }
  const nodeId = config.cluster.node_id || crypto.randomUUID();
  const subjects = new Subjects(nats.subject_prefix);
  const limits = config.cluster.registry;
  const registry = new ClusterRegistry({
    selfId: nodeId,
    instanceTtlMs: limits.instance_ttl_ms,
    maxInstances: limits.max_instances,
    maxServices: limits.max_services,
    maxRoutes: limits.max_routes,
    maxAnnouncementBytes: limits.max_announcement_bytes,
  });
  const started = Date.now();
  const embedded = embeddedServices(router);
  const announcement = (): Announcement => ({
    v: REGISTRY_VERSION,
    op: "announce",
    id: nodeId,
    kind: "gateway",
    started,
    interval_ms: limits.announce_interval_ms,
    sessions: sessions.size,
    services: embedded,
  });
  const watcher = new RegistryWatcher({
    registry,
    subjects,
    intervalMs: limits.announce_interval_ms,
    instanceTtlMs: limits.instance_ttl_ms,
    self: announcement,
    logger,
  });
  const announcer = new Announcer({
    subjects,
    intervalMs: limits.announce_interval_ms,
    announcement,
    connection: () => link.connection,
    logger,
  });
  let admin: NatsAdminCluster | undefined;
  const link: NatsLink = new NatsLink({
    servers: nats.servers,
    name: `gateway:${nodeId}`,
    reconnectWaitMs: nats.reconnect_wait_ms,
    logger,
    onConnection: (connection) => {
      broker.subscribe(connection);
      services.subscribe(connection);
      watcher.subscribe(connection);
      announcer.subscribe(connection);
      logins?.subscribe(connection);
      admin?.subscribe(connection);
      takeover.subscribe(connection);
    },
    onReconnect: (connection) => {
      watcher.resync(connection);
      announcer.announce();
      logins?.reconnected();
    },
  });
  const logins = parts.logins && new NatsLoginRegistry({
    ...parts.logins,
    link,
    subjects,
    waitMs: config.auth.duplicate_wait_ms,
    logger,
  });
  const broker = new NatsBroker(hub, link, subjects, logger);
  const takeover = new NatsSessionTakeover({
    link,
    subjects,
    nodeId,
    broker,
    registry,
    timeoutMs: config.routing.request_timeout_ms,
    logger,
  });
  const services = new NatsServiceHost({
    local: new LocalServiceHost({ router, hub, broker }),
    isLocal: (route) => router.get(route) !== undefined,
    link,
    registry,
    subjects,
    nodeId,
    sessions,
    hub,
    timeoutMs: config.routing.request_timeout_ms,
    logger,
  });
  logger.info("cluster mode", { node_id: nodeId, nats: nats.servers, prefix: nats.subject_prefix });
  return {
    services,
    broker,
    logins,
    takeover,
    cluster: {
      nodeId,
      get natsConnected() {
        return link.connected;
      },
      get natsReconnects() {
        return link.reconnects;
      },
      get localOnlyPushes() {
        return broker.localOnly;
      },
      registry,
    },
    registry,
    serveAdmin(node, options) {
      admin = new NatsAdminCluster({
        node,
        link,
        registry,
        subjects,
        timeoutMs: options.timeoutMs,
        maxRequestBytes: options.maxRequestBytes,
        logger,
      });
      const connection = link.connection;
      if (connection) admin.subscribe(connection);
      return admin;
    },
    async [Symbol.asyncDispose]() {
      // Goodbye first, so other gateways drop this node's routes at once.
      await announcer.close();
      await admin?.[Symbol.asyncDispose]();
      await watcher[Symbol.asyncDispose]();
      await services[Symbol.asyncDispose]();
      await takeover[Symbol.asyncDispose]();
      await broker[Symbol.asyncDispose]();
      await logins?.[Symbol.asyncDispose]();
      await link.close();
    },
  };
}

/**
 * The router's `service.method` routes by service, as the gateway announces them. Other
 * routes (the built-in `echo`) are served by every gateway and never travel.
 */
function embeddedServices(router: Router): Record<string, string[]> {
  const services: Record<string, string[]> = {};
  for (const route of router.routes()) {
    const [name, method, rest] = route.split(".");
    if (rest !== undefined || !SERVICE_NAME.test(name) || !SERVICE_NAME.test(method ?? "")) {
      continue;
    }
    (services[name] ??= []).push(method);
  }
  return services;
}
