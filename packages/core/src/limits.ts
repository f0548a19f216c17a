/**
 * Admission limits: connection caps per endpoint and per client address, a handshake rate per
 * address, and a message rate per connection. Each is a token bucket or a counter; none keeps
 * memory per address beyond the addresses that are connected or were refused a moment ago, and
 * an address is kept only as an IP, so an entry is small whatever a forwarding header says.
 */
import { isIP } from 'node:net';

/** A rate: `count` per `per` milliseconds, with bursts up to `burst`. */
export interface Rate {
  /** Tokens added per `per` ms. */
  count: number;
  /** The period in ms. */
  per: number;
  /** The bucket's size: how many may come at once. */
  burst: number;
}

/**
 * A token bucket, stored as two numbers so that one per connection or per address stays small.
 * `take` refills by the time elapsed, then takes `cost` tokens if there are enough.
 */
export class TokenBucket {
  tokens: number;
  last: number;

  constructor(rate: Rate, now: number) {
    this.tokens = rate.burst;
    this.last = now;
  }

  /** Takes `cost` tokens; false (and nothing taken) when the bucket has fewer. */
  take(rate: Rate, now: number, cost = 1): boolean {
    this.refill(rate, now);
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** Milliseconds until `cost` tokens are there. */
  wait(rate: Rate, now: number, cost = 1): number {
    this.refill(rate, now);
    return this.tokens >= cost ? 0 : ((cost - this.tokens) * rate.per) / rate.count;
  }

  /** True when the bucket is full again, so forgetting it changes nothing. */
  full(rate: Rate, now: number): boolean {
    this.refill(rate, now);
    return this.tokens >= rate.burst;
  }

  private refill(rate: Rate, now: number): void {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(rate.burst, this.tokens + (elapsed * rate.count) / rate.per);
      this.last = now;
    }
  }
}

/** Addresses whose handshake buckets are kept before full ones are forgotten. */
const MAX_TRACKED_ADDRESSES = 10_000;

/** The longest IP in text: IPv6 with an IPv4 tail, `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`. */
const MAX_IP_LENGTH = 45;

/**
 * The key of a client address in the per-address tables: the IP itself, without an IPv6 zone
 * (`%eth0`, meaningless for a remote peer and of any length); '' when no address is known (a
 * socket already gone, or an in-process injected one); undefined when it is not an IP. Behind a
 * trusted proxy the address comes from `X-Forwarded-For` and may be anything the client wrote:
 * 4 KB of it per entry would make 10,000 entries cost 40 MB instead of about 1.
 */
export function addressKey(address: string | undefined): string | undefined {
  if (address === undefined || address === '') return '';
  const zone = address.indexOf('%');
  const ip = zone === -1 ? address : address.slice(0, zone);
  return ip.length <= MAX_IP_LENGTH && isIP(ip) !== 0 ? ip : undefined;
}

/** Why an address may not connect now, with the seconds to wait. */
export interface AddressRefusal {
  /** The option that refused. */
  limit: 'maxConnections' | 'maxConnectionsPerAddress' | 'handshakeRate';
  status: 429 | 503;
  message: string;
  retryAfter: number;
}

/**
 * Connection counts and handshake buckets per endpoint and per client address. A handshake
 * reserves its place when it is admitted and gives it back if it is refused later (by the
 * `upgrade` hook, or a client that leaves), so concurrent handshakes can't overshoot a cap.
 */
export class AdmissionLimits {
  readonly #max: number;
  readonly #maxPerAddress: number;
  readonly #rate: Rate | undefined;
  #count = 0;
  readonly #perAddress = new Map<string, number>();
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(max: number, maxPerAddress: number, rate: Rate | undefined) {
    this.#max = max;
    this.#maxPerAddress = maxPerAddress;
    this.#rate = rate;
  }

  /** True when there is anything to check. */
  get active(): boolean {
    return this.#max !== Infinity || this.#maxPerAddress !== Infinity || this.#rate !== undefined;
  }

  /** True when a table is kept per client address, so the address must be an IP (see addressKey). */
  get perAddress(): boolean {
    return this.#maxPerAddress !== Infinity || this.#rate !== undefined;
  }

  /** Reserves a place for a connection from `address` (a key from addressKey), or says why not. */
  reserve(address: string, now: number): AddressRefusal | undefined {
    if (this.#count >= this.#max) {
      return {
        limit: 'maxConnections',
        status: 503,
        message: `This endpoint is full (${this.#max} connections)`,
        retryAfter: 1,
      };
    }
    const current = this.#perAddress.get(address) ?? 0;
    if (current >= this.#maxPerAddress) {
      return {
        limit: 'maxConnectionsPerAddress',
        status: 429,
        message: `Too many connections from ${address} (at most ${this.#maxPerAddress})`,
        retryAfter: 1,
      };
    }
    const rate = this.#rate;
    if (rate) {
      let bucket = this.#buckets.get(address);
      if (!bucket) {
        if (this.#buckets.size >= MAX_TRACKED_ADDRESSES) this.#forgetFull(rate, now);
        bucket = new TokenBucket(rate, now);
        this.#buckets.set(address, bucket);
      }
      if (!bucket.take(rate, now)) {
        const wait = bucket.wait(rate, now);
        return {
          limit: 'handshakeRate',
          status: 429,
          message: `Too many handshakes from ${address}`,
          retryAfter: Math.max(1, Math.ceil(wait / 1000)),
        };
      }
    }
    this.#count++;
    if (this.#maxPerAddress !== Infinity) this.#perAddress.set(address, current + 1);
    return undefined;
  }

  /** Gives back a place taken by {@link reserve}: the connection closed, or never opened. */
  release(address: string): void {
    this.#count--;
    if (this.#maxPerAddress === Infinity) return;
    const current = this.#perAddress.get(address) ?? 0;
    if (current <= 1) this.#perAddress.delete(address);
    else this.#perAddress.set(address, current - 1);
  }

  /** Open and reserved connections. */
  get count(): number {
    return this.#count;
  }

  /** Addresses with a handshake bucket (bounded by MAX_TRACKED_ADDRESSES). */
  get trackedAddresses(): number {
    return this.#buckets.size;
  }

  /** Addresses with an open or reserved connection (bounded by the connections themselves). */
  get connectedAddresses(): number {
    return this.#perAddress.size;
  }

  /**
   * Forgets the buckets that are full again: they would admit as a new one does. Under a flood
   * from more addresses than that, the oldest go too (a tenth at a time), which at worst lets
   * such a client start again with a full bucket.
   */
  #forgetFull(rate: Rate, now: number): void {
    for (const [address, bucket] of this.#buckets) {
      if (bucket.full(rate, now)) this.#buckets.delete(address);
    }
    // Down to 90% at once, so that a flood pays this scan once per thousand new addresses.
    for (const address of this.#buckets.keys()) {
      if (this.#buckets.size < MAX_TRACKED_ADDRESSES * 0.9) break;
      this.#buckets.delete(address);
    }
  }
}
