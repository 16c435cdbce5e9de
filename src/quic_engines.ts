/**
 * Looks QUIC engines up by their config name. The `matrixai` engine loads a native addon, so
 * it is imported only when asked for.
 *
 * @module
 */
import type { QuicEngine, QuicEngineName } from "./transport_quic.ts";
import { nativeQuicEngine } from "./transport_quic_native.ts";

/** Loads the engine called `name`. */
export async function loadQuicEngine(name: QuicEngineName): Promise<QuicEngine> {
  switch (name) {
    case "native":
      return nativeQuicEngine;
    case "matrixai":
      return (await import("./transport_quic_matrixai.ts")).matrixaiQuicEngine;
  }
}
