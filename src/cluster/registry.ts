/**
 * The cluster registry: every gateway's live table of the instances (gateway nodes and service
 * processes) that announce themselves on NATS and the routes they serve. The gateway reads it
 * before it sends a request into NATS, so a route no one ever announced gets `unknown_route` at
 * once and a known route with no live instance gets `service_unavailable`, without a NATS
 * round trip either way. Operators read it as JSON (`/cluster`) and as metrics; other features
 * ask it whether a node is alive.
 *
 * Everything in it comes from announcements, which anyone on NATS can send, so it is bounded:
 * instances, services and routes each have a maximum, and an announcement that would cross one
 * is refused and counted. Routes whose instances are all gone stay known (so clients keep
 * hearing "retry later" while a service restarts) until room is needed for new ones; then the
 * routes orphaned longest are forgotten first.
 *
 * @module
 */
import {
  ANNOUNCEMENT_REJECT_REASONS,
  type AnnouncementRejectReason,
  parseRegistryMessage,
} from "./announcement.ts";
import { type Announcement, INSTANCE_KINDS, type InstanceKind } from "./cluster_protocol.ts";

/** Bounds of the registry, from `cluster.registry`. */
export interface RegistryLimits {
  /** An instance silent this long is dropped, ms. */
  instanceTtlMs: number;
  /** Instances held at once (this gateway included). */
  maxInstances: number;
  /** Distinct service names held at once. */
  maxServices: number;
  /** Distinct routes held at once. */
  maxRoutes: number;
  /** Largest registry message read, bytes. */
  maxAnnouncementBytes: number;
}

/** Options for {@linkcode ClusterRegistry}. */
export interface ClusterRegistryOptions extends RegistryLimits {
  /** This gateway's node id: its own entry never expires and others may not claim the id. */
  selfId: string;
  /** Monotonic clock in ms; `performance.now` unless a test drives it. */
  now?: () => number;
}

/** What the request path needs to know about a route: a field read, no allocation. */
export interface RouteState {
  /** Live service processes serving it over NATS. */
  readonly live: number;
}

/** One instance as the registry's readers see it (JSON-able). */
export interface InstanceInfo {
  /** Its id; a gateway's node id. */
  id: string;
  /** A gateway node or a service process. */
  kind: InstanceKind;
  /** Whether it is this gateway. */
  self: boolean;
  /** When it started, ms since the epoch, as it says. */
  started: number;
  /** How often it says it announces, ms. */
  interval_ms: number;
  /** A gateway's live sessions at its latest announcement. */
  sessions?: number;
  /** Service name to method names. */
  services: Record<string, string[]>;
  /** Time since its latest announcement, ms. */
  last_seen_ms: number;
}

/** One service as the JSON view shows it. */
export interface ServiceInfo {
  /** The service name. */
  name: string;
  /** Live service processes serving it over NATS. */
  instances: number;
  /** Gateway nodes serving it embedded, to their own players. */
  embedded_in: number;
  /** Its known routes, `service.method`. */
  routes: string[];
}

/** The whole table as JSON, for operators (`/cluster`) and the admin API. */
export interface RegistryView {
  /** This gateway's node id. */
  node_id: string;
  /**
   * Whether the table has been listening for a full announce interval since NATS last
   * (re)connected. Until then a route not in it gets `service_unavailable`, not
   * `unknown_route`: its service may not have answered yet.
   */
  complete: boolean;
  /** Every live instance, this gateway first. */
  instances: InstanceInfo[];
  /** Every known service, by name. */
  services: ServiceInfo[];
  /** How many routes are known. */
  routes: number;
  /** Registry messages refused since start, by reason. */
  rejected: Record<AnnouncementRejectReason, number>;
}

/** Why an instance left the table. */
export type InstanceDownReason = "expired" | "withdrawn";

/** Called when an instance appears (first announcement, or a restart under the same id). */
export type InstanceUpHandler = (instance: InstanceInfo) => void;
/** Called when an instance leaves the table: silent past the TTL, or said goodbye. */
export type InstanceDownHandler = (instance: InstanceInfo, reason: InstanceDownReason) => void;

/** Observers of instances coming and going. */
export interface RegistryEvents {
  /** An instance appeared. */
  onInstanceUp?: InstanceUpHandler;
  /** An instance left. */
  onInstanceDown?: InstanceDownHandler;
}

/** The outcome of one received registry message. */
export type ReceiveResult =
  | { ok: true }
  | { ok: false; reason: AnnouncementRejectReason; detail: string };

class ServiceEntry {
  /** Service-kind instances announcing it. */
  live = 0;
  /** Gateway-kind instances announcing it. */
  embedded = 0;
  /** Its routes in the table. */
  readonly routes = new Set<string>();
  orphanedAt = 0;
  constructor(readonly name: string) {}
  get holders(): number {
    return this.live + this.embedded;
  }
}

class RouteEntry implements RouteState {
  live = 0;
  holders = 0;
  orphanedAt = 0;
  constructor(readonly service: ServiceEntry) {}
}

interface Instance {
  announcement: Announcement;
  /** The kind and services as JSON, to see at a glance that nothing changed. */
  signature: string;
  lastSeen: number;
  self: boolean;
}

function routesOf(announcement: Announcement): string[] {
  const routes: string[] = [];
  for (const [name, methods] of Object.entries(announcement.services)) {
    for (const method of methods) routes.push(`${name}.${method}`);
  }
  return routes;
}

function signatureOf(announcement: Announcement): string {
  return `${announcement.kind}:${JSON.stringify(announcement.services)}`;
}

/** The live table of instances and routes; see the module doc. */
export class ClusterRegistry {
  readonly #options: ClusterRegistryOptions;
  readonly #now: () => number;
  readonly #instances = new Map<string, Instance>();
  readonly #services = new Map<string, ServiceEntry>();
  readonly #routes = new Map<string, RouteEntry>();
  readonly #observers: RegistryEvents[] = [];
  readonly #rejected = Object.fromEntries(
    ANNOUNCEMENT_REJECT_REASONS.map((reason) => [reason, 0]),
  ) as Record<AnnouncementRejectReason, number>;
  #completeAt = Infinity;
  #complete = false;

  /** Creates an empty table. */
  constructor(options: ClusterRegistryOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** This gateway's node id. */
  get selfId(): string {
    return this.#options.selfId;
  }

  /** Adds an observer of instances coming and going. */
  observe(events: RegistryEvents): void {
    this.#observers.push(events);
  }

  /**
   * A route's state, or undefined when no one has announced it (or it was forgotten to make
   * room). One map lookup: this runs for every routed request.
   */
  route(route: string): RouteState | undefined {
    return this.#routes.get(route);
  }

  /**
   * Whether a route missing from the table can be called unknown: the table has listened
   * for a full announce interval since NATS last (re)connected.
   */
  get complete(): boolean {
    return this.#complete;
  }

  /**
   * Starts a listening period: NATS just (re)connected, and announcements that went out
   * meanwhile were missed. The table counts as complete again after `periodMs`, checked on
   * each {@linkcode sweep}.
   */
  beginSync(periodMs: number): void {
    this.#complete = false;
    this.#completeAt = this.#now() + periodMs;
  }

  /** Reads one message of `P.reg.announce` (or a query's answer) and applies it. */
  receive(data: Uint8Array): ReceiveResult {
    const parsed = parseRegistryMessage(data, this.#options.maxAnnouncementBytes);
    if (!parsed.ok) return this.#reject(parsed.reason, parsed.detail);
    const message = parsed.message;
    if (message.id === this.#options.selfId) {
      // Our own echo, or a second process using our node id: its routes and liveness would
      // be confused with ours, so it is refused and reported.
      const own = this.#instances.get(message.id)?.announcement;
      if (message.op === "bye" || own?.started === message.started) return { ok: true };
      return this.#reject("duplicate_id", "another instance announces this gateway's node id");
    }
    if (message.op === "bye") {
      this.#remove(message.id, "withdrawn");
      return { ok: true };
    }
    return this.#apply(message, false);
  }

  /** Records this gateway's own announcement; its entry never expires. */
  applySelf(announcement: Announcement): ReceiveResult {
    return this.#apply(announcement, true);
  }

  #reject(reason: AnnouncementRejectReason, detail: string): ReceiveResult {
    this.#rejected[reason]++;
    return { ok: false, reason, detail };
  }

  #apply(announcement: Announcement, self: boolean): ReceiveResult {
    const now = this.#now();
    const existing = this.#instances.get(announcement.id);
    const signature = signatureOf(announcement);
    if (existing && existing.signature === signature) {
      const restarted = existing.announcement.started !== announcement.started;
      existing.announcement = announcement;
      existing.lastSeen = now;
      if (restarted) this.#emitUp(existing);
      return { ok: true };
    }
    if (!existing && this.#instances.size >= this.#options.maxInstances) {
      this.sweep();
      if (this.#instances.size >= this.#options.maxInstances) {
        return this.#reject("instances_full", `${this.#options.maxInstances} instances held`);
      }
    }
    const routes = routesOf(announcement);
    const names = Object.keys(announcement.services);
    const newServices = names.filter((name) => !this.#services.has(name)).length;
    const newRoutes = routes.filter((route) => !this.#routes.has(route)).length;
    // Room is made only when it suffices, so a refused flood forgets nothing.
    const serviceExcess = this.#services.size + newServices - this.#options.maxServices;
    const orphanServices = serviceExcess > 0 ? this.#orphanServices(new Set(names)) : [];
    if (orphanServices.length < serviceExcess) {
      return this.#reject("services_full", `${this.#options.maxServices} services held`);
    }
    const goingServices = orphanServices.slice(0, Math.max(serviceExcess, 0));
    const forgottenRoutes = goingServices.reduce((sum, service) => sum + service.routes.size, 0);
    const routeExcess = this.#routes.size - forgottenRoutes + newRoutes - this.#options.maxRoutes;
    const orphanRoutes = routeExcess > 0 ? this.#orphanRoutes(new Set(routes), goingServices) : [];
    if (orphanRoutes.length < routeExcess) {
      return this.#reject("routes_full", `${this.#options.maxRoutes} routes held`);
    }
    for (const service of goingServices) this.#forgetService(service);
    for (const [key, route] of orphanRoutes.slice(0, Math.max(routeExcess, 0))) {
      this.#forgetRoute(key, route);
    }
    if (existing) this.#detach(existing.announcement, now);
    const instance: Instance = { announcement, signature, lastSeen: now, self };
    this.#instances.set(announcement.id, instance);
    this.#attach(announcement);
    if (!existing || existing.announcement.started !== announcement.started) {
      this.#emitUp(instance);
    }
    return { ok: true };
  }

  /** Counts an instance's services and routes in. */
  #attach(announcement: Announcement): void {
    const live = announcement.kind === "service" ? 1 : 0;
    for (const [name, methods] of Object.entries(announcement.services)) {
      let service = this.#services.get(name);
      if (!service) this.#services.set(name, service = new ServiceEntry(name));
      service.live += live;
      service.embedded += 1 - live;
      for (const method of methods) {
        const key = `${name}.${method}`;
        let route = this.#routes.get(key);
        if (!route) {
          this.#routes.set(key, route = new RouteEntry(service));
          service.routes.add(key);
        }
        route.live += live;
        route.holders++;
      }
    }
  }

  /** Counts an instance's services and routes out; what no one serves now is orphaned. */
  #detach(announcement: Announcement, now: number): void {
    const live = announcement.kind === "service" ? 1 : 0;
    for (const [name, methods] of Object.entries(announcement.services)) {
      // Only what no one holds is ever forgotten, so what this instance holds is still here.
      const service = this.#services.get(name)!;
      service.live -= live;
      service.embedded -= 1 - live;
      if (service.holders === 0) service.orphanedAt = now;
      for (const method of methods) {
        const route = this.#routes.get(`${name}.${method}`)!;
        route.live -= live;
        if (--route.holders === 0) route.orphanedAt = now;
      }
    }
  }

  /** Services no one serves, longest orphaned first, except those in `keep`. */
  #orphanServices(keep: Set<string>): ServiceEntry[] {
    return [...this.#services.values()]
      .filter((service) => service.holders === 0 && !keep.has(service.name))
      .sort((a, b) => a.orphanedAt - b.orphanedAt);
  }

  /**
   * Routes no one serves, longest orphaned first, except those in `keep` and those of the
   * services about to be forgotten with theirs.
   */
  #orphanRoutes(keep: Set<string>, services: ServiceEntry[]): [string, RouteEntry][] {
    const going = new Set(services);
    return [...this.#routes.entries()]
      .filter(([key, route]) => route.holders === 0 && !keep.has(key) && !going.has(route.service))
      .sort(([, a], [, b]) => a.orphanedAt - b.orphanedAt);
  }

  #forgetService(service: ServiceEntry): void {
    for (const route of service.routes) this.#routes.delete(route);
    this.#services.delete(service.name);
  }

  #forgetRoute(key: string, route: RouteEntry): void {
    this.#routes.delete(key);
    route.service.routes.delete(key);
    if (route.service.routes.size === 0 && route.service.holders === 0) {
      this.#services.delete(route.service.name);
    }
  }

  #remove(id: string, reason: InstanceDownReason): void {
    const instance = this.#instances.get(id);
    if (!instance || instance.self) return;
    this.#instances.delete(id);
    this.#detach(instance.announcement, this.#now());
    const info = this.#info(instance, this.#now());
    for (const observer of this.#observers) observer.onInstanceDown?.(info, reason);
  }

  #emitUp(instance: Instance): void {
    if (this.#observers.length === 0) return;
    const info = this.#info(instance, this.#now());
    for (const observer of this.#observers) observer.onInstanceUp?.(info);
  }

  /**
   * Drops every instance silent for longer than the TTL, and marks the table complete once
   * the listening period is over. Run every announce interval.
   */
  sweep(): void {
    const now = this.#now();
    for (const [id, instance] of this.#instances) {
      if (!instance.self && now - instance.lastSeen > this.#options.instanceTtlMs) {
        this.#remove(id, "expired");
      }
    }
    if (!this.#complete && now >= this.#completeAt) this.#complete = true;
  }

  /** Whether the instance `id` (a gateway node or a service process) is alive now. */
  isAlive(id: string): boolean {
    const instance = this.#instances.get(id);
    if (!instance) return false;
    return instance.self || this.#now() - instance.lastSeen <= this.#options.instanceTtlMs;
  }

  /** One live instance, or undefined. */
  node(id: string): InstanceInfo | undefined {
    const instance = this.#instances.get(id);
    return instance && this.isAlive(id) ? this.#info(instance, this.#now()) : undefined;
  }

  /** Every live instance, this gateway first; only one kind when `kind` is given. */
  nodes(kind?: InstanceKind): InstanceInfo[] {
    const now = this.#now();
    const out: InstanceInfo[] = [];
    for (const [id, instance] of this.#instances) {
      if (kind !== undefined && instance.announcement.kind !== kind) continue;
      if (this.isAlive(id)) out.push(this.#info(instance, now));
    }
    return out.sort((a, b) => Number(b.self) - Number(a.self) || a.id.localeCompare(b.id));
  }

  #info(instance: Instance, now: number): InstanceInfo {
    const { id, kind, started, interval_ms, sessions, services } = instance.announcement;
    const info: InstanceInfo = {
      id,
      kind,
      self: instance.self,
      started,
      interval_ms,
      services,
      last_seen_ms: Math.round(now - instance.lastSeen),
    };
    if (sessions !== undefined) info.sessions = sessions;
    return info;
  }

  /** Live service processes per known service name (metrics: `gateway_service_instances`). */
  *serviceInstances(): IterableIterator<[string, number]> {
    for (const [name, service] of this.#services) yield [name, service.live];
  }

  /** Live instances per kind, this gateway included. */
  instanceCounts(): Record<InstanceKind, number> {
    const counts = Object.fromEntries(INSTANCE_KINDS.map((kind) => [kind, 0])) as Record<
      InstanceKind,
      number
    >;
    for (const instance of this.#instances.values()) counts[instance.announcement.kind]++;
    return counts;
  }

  /** How many routes are known. */
  get routeCount(): number {
    return this.#routes.size;
  }

  /** Registry messages refused since start, by reason. */
  get rejected(): Readonly<Record<AnnouncementRejectReason, number>> {
    return this.#rejected;
  }

  /** The whole table as JSON. */
  view(): RegistryView {
    const services = [...this.#services.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((service) => ({
        name: service.name,
        instances: service.live,
        embedded_in: service.embedded,
        routes: [...service.routes].sort(),
      }));
    return {
      node_id: this.#options.selfId,
      complete: this.#complete,
      instances: this.nodes(),
      services,
      routes: this.#routes.size,
      rejected: { ...this.#rejected },
    };
  }
}
