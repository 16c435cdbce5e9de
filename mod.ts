/**
 * The MMO gateway as a library: write game services against it, start a gateway in-process,
 * or serve services from their own process over NATS.
 *
 * ```ts
 * import { defineService, startGateway, parseConfig } from "./mod.ts";
 *
 * const shop = defineService({
 *   name: "shop",
 *   routes: { list: () => [{ item: "sword", price: 10 }] },
 * });
 * ```
 *
 * @module
 */
export {
  defineService,
  type GroupPushOptions,
  type PushOptions,
  RouteError,
  type RouteErrorCode,
  type Service,
  type ServiceContext,
  type ServiceHandler,
  type SessionData,
} from "./src/core/service.ts";
export {
  createDefaultRouter,
  RunningGateway,
  startGateway,
  type StartGatewayOptions,
} from "./src/app.ts";
export { Router } from "./src/services/router.ts";
export {
  ConfigError,
  type GatewayConfig,
  type GatewayConfigInput,
  gatewayConfigSchema,
  loadConfig,
  parseConfig,
} from "./src/config/config.ts";
export {
  serveServices,
  type ServeServicesOptions,
  ServiceProcess,
} from "./src/cluster/service_process.ts";
export { type LogFields, Logger, type LogLevel } from "./src/core/logger.ts";
export type { HealthReport } from "./src/ops/metrics_server.ts";
export type { GatewayMetrics } from "./src/ops/metrics.ts";
export type { SessionManager } from "./src/core/session_manager.ts";
export type { Hub } from "./src/services/hub.ts";
