import { isDigest } from '../manifest/digest.js';
import { isImageManifestMediaType, isIndexMediaType } from '../manifest/media-types.js';
import { isValidRepository, isValidTag } from '../ref/reference.js';

/**
 * Registry notifications, validated. distribution POSTs `{"events":[…]}` with the media type
 * `application/vnd.docker.distribution.events.v2+json` to every endpoint of its `notifications`
 * config (docs/content/about/notifications.md in distribution; 3.x adds the OCI descriptor fields
 * to `target`). Everything here comes from the network: each field is checked against the same
 * grammar krill applies to user input, and an event that fails is dropped with a reason, never
 * half-used. Pure: no I/O.
 */

/** What the ledger records of one event. */
export interface LedgerEvent {
  /** The registry's event id: retries and replicas repeat it, so it is the idempotency key. */
  id: string;
  action: 'push' | 'pull' | 'delete';
  /** Milliseconds since the epoch, from the registry's clock. */
  time: number;
  repository: string;
  /** "" only for a tag delete (distribution 3 sends none then). */
  digest: string;
  tag?: string;
  /** The request method (a pull by HEAD only resolves a tag: not counted by default). */
  method: string;
  userAgent: string;
  /** The registry instance that sent it (distribution's `source.instanceID`). */
  instance: string;
  /** The host the client asked for (`request.host`), lower case; "" when absent or not a host. */
  host: string;
}

export interface ParsedNotification {
  events: LedgerEvent[];
  /** Why each dropped event was dropped (blob events are skipped silently: they are not images). */
  rejected: string[];
}

/** The most events one request may carry; distribution sends one (its broadcaster's batch is 1). */
export const MAX_EVENTS = 1000;
const MAX_ID = 128;
const MAX_AGENT = 256;
/** Times further than this in the future are a wrong clock or a forgery: refused. */
const MAX_SKEW_MS = 24 * 3_600_000;
/** 2000-01-01: an older event time is a zero value, not a date. */
const EARLIEST = Date.UTC(2000, 0, 1);

const PRINTABLE = /^[\x20-\x7e]*$/;
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/** Parses a notification envelope; throws only when the envelope itself is unusable. */
export function parseNotification(body: unknown, now: number): ParsedNotification {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { events?: unknown }).events))
    throw new Error('expected {"events": [...]}');
  const list = (body as { events: unknown[] }).events;
  if (list.length > MAX_EVENTS) throw new Error(`more than ${MAX_EVENTS} events in one request`);
  const events: LedgerEvent[] = [];
  const rejected: string[] = [];
  for (const raw of list) {
    const result = parseEvent(raw, now);
    if (typeof result === 'string') rejected.push(result);
    else if (result) events.push(result);
  }
  return { events, rejected };
}

/** One event: the event, undefined for an event the ledger does not track, or why it is refused. */
function parseEvent(raw: unknown, now: number): LedgerEvent | string | undefined {
  if (typeof raw !== 'object' || raw === null) return 'an event that is not an object';
  const event = raw as Record<string, unknown>;
  const target = record(event.target);
  const request = record(event.request);
  const source = record(event.source);
  const id = event.id;
  if (typeof id !== 'string' || id === '' || id.length > MAX_ID || !PRINTABLE.test(id))
    return 'an event without a usable id';
  const action = event.action;
  if (action === 'mount') return undefined; // a blob mounted from another repository: no image event
  if (action !== 'push' && action !== 'pull' && action !== 'delete') return `event ${id}: unknown action`;
  const mediaType = typeof target.mediaType === 'string' ? target.mediaType : '';
  // Blob pushes and pulls come as their own events (mediaType application/octet-stream); a
  // delete event of distribution carries no media type at all, and names a manifest.
  if (action === 'delete' ? mediaType === 'application/octet-stream' : !isManifestType(mediaType)) return undefined;
  const repository = target.repository;
  if (typeof repository !== 'string' || !isValidRepository(repository)) return `event ${id}: invalid repository`;
  const tag = target.tag;
  if (tag !== undefined && tag !== '' && (typeof tag !== 'string' || !isValidTag(tag)))
    return `event ${id}: invalid tag`;
  const digest = target.digest;
  // distribution 3 notifies a tag delete with the tag and an empty digest.
  const tagDelete = action === 'delete' && typeof tag === 'string' && tag !== '' && digest === '';
  if (!tagDelete && (typeof digest !== 'string' || !isDigest(digest))) return `event ${id}: invalid digest`;
  const time = typeof event.timestamp === 'string' ? Date.parse(event.timestamp) : NaN;
  if (!Number.isFinite(time) || time < EARLIEST || time > now + MAX_SKEW_MS) return `event ${id}: invalid timestamp`;
  const method = typeof request.method === 'string' && /^[A-Z]{1,10}$/.test(request.method) ? request.method : '';
  const agent = typeof request.useragent === 'string' ? request.useragent : '';
  const instance = typeof source.instanceID === 'string' ? source.instanceID : '';
  const host = typeof request.host === 'string' && HOST_RE.test(request.host) ? request.host.toLowerCase() : '';
  return {
    id,
    action,
    time,
    repository,
    digest: digest as string,
    ...(typeof tag === 'string' && tag !== '' ? { tag } : {}),
    method,
    userAgent: printable(agent, MAX_AGENT),
    instance: printable(instance, MAX_ID),
    host,
  };
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function isManifestType(mediaType: string): boolean {
  // Artifacts (signatures, SBOMs) are OCI image manifests with an artifactType: tracked too.
  return isImageManifestMediaType(mediaType) || isIndexMediaType(mediaType);
}

/** Control and non-ASCII characters become `?`; long values are cut (they end up in plan reasons). */
function printable(text: string, max: number): string {
  return text.slice(0, max).replace(/[^\x20-\x7e]/g, '?');
}

/** Which pulls count as use: manifest GETs, not HEADs, not krill, not the agents the user lists. */
export interface PullFilter {
  countHead: boolean;
  /** User agents whose pulls are not use (scanners, replication, UIs); krill's own always. */
  ignoreAgents: Array<{ test(text: string): boolean }>;
}

const KRILL_AGENT = /^krill(\/|\s|$)/;

export function countsAsPull(event: LedgerEvent, filter: PullFilter): boolean {
  if (event.action !== 'pull') return false;
  if (event.method === 'HEAD' && !filter.countHead) return false;
  if (event.method !== 'GET' && event.method !== 'HEAD') return false;
  if (KRILL_AGENT.test(event.userAgent)) return false;
  return !filter.ignoreAgents.some((re) => re.test(event.userAgent));
}
