/**
 * Merges the Prometheus text of several gateway workers into one exposition, each sample
 * labelled `worker="<index>"`, so operators scrape one endpoint and sum with
 * `sum without (worker) (...)`.
 *
 * @module
 */

interface Family {
  help?: string;
  type?: string;
  samples: string[];
}

/** Adds `worker="i"` as the first label of one sample line. */
function labelSample(line: string, worker: number): string {
  const brace = line.indexOf("{");
  const space = line.indexOf(" ");
  if (brace >= 0 && brace < space) {
    return `${line.slice(0, brace + 1)}worker="${worker}",${line.slice(brace + 1)}`;
  }
  return `${line.slice(0, space)}{worker="${worker}"}${line.slice(space)}`;
}

/** Merges expositions (index = worker number; null = worker not answering) into one. */
export function mergeWorkerMetrics(texts: readonly (string | null)[]): string {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, f = { samples: [] });
    return f;
  };
  texts.forEach((text, worker) => {
    if (text === null) return;
    let current: Family | undefined;
    for (const line of text.split("\n")) {
      if (line.length === 0) continue;
      const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (meta) {
        current = family(meta[2]);
        if (meta[1] === "HELP") current.help ??= meta[3];
        else current.type ??= meta[3];
      } else if (!line.startsWith("#")) {
        (current ?? family(line.split(/[{ ]/, 1)[0])).samples.push(labelSample(line, worker));
      }
    }
  });
  const up = family("gateway_workers_up");
  up.help = "1 for each worker whose metrics answered this scrape.";
  up.type = "gauge";
  texts.forEach((text, worker) =>
    up.samples.push(`gateway_workers_up{worker="${worker}"} ${text === null ? 0 : 1}`)
  );
  let out = "";
  for (const [name, f] of families) {
    if (f.help !== undefined) out += `# HELP ${name} ${f.help}\n`;
    if (f.type !== undefined) out += `# TYPE ${name} ${f.type}\n`;
    for (const sample of f.samples) out += sample + "\n";
  }
  return out;
}
