/** Prometheus metrics of one hub process (prom-client), served at /metrics. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class HubMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({ name: 'handoff_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'] as const, registers: [this.registry] });
  readonly httpDuration = new Histogram({
    name: 'handoff_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly agentsConnected = new Gauge({ name: 'handoff_agents_connected', help: 'Agent sockets connected to this hub', registers: [this.registry] });
  readonly viewersConnected = new Gauge({ name: 'handoff_viewers_connected', help: 'Viewer sockets connected to this hub', registers: [this.registry] });
  readonly outputBytes = new Counter({ name: 'handoff_output_bytes_total', help: 'Terminal output bytes relayed from agents', registers: [this.registry] });
  readonly outputChunks = new Counter({ name: 'handoff_output_chunks_total', help: 'Terminal output chunks relayed from agents', registers: [this.registry] });
  readonly inputDropped = new Counter({ name: 'handoff_input_dropped_total', help: 'Viewer input frames dropped (no valid RW grant)', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly slowViewers = new Counter({ name: 'handoff_slow_viewers_total', help: 'Viewers taken off the live output because they stopped draining (resynced later)', registers: [this.registry] });
  readonly outputHolds = new Counter({ name: 'handoff_output_holds_total', help: 'Times an agent was asked to hold (or keep holding) a run\'s output because every viewer of it on this hub was behind', registers: [this.registry] });
  readonly sweeps = new Counter({ name: 'handoff_sweeper_actions_total', help: 'Changes made by the sweepers', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly isLeader = new Gauge({ name: 'handoff_sweeper_leader', help: '1 when this hub runs the sweepers', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'handoff_' });
  }
}
