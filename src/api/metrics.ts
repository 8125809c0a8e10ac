// Prometheus metrics at /metrics.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route'>;
  tokensIssued: Counter<'kind'>;
  tokenFailures: Counter<'error'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'mandate_process_' });
  return {
    registry,
    requests: new Counter({ name: 'mandate_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    duration: new Histogram({
      name: 'mandate_http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['method', 'route'], registers: [registry],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    }),
    tokensIssued: new Counter({ name: 'mandate_tokens_issued_total', help: 'Tokens issued by kind', labelNames: ['kind'], registers: [registry] }),
    tokenFailures: new Counter({ name: 'mandate_token_requests_failed_total', help: 'Refused token requests by OAuth error', labelNames: ['error'], registers: [registry] }),
  };
}
