/**
 * How long a handshake may take, learnt from the ones measured: the retransmission timeout of
 * TCP (RFC 6298), srtt + 4 × rttvar, kept between a floor and a ceiling. A client on a slow link
 * (a phone on a poor network, a far region) then doesn't take a handshake that is merely slow for
 * a blocked WebSocket.
 */

/** RFC 6298's gains: the mean moves by 1/8 of each error, the deviation by 1/4. */
const ALPHA = 1 / 8;
const BETA = 1 / 4;

export class RttEstimator {
  #srtt: number | undefined;
  #rttvar = 0;

  /** Adds a measured duration (ms). */
  sample(ms: number): void {
    if (!(ms >= 0 && Number.isFinite(ms))) return;
    if (this.#srtt === undefined) {
      this.#srtt = ms;
      this.#rttvar = ms / 2;
    } else {
      this.#rttvar = (1 - BETA) * this.#rttvar + BETA * Math.abs(this.#srtt - ms);
      this.#srtt = (1 - ALPHA) * this.#srtt + ALPHA * ms;
    }
  }

  /** srtt + 4 × rttvar, at least `floor` (also the answer before any sample) and at most `ceiling`. */
  timeout(floor: number, ceiling: number): number {
    if (this.#srtt === undefined) return floor;
    return Math.min(ceiling, Math.max(floor, Math.ceil(this.#srtt + 4 * this.#rttvar)));
  }
}
