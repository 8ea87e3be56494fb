/**
 * Writes the gradient at x into gradient and returns the objective's value at x.
 * Both come from one pass because, for a model over many rows, the pass over
 * the rows is the whole cost.
 */
export type Objective = (x: Float64Array, gradient: Float64Array) => number;

export interface LbfgsOptions {
  /** Accepted steps before giving up; each costs at least one evaluation. */
  maxIterations: number;
  /** Converged when the largest absolute gradient component falls below this. */
  tolerance: number;
  /** Correction pairs kept for the inverse Hessian estimate. */
  memory?: number;
}

export type StopReason = 'tolerance' | 'max-iterations' | 'no-progress';

export interface LbfgsResult {
  x: Float64Array;
  value: number;
  /** Largest absolute gradient component at x. */
  gradientNorm: number;
  iterations: number;
  evaluations: number;
  stopReason: StopReason;
}

const ARMIJO = 1e-4;
const MAX_LINE_SEARCH = 30;
// A decrease below 64 ulps of the objective is rounding noise: steps past
// that point cannot be told apart from standing still.
const NO_PROGRESS = 64 * Number.EPSILON;

/**
 * Minimises an objective with limited-memory BFGS: the two-loop recursion for
 * the direction and a backtracking line search with the Armijo condition,
 * which accepts the quasi-Newton step of 1 almost always, so an iteration
 * usually costs a single evaluation.
 *
 * The tolerance is on the largest gradient component (as scikit-learn's gtol
 * is), so the same number means the same thing in both.
 */
export function minimizeLbfgs(
  objective: Objective,
  x0: Float64Array,
  options: LbfgsOptions,
): LbfgsResult {
  const { maxIterations, tolerance, memory = 10 } = options;
  if (!Number.isInteger(maxIterations) || maxIterations < 0) {
    throw new RangeError(`maxIterations must be a non-negative integer, got ${maxIterations}`);
  }
  if (!(tolerance >= 0)) throw new RangeError(`tolerance must be >= 0, got ${tolerance}`);

  const n = x0.length;
  let x = Float64Array.from(x0);
  let gradient = new Float64Array(n);
  let value = objective(x, gradient);
  let evaluations = 1;
  if (!Number.isFinite(value)) throw new Error(`the objective is ${value} at the starting point`);

  // Candidate buffers swap with the current ones on acceptance: no allocation per step.
  let xNext = new Float64Array(n);
  let gradientNext = new Float64Array(n);
  const direction = new Float64Array(n);
  const history = new CorrectionHistory(n, memory);

  let iterations = 0;
  let stopReason: StopReason = 'max-iterations';
  for (;;) {
    if (maxNorm(gradient) < tolerance) {
      stopReason = 'tolerance';
      break;
    }
    if (iterations >= maxIterations) break;

    history.direction(gradient, direction);
    let slope = dot(gradient, direction);
    if (!(slope < 0)) {
      // The curvature estimate went bad; steepest descent is always downhill.
      history.clear();
      history.direction(gradient, direction);
      slope = dot(gradient, direction);
    }

    // Without curvature pairs the direction is the raw gradient, whose length
    // says nothing about a good step: start from a unit-length move instead.
    let step = history.size === 0 ? Math.min(1, 1 / Math.sqrt(dot(gradient, gradient))) : 1;
    let accepted = false;
    let nextValue = NaN;
    for (let trial = 0; trial < MAX_LINE_SEARCH; trial++) {
      for (let i = 0; i < n; i++) xNext[i] = x[i]! + step * direction[i]!;
      nextValue = objective(xNext, gradientNext);
      evaluations++;
      if (Number.isFinite(nextValue) && nextValue <= value + ARMIJO * step * slope) {
        accepted = true;
        break;
      }
      step = backtrack(step, value, slope, nextValue);
    }

    if (!accepted) {
      if (history.size > 0) {
        history.clear();
        continue;
      }
      stopReason = 'no-progress';
      break;
    }

    history.push(x, xNext, gradient, gradientNext);
    const decrease = value - nextValue;
    [x, xNext] = [xNext, x];
    [gradient, gradientNext] = [gradientNext, gradient];
    value = nextValue;
    iterations++;
    if (decrease <= NO_PROGRESS * Math.max(Math.abs(value), Math.abs(value + decrease), 1)) {
      stopReason = maxNorm(gradient) < tolerance ? 'tolerance' : 'no-progress';
      break;
    }
  }

  return { x, value, gradientNorm: maxNorm(gradient), iterations, evaluations, stopReason };
}

/**
 * The minimiser of the quadratic through the current value, slope and the
 * rejected trial, kept within [0.1, 0.5] of the trial step so a poor fit can
 * neither stall nor overshoot.
 */
function backtrack(step: number, value: number, slope: number, trialValue: number): number {
  if (!Number.isFinite(trialValue)) return step * 0.1;
  const curvature = trialValue - value - slope * step;
  const minimiser = curvature > 0 ? (-slope * step * step) / (2 * curvature) : step * 0.5;
  return Math.min(Math.max(minimiser, step * 0.1), step * 0.5);
}

/** The last few steps (s) and gradient changes (y), in a ring. */
class CorrectionHistory {
  #s: Float64Array[];
  #y: Float64Array[];
  #rho: Float64Array;
  #alpha: Float64Array;
  #newest = -1;
  size = 0;

  constructor(n: number, capacity: number) {
    this.#s = Array.from({ length: capacity }, () => new Float64Array(n));
    this.#y = Array.from({ length: capacity }, () => new Float64Array(n));
    this.#rho = new Float64Array(capacity);
    this.#alpha = new Float64Array(capacity);
  }

  clear(): void {
    this.size = 0;
    this.#newest = -1;
  }

  push(
    x: Float64Array,
    xNext: Float64Array,
    gradient: Float64Array,
    gradientNext: Float64Array,
  ): void {
    const capacity = this.#s.length;
    if (capacity === 0) return;
    let sy = 0;
    let yy = 0;
    for (let i = 0; i < x.length; i++) {
      const dy = gradientNext[i]! - gradient[i]!;
      sy += (xNext[i]! - x[i]!) * dy;
      yy += dy * dy;
    }
    // Armijo alone does not guarantee positive curvature; a pair without it
    // would make the estimate indefinite, so it is dropped (before it
    // overwrites the oldest pair).
    if (!(sy > Number.EPSILON * yy)) return;

    const slot = (this.#newest + 1) % capacity;
    const s = this.#s[slot]!;
    const y = this.#y[slot]!;
    for (let i = 0; i < s.length; i++) {
      s[i] = xNext[i]! - x[i]!;
      y[i] = gradientNext[i]! - gradient[i]!;
    }
    this.#rho[slot] = 1 / sy;
    this.#newest = slot;
    this.size = Math.min(this.size + 1, capacity);
  }

  /** direction = -H * gradient, by the two-loop recursion. */
  direction(gradient: Float64Array, direction: Float64Array): void {
    const capacity = this.#s.length;
    for (let i = 0; i < direction.length; i++) direction[i] = -gradient[i]!;
    if (this.size === 0) return;

    for (let back = 0; back < this.size; back++) {
      const slot = (this.#newest - back + capacity) % capacity;
      const alpha = this.#rho[slot]! * dot(this.#s[slot]!, direction);
      this.#alpha[slot] = alpha;
      axpy(-alpha, this.#y[slot]!, direction);
    }

    const newestY = this.#y[this.#newest]!;
    const gamma = 1 / (this.#rho[this.#newest]! * dot(newestY, newestY));
    for (let i = 0; i < direction.length; i++) direction[i]! *= gamma;

    for (let back = this.size - 1; back >= 0; back--) {
      const slot = (this.#newest - back + capacity) % capacity;
      const beta = this.#rho[slot]! * dot(this.#y[slot]!, direction);
      axpy(this.#alpha[slot]! - beta, this.#s[slot]!, direction);
    }
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += a[i]! * b[i]!;
  return total;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i]! += a * x[i]!;
}

function maxNorm(v: Float64Array): number {
  let max = 0;
  for (let i = 0; i < v.length; i++) max = Math.max(max, Math.abs(v[i]!));
  return max;
}
