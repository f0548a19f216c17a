/**
 * Live numbers of one endpoint: plain counters and a fixed-size reservoir of ping round trips,
 * cheap enough to leave on (a few additions per message, no allocation).
 */
import type { Transport } from './diagnostics.js';

/** RTT samples kept: the most recent ones, in a ring. */
const RTT_SAMPLES = 256;

/** Ping round-trip times (ms) of the most recent heartbeat and `ping()` pongs. */
export interface RttSummary {
  /** Pongs measured since the endpoint started. */
  count: number;
  /** Percentiles over the last 256 samples; `undefined` before the first pong. */
  p50: number | undefined;
  p90: number | undefined;
  p99: number | undefined;
  max: number | undefined;
}

/** What `endpoint.stats()` returns: a snapshot, safe to keep and serialise. */
export interface EndpointStatsSnapshot {
  /** Open connections by transport. */
  open: Record<Transport, number>;
  /**
   * Handshakes: accepted, refused by HTTP status (0: the client left first), in progress now
   * (`pending`, bounded by `maxPendingHandshakes`) and shed by that bound (each also counted
   * under 503).
   */
  handshakes: { accepted: number; refused: Record<number, number>; pending: number; shed: number };
  /** Messages received and sent (hub deliveries included). */
  messages: { in: number; out: number };
  /** Payload bytes received and sent (text as UTF-8). */
  bytes: { in: number; out: number };
  /** Closed connections by close code. */
  closes: Record<number, number>;
  /** Ping round trips. */
  rtt: RttSummary;
}

/** The counters behind `endpoint.stats()`. */
export class EndpointStats {
  openWebSocket = 0;
  openSse = 0;
  accepted = 0;
  readonly refused = new Map<number, number>();
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  readonly closes = new Map<number, number>();
  readonly #rtt = new Float64Array(RTT_SAMPLES);
  #rttCount = 0;

  /** Counts a refused handshake. */
  refuse(status: number): void {
    this.refused.set(status, (this.refused.get(status) ?? 0) + 1);
  }

  opened(transport: Transport): void {
    this.accepted++;
    if (transport === 'sse') this.openSse++;
    else this.openWebSocket++;
  }

  closed(transport: Transport, code: number): void {
    if (transport === 'sse') this.openSse--;
    else this.openWebSocket--;
    this.closes.set(code, (this.closes.get(code) ?? 0) + 1);
  }

  /** Records a ping's round trip in ms. */
  rtt(ms: number): void {
    this.#rtt[this.#rttCount++ % RTT_SAMPLES] = ms;
  }

  /** The numbers now; `pending` and `shed` come from the endpoint's bound on handshakes in progress. */
  snapshot(pending = 0, shed = 0): EndpointStatsSnapshot {
    const n = Math.min(this.#rttCount, RTT_SAMPLES);
    const sorted = Array.from(this.#rtt.subarray(0, n)).sort((a, b) => a - b);
    const at = (q: number): number | undefined => (n === 0 ? undefined : sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]);
    return {
      open: { websocket: this.openWebSocket, sse: this.openSse },
      handshakes: { accepted: this.accepted, refused: Object.fromEntries(this.refused), pending, shed },
      messages: { in: this.messagesIn, out: this.messagesOut },
      bytes: { in: this.bytesIn, out: this.bytesOut },
      closes: Object.fromEntries(this.closes),
      rtt: {
        count: this.#rttCount,
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: n === 0 ? undefined : sorted[n - 1],
      },
    };
  }
}
