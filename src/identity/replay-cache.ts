// Remembers one-time values (`jti` of DPoP proofs and client assertions) until they
// could no longer be accepted anyway. In memory: together with refusing proofs and
// assertions issued before the process started (see `notBefore` at the call sites),
// a restart opens no replay window.
//
// Values still within their window are never forgotten; expired ones are swept out
// when the cache has doubled since the last sweep, so a sweep's cost is spread over
// the entries added since (a sweep on every insertion once the cache is large, with
// every value still live, costs a millisecond per request).
// TODO(scale): replicas behind one load balancer need a shared cache (PostgreSQL).

const SWEEP_AT = 50_000;
const HARD_LIMIT = 1_000_000;

export class ReplayCache {
  #seen = new Map<string, number>();
  #sweepAt = SWEEP_AT;

  /** Records `key` until `expiresAt`; false if it was already recorded (a replay). */
  consume(key: string, expiresAt: number, now: number): boolean {
    const until = this.#seen.get(key);
    if (until !== undefined && until >= now) return false;
    if (this.#seen.size >= this.#sweepAt) this.#sweep(now);
    // Fail closed rather than grow without bound under a flood of unique values.
    if (this.#seen.size >= HARD_LIMIT) return false;
    this.#seen.set(key, expiresAt);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** How many times the cache was swept (each sweep walks it whole). */
  #sweeps = 0;
  get sweeps(): number {
    return this.#sweeps;
  }

  #sweep(now: number): void {
    this.#sweeps += 1;
    for (const [key, until] of this.#seen) if (until < now) this.#seen.delete(key);
    this.#sweepAt = Math.max(SWEEP_AT, 2 * this.#seen.size);
  }
}
