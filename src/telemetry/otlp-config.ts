// Trace export configured the way every OpenTelemetry SDK is: from the standard
// OTEL_* environment variables (opentelemetry.io/docs/specs/otel/protocol/exporter/
// and .../configuration/sdk-environment-variables/), so an operator's existing setup
// applies unchanged. No endpoint means no export. A setting Mandate cannot honour is
// refused at startup by name, rather than half-applied: a trace pipeline that
// silently drops its TLS or transport settings is worse than none. Error messages
// never repeat a header's value (headers carry API keys).
import { MandateError } from '../errors.ts';

export interface OtlpConfig {
  /** The full URL spans are POSTed to, e.g. `http://collector:4318/v1/traces`. */
  endpoint: string;
  headers: Record<string, string>;
  timeoutMs: number;
  compression: 'gzip' | 'none';
  /** Resource attributes, service.name among them. */
  resource: Record<string, string>;
  scheduledDelayMs: number;
  maxQueueSize: number;
  maxExportBatchSize: number;
}

export const OTLP_DEFAULTS = { timeoutMs: 10_000, scheduledDelayMs: 1000, maxQueueSize: 2048, maxExportBatchSize: 512, serviceName: 'mandate' } as const;

type Env = Record<string, string | undefined>;

/** The trace exporter's configuration, or null when trace export is not configured (or is switched off). */
export function otlpConfigFromEnv(env: Env): OtlpConfig | null {
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return null;
  const exporters = (value(env, 'OTEL_TRACES_EXPORTER') ?? 'otlp').split(',').map((e) => e.trim().toLowerCase()).filter((e) => e !== '');
  if (exporters.includes('none') || exporters.length === 0) return null;
  const unsupportedExporter = exporters.find((e) => e !== 'otlp');
  if (unsupportedExporter !== undefined) throw invalid(`OTEL_TRACES_EXPORTER lists ${unsupportedExporter}; Mandate exports traces only over OTLP (otlp or none)`);

  const endpoint = tracesEndpoint(env);
  if (endpoint === null) return null;

  const protocol = signal(env, 'PROTOCOL');
  // The OTLP/HTTP receiver takes JSON and protobuf at the same path: asked for http/protobuf, JSON still arrives.
  if (protocol !== undefined && protocol.value !== 'http/json' && protocol.value !== 'http/protobuf') {
    throw invalid(`${protocol.name} is ${protocol.value}; Mandate exports OTLP over HTTP (http/json), not gRPC — point the endpoint at the collector's OTLP/HTTP port (4318 by default)`);
  }
  for (const setting of ['CERTIFICATE', 'CLIENT_KEY', 'CLIENT_CERTIFICATE'] as const) {
    const given = signal(env, setting);
    if (given !== undefined) throw invalid(`${given.name} is not supported; trust a private CA with NODE_EXTRA_CA_CERTS instead`);
  }
  const compression = signal(env, 'COMPRESSION');
  if (compression !== undefined && compression.value !== 'gzip' && compression.value !== 'none') throw invalid(`${compression.name} must be gzip or none, got ${compression.value}`);

  const headers = signal(env, 'HEADERS');
  const timeout = signal(env, 'TIMEOUT');
  const maxQueueSize = wholeNumber(env, 'OTEL_BSP_MAX_QUEUE_SIZE', OTLP_DEFAULTS.maxQueueSize, 1);
  const maxExportBatchSize = wholeNumber(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', OTLP_DEFAULTS.maxExportBatchSize, 1);
  if (maxExportBatchSize > maxQueueSize) throw invalid(`OTEL_BSP_MAX_EXPORT_BATCH_SIZE (${maxExportBatchSize}) must not exceed OTEL_BSP_MAX_QUEUE_SIZE (${maxQueueSize})`);
  const resource = keyValueList(value(env, 'OTEL_RESOURCE_ATTRIBUTES'), 'OTEL_RESOURCE_ATTRIBUTES');
  resource['service.name'] = value(env, 'OTEL_SERVICE_NAME') ?? resource['service.name'] ?? OTLP_DEFAULTS.serviceName;
  return {
    endpoint,
    headers: keyValueList(headers?.value, headers?.name ?? 'OTEL_EXPORTER_OTLP_HEADERS'),
    timeoutMs: timeout === undefined ? OTLP_DEFAULTS.timeoutMs : wholeNumber(env, timeout.name, OTLP_DEFAULTS.timeoutMs, 1),
    compression: compression?.value === 'gzip' ? 'gzip' : 'none',
    resource,
    scheduledDelayMs: wholeNumber(env, 'OTEL_BSP_SCHEDULE_DELAY', OTLP_DEFAULTS.scheduledDelayMs, 1),
    maxQueueSize,
    maxExportBatchSize,
  };
}

/**
 * The traces URL: the signal's own endpoint as given, or the base endpoint with
 * `v1/traces` appended to its path (`http://c:4318` and `http://c:4318/` both give
 * `http://c:4318/v1/traces`; `http://c/otlp` gives `http://c/otlp/v1/traces`).
 */
function tracesEndpoint(env: Env): string | null {
  const own = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (own !== undefined) return httpUrl(own, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT').href;
  const base = value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (base === undefined) return null;
  const url = httpUrl(base, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/traces`;
  return url.href;
}

function httpUrl(text: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(`${name} is not a URL: ${text}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`${name} must be an http or https URL, got ${url.protocol}`);
  return url;
}

/** A setting with its traces-specific variable taking precedence over the general one. */
function signal(env: Env, setting: string): { name: string; value: string } | undefined {
  for (const name of [`OTEL_EXPORTER_OTLP_TRACES_${setting}`, `OTEL_EXPORTER_OTLP_${setting}`]) {
    const given = value(env, name);
    if (given !== undefined) return { name, value: given };
  }
  return undefined;
}

/** A variable's value; empty counts as unset, as the specification says. */
function value(env: Env, name: string): string | undefined {
  const given = env[name]?.trim();
  return given === undefined || given === '' ? undefined : given;
}

/** `key1=value1,key2=value2`, values percent-decoded (the W3C Baggage format the specification uses). */
function keyValueList(text: string | undefined, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (text === undefined) return out;
  text.split(',').forEach((member, index) => {
    if (member.trim() === '') return;
    const eq = member.indexOf('=');
    const key = eq < 0 ? '' : member.slice(0, eq).trim();
    if (key === '') throw invalid(`${name}: entry ${index + 1} is not key=value`);
    try {
      out[key] = decodeURIComponent(member.slice(eq + 1).trim());
    } catch {
      throw invalid(`${name}: the value of ${key} is not valid percent-encoding`);
    }
  });
  return out;
}

function wholeNumber(env: Env, name: string, fallback: number, min: number): number {
  const given = value(env, name);
  if (given === undefined) return fallback;
  const n = Number(given);
  if (!/^\d+$/.test(given) || !Number.isSafeInteger(n) || n < min) throw invalid(`${name} must be a whole number from ${min}, got ${given}`);
  return n;
}

const invalid = (message: string): MandateError => new MandateError('invalid_config', message);
