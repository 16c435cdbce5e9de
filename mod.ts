/**
 * The MMO gateway as a library: write game services, start a gateway in this process, or serve
 * services from their own process over NATS.
 *
 * ```ts
 * import { defineService, parseConfig, Router, startGateway } from "./mod.ts";
 *
 * const shop = defineService({
 *   name: "shop",
 *   routes: { list: () => [{ item: "sword", price: 10 }] },
 * });
 * const gateway = startGateway(parseConfig({ websocket: { port: 8081 } }), {
 *   router: new Router().addService(shop),
 * });
 * await gateway.ready;
 * ```
 *
 * @module
 */
import {
  type GatewayServer,
  startGateway as startRunningGateway,
  type StartGatewayOptions,
} from "./src/app.ts";
import type { GatewayConfig } from "./src/config/config.ts";

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
export { Router } from "./src/services/router.ts";
export { type GatewayServer, type StartGatewayOptions } from "./src/app.ts";
export type { HealthReport, HealthStatus } from "./src/ops/metrics_server.ts";
export { ConfigError, loadConfig, parseConfig } from "./src/config/config.ts";
export type * from "./src/config/config_types.ts";
export {
  serveServices,
  type ServeServicesOptions,
  ServiceProcess,
} from "./src/cluster/service_process.ts";
export { type LogFields, Logger, type LogLevel, type LogSink } from "./src/core/logger.ts";
export {
  type TokenFault,
  TokenKeyError,
  TokenRejectedError,
  type TokenVerifier,
  type VerifiedToken,
} from "./src/core/token_verifier.ts";

/**
 * Starts a gateway in this process with a validated config (see {@linkcode parseConfig} and
 * {@linkcode loadConfig}); await `ready` before connecting clients.
 *
 * @throws {ListenError} when a listener cannot bind.
 */
export function startGateway(
  config: GatewayConfig,
  options?: StartGatewayOptions,
): GatewayServer {
  return startRunningGateway(config, options);
}
