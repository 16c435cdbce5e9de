/**
 * Reads registry messages (`P.reg.announce`) from untrusted bytes. Any process on NATS can
 * publish there, so every field is checked before the registry keeps anything: the size first,
 * then the shape, then every name, which later becomes a map key and a metric label value.
 *
 * @module
 */
import {
  type Announcement,
  INSTANCE_ID,
  INSTANCE_KINDS,
  type InstanceKind,
  REGISTRY_VERSION,
  type RegistryMessage,
} from "./cluster_protocol.ts";
import { SERVICE_NAME } from "../core/service.ts";

/** Why a registry message was refused, as counted in `gateway_registry_rejected_total`. */
export type AnnouncementRejectReason =
  | "too_big"
  | "malformed"
  | "bad_name"
  | "duplicate_id"
  | "instances_full"
  | "services_full"
  | "routes_full";

/** Every {@linkcode AnnouncementRejectReason}, for metrics. */
export const ANNOUNCEMENT_REJECT_REASONS: readonly AnnouncementRejectReason[] = [
  "too_big",
  "malformed",
  "bad_name",
  "duplicate_id",
  "instances_full",
  "services_full",
  "routes_full",
];

/** The longest announce interval an instance may claim: an hour. */
const MAX_INTERVAL_MS = 3_600_000;

/** A registry message read from the wire, or why it was refused. */
export type ParsedRegistryMessage =
  | { ok: true; message: RegistryMessage }
  | { ok: false; reason: AnnouncementRejectReason; detail: string };

function refuse(reason: AnnouncementRejectReason, detail: string): ParsedRegistryMessage {
  return { ok: false, reason, detail };
}

const decoder = new TextDecoder();

/**
 * Reads one message of `P.reg.announce`, never throwing on bad input. An announcement comes
 * back normalised: methods sorted and without duplicates, services in name order, so two
 * announcements of the same routes compare equal as JSON.
 */
export function parseRegistryMessage(data: Uint8Array, maxBytes: number): ParsedRegistryMessage {
  if (data.byteLength > maxBytes) {
    return refuse("too_big", `${data.byteLength} bytes is above the limit of ${maxBytes}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch {
    return refuse("malformed", "not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return refuse("malformed", "not a JSON object");
  }
  const m = value as Record<string, unknown>;
  if (m.v !== REGISTRY_VERSION) return refuse("malformed", `version is not ${REGISTRY_VERSION}`);
  if (typeof m.id !== "string") return refuse("malformed", "id is not a string");
  if (!INSTANCE_ID.test(m.id)) {
    return refuse("bad_name", "id is not 1-64 letters, digits, _ or -");
  }
  if (m.op === "bye") return { ok: true, message: { v: REGISTRY_VERSION, op: "bye", id: m.id } };
  if (m.op !== "announce") return refuse("malformed", "op is neither announce nor bye");
  if (!INSTANCE_KINDS.includes(m.kind as InstanceKind)) {
    return refuse("malformed", `kind is not one of ${INSTANCE_KINDS.join(", ")}`);
  }
  if (typeof m.started !== "number" || !Number.isFinite(m.started) || m.started < 0) {
    return refuse("malformed", "started is not a time");
  }
  const interval = m.interval_ms;
  if (!Number.isSafeInteger(interval) || (interval as number) < 1) {
    return refuse("malformed", "interval_ms is not a positive integer");
  }
  if ((interval as number) > MAX_INTERVAL_MS) {
    return refuse("malformed", `interval_ms is above ${MAX_INTERVAL_MS}`);
  }
  if (
    m.sessions !== undefined && (!Number.isSafeInteger(m.sessions) || (m.sessions as number) < 0)
  ) {
    return refuse("malformed", "sessions is not a count");
  }
  if (typeof m.services !== "object" || m.services === null || Array.isArray(m.services)) {
    return refuse("malformed", "services is not an object");
  }
  const services: Record<string, string[]> = {};
  for (const name of Object.keys(m.services).sort()) {
    if (!SERVICE_NAME.test(name)) return refuse("bad_name", "a service name is not valid");
    const methods = (m.services as Record<string, unknown>)[name];
    if (!Array.isArray(methods)) return refuse("malformed", `services.${name} is not a list`);
    for (const method of methods) {
      if (typeof method !== "string") {
        return refuse("malformed", `services.${name} holds a non-string`);
      }
      if (!SERVICE_NAME.test(method)) {
        return refuse("bad_name", `a method name of ${name} is not valid`);
      }
    }
    services[name] = [...new Set(methods as string[])].sort();
  }
  const announcement: Announcement = {
    v: REGISTRY_VERSION,
    op: "announce",
    id: m.id,
    kind: m.kind as InstanceKind,
    started: m.started,
    interval_ms: interval as number,
    services,
  };
  if (m.sessions !== undefined) announcement.sessions = m.sessions as number;
  return { ok: true, message: announcement };
}
