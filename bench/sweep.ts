/**
 * Heartbeat sweep cost (issue 2): how long one sweep over 20,000 live sessions takes, in
 * process, with none of them idle (the common case: every sweep reads every session).
 */
import { HeartbeatSweeper } from "../src/core/heartbeat_sweeper.ts";
import { SessionManager } from "../src/core/session_manager.ts";
import type { Figure } from "./cluster.ts";

/** The sweep figure for `sessions` sessions; each run is the median of 200 sweeps. */
export function sweepFigure(sessions: number): Figure {
  return {
    id: "sweep_20000",
    title: `One heartbeat sweep over ${sessions} live sessions`,
    unit: "µs",
    run() {
      const manager = new SessionManager();
      for (let i = 0; i < sessions; i++) {
        manager.create(
          {
            kind: "websocket",
            outboundBytes: 0,
            write: (text: string) => text.length,
            close: () => {},
          },
          `10.0.0.1:${i}`,
        );
      }
      const sweeper = new HeartbeatSweeper(manager, { ttlMs: 60_000, intervalMs: 10_000 });
      const times: number[] = [];
      for (let i = 0; i < 200; i++) {
        const started = performance.now();
        sweeper.sweep();
        times.push((performance.now() - started) * 1000);
      }
      times.sort((a, b) => a - b);
      return Promise.resolve(times[times.length >> 1]);
    },
  };
}
