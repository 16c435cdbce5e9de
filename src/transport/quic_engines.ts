/**
 * Looks QUIC engines up by their config name. The `matrixai` engine loads a native addon, so
 * it is imported only when asked for.
 *
 * @module
 */
import type { QuicEngine } from "./quic_engine.ts";
import type { QuicEngineName } from "../config/config.ts";
import { nativeQuicEngine } from "./quic_engine_native.ts";

/** Loads the engine called `name`. */
export async function loadQuicEngine(name: QuicEngineName): Promise<QuicEngine> {
  switch (name) {
    case "native":
      return nativeQuicEngine;
    case "matrixai":
      return (await import("./quic_engine_matrixai.ts")).matrixaiQuicEngine;
  }
}
