// Nonlinear least squares for the lowtime-compatible cost model: cost(q) = a·e^(b·q) + c fitted by
// Levenberg–Marquardt from a grid of initial guesses, keeping the lowest mean squared error with a ≥ 0.

/** Fitted exponential cost model coefficients and the fit's mean squared error. */
export interface ExponentialFit {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly mse: number;
}

const MAX_ITERATIONS = 5000;

function sse(x: Float64Array, y: Float64Array, a: number, b: number, c: number): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const r = a * Math.exp(b * x[i]!) + c - y[i]!;
    s += r * r;
  }
  return s;
}

/** Solves the 3×3 system M·δ = v by Gaussian elimination with partial pivoting; undefined if singular. */
function solve3(m: number[], v: number[]): number[] | undefined {
  const a = [
    [m[0]!, m[1]!, m[2]!, v[0]!],
    [m[3]!, m[4]!, m[5]!, v[1]!],
    [m[6]!, m[7]!, m[8]!, v[2]!],
  ];
  for (let col = 0; col < 3; col++) {
    let pivot = col;
    for (let r = col + 1; r < 3; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    if (!(Math.abs(a[pivot]![col]!) > 0)) return undefined;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    for (let r = col + 1; r < 3; r++) {
      const f = a[r]![col]! / a[col]![col]!;
      for (let k = col; k < 4; k++) a[r]![k]! -= f * a[col]![k]!;
    }
  }
  const out = [0, 0, 0];
  for (let r = 2; r >= 0; r--) {
    let s = a[r]![3]!;
    for (let k = r + 1; k < 3; k++) s -= a[r]![k]! * out[k]!;
    out[r] = s / a[r]![r]!;
  }
  return out.every(Number.isFinite) ? out : undefined;
}

/**
 * Levenberg–Marquardt (Marquardt's diagonal scaling, Nielsen's damping update) from one initial guess.
 * Returns undefined when it does not converge or the problem is degenerate at the solution.
 */
export function fitExponentialFrom(x: Float64Array, y: Float64Array, guess: readonly [number, number, number]): ExponentialFit | undefined {
  let [a, b, c] = guess;
  let cost = sse(x, y, a, b, c);
  if (!Number.isFinite(cost)) return undefined;
  let lambda = -1;
  let nu = 2;
  for (let iter = 0; iter < MAX_ITERATIONS; iter++) {
    // Normal equations JᵀJ and Jᵀr for r = f − y, J = [e^(bq), a·q·e^(bq), 1].
    const jtj = [0, 0, 0, 0, 0, 0, 0, 0, 0];
    const jtr = [0, 0, 0];
    for (let i = 0; i < x.length; i++) {
      const e = Math.exp(b * x[i]!);
      const j0 = e;
      const j1 = a * x[i]! * e;
      const r = a * e + c - y[i]!;
      jtj[0]! += j0 * j0;
      jtj[1]! += j0 * j1;
      jtj[2]! += j0;
      jtj[4]! += j1 * j1;
      jtj[5]! += j1;
      jtj[8]! += 1;
      jtr[0]! += j0 * r;
      jtr[1]! += j1 * r;
      jtr[2]! += r;
    }
    jtj[3] = jtj[1]!;
    jtj[6] = jtj[2]!;
    jtj[7] = jtj[5]!;
    const diag = [Math.max(jtj[0]!, 1e-300), Math.max(jtj[4]!, 1e-300), Math.max(jtj[8]!, 1e-300)];
    if (lambda < 0) lambda = 1e-3;
    let accepted = false;
    for (let tries = 0; tries < 60 && !accepted; tries++) {
      const m = jtj.slice();
      m[0]! += lambda * diag[0]!;
      m[4]! += lambda * diag[1]!;
      m[8]! += lambda * diag[2]!;
      const step = solve3(m, [-jtr[0]!, -jtr[1]!, -jtr[2]!]);
      if (step === undefined) {
        lambda *= nu;
        nu *= 2;
        continue;
      }
      const na = a + step[0]!;
      const nb = b + step[1]!;
      const nc = c + step[2]!;
      const newCost = sse(x, y, na, nb, nc);
      // Predicted reduction of the linearised model: δᵀ(λ·D·δ − Jᵀr).
      const predicted =
        step[0]! * (lambda * diag[0]! * step[0]! - jtr[0]!) +
        step[1]! * (lambda * diag[1]! * step[1]! - jtr[1]!) +
        step[2]! * (lambda * diag[2]! * step[2]! - jtr[2]!);
      const rho = predicted > 0 ? (cost - newCost) / predicted : -1;
      if (Number.isFinite(newCost) && rho > 0) {
        const stepSmall =
          Math.abs(step[0]!) <= 1e-15 * (Math.abs(a) + 1e-15) &&
          Math.abs(step[1]!) <= 1e-15 * (Math.abs(b) + 1e-15) &&
          Math.abs(step[2]!) <= 1e-15 * (Math.abs(c) + 1e-15);
        const reduction = cost - newCost;
        a = na;
        b = nb;
        c = nc;
        cost = newCost;
        lambda *= Math.max(1 / 3, 1 - (2 * rho - 1) ** 3);
        nu = 2;
        accepted = true;
        if (stepSmall || reduction <= 1e-15 * cost) return finishFit(x, a, b, c, cost);
      } else {
        lambda *= nu;
        nu *= 2;
        if (!Number.isFinite(lambda) || lambda > 1e300) return finishFit(x, a, b, c, cost);
      }
    }
    if (!accepted) return finishFit(x, a, b, c, cost);
  }
  return undefined;
}

function finishFit(x: Float64Array, a: number, b: number, c: number, cost: number): ExponentialFit | undefined {
  // Three parameters need more than three points for a meaningful fit (and a covariance estimate).
  if (x.length <= 3 || ![a, b, c, cost].every(Number.isFinite)) return undefined;
  return { a, b, c, mse: cost / x.length };
}

/**
 * Fits `cost(q) = a·e^(b·q) + c` from every initial guess a ∈ {10, 100, 1000}, b ∈ {−k·unit/1 ms : k ∈
 * {0.01, 0.02, 0.03, 0.04, 0.05, 0.1}}, c ∈ {10, 100, 1000}; returns the lowest-MSE fit with a ≥ 0.
 */
export function fitExponential(quantTimes: ArrayLike<number>, costs: ArrayLike<number>, unitTimeSeconds: number): ExponentialFit | undefined {
  const x = Float64Array.from(quantTimes);
  const y = Float64Array.from(costs);
  let best: ExponentialFit | undefined;
  for (const a0 of [10, 100, 1000]) {
    for (const k of [0.01, 0.02, 0.03, 0.04, 0.05, 0.1]) {
      for (const c0 of [10, 100, 1000]) {
        const fit = fitExponentialFrom(x, y, [a0, (-k * unitTimeSeconds) / 0.001, c0]);
        if (fit === undefined || fit.a < 0) continue;
        if (best === undefined || fit.mse < best.mse) best = fit;
      }
    }
  }
  return best;
}
