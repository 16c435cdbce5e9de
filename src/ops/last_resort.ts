/**
 * The last line of defence: an exception thrown from a callback no code of ours awaits (the
 * matrixai QUIC engine rethrows its internal errors this way, by design) would otherwise end
 * the process and drop every player. These handlers log it, count it and keep serving.
 *
 * @module
 */
import type { Logger } from "../core/logger.ts";

/** Installs process-wide handlers; returns a function that removes them. */
export function installLastResortHandlers(logger: Logger, onError: () => void): () => void {
  const onUncaught = (event: ErrorEvent) => {
    event.preventDefault();
    onError();
    logger.error("uncaught exception; still serving", { error: event.error ?? event.message });
  };
  const onRejection = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    onError();
    logger.error("unhandled promise rejection; still serving", { error: event.reason });
  };
  globalThis.addEventListener("error", onUncaught);
  globalThis.addEventListener("unhandledrejection", onRejection);
  return () => {
    globalThis.removeEventListener("error", onUncaught);
    globalThis.removeEventListener("unhandledrejection", onRejection);
  };
}
