import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { minimizeLbfgs, type Objective } from './lbfgs.js';

const rosenbrock: Objective = (x, gradient) => {
  const [a, b] = [x[0]!, x[1]!];
  gradient[0] = -2 * (1 - a) - 400 * a * (b - a * a);
  gradient[1] = 200 * (b - a * a);
  return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
};

/** sum of i * (x_i - i)^2: minimum at x_i = i, curvatures from 2 to 2n. */
function illConditionedQuadratic(n: number): Objective {
  return (x, gradient) => {
    let value = 0;
    for (let i = 0; i < n; i++) {
      const scale = i + 1;
      value += scale * (x[i]! - i) ** 2;
      gradient[i] = 2 * scale * (x[i]! - i);
    }
    return value;
  };
}

describe('minimizeLbfgs', () => {
  it('finds the minimum of the Rosenbrock function', () => {
    const result = minimizeLbfgs(rosenbrock, Float64Array.of(-1.2, 1), {
      maxIterations: 200,
      tolerance: 1e-8,
    });

    assert.equal(result.stopReason, 'tolerance');
    assert.ok(
      Math.abs(result.x[0]! - 1) < 1e-6 && Math.abs(result.x[1]! - 1) < 1e-6,
      `${Array.from(result.x).join(', ')}`,
    );
    assert.ok(result.gradientNorm < 1e-8);
  });

  it('solves a quadratic in fewer iterations than it has dimensions squared, mostly one evaluation each', () => {
    const result = minimizeLbfgs(illConditionedQuadratic(50), new Float64Array(50), {
      maxIterations: 1000,
      tolerance: 1e-6,
    });

    assert.equal(result.stopReason, 'tolerance');
    result.x.forEach((value, i) => assert.ok(Math.abs(value - i) < 1e-6, `x[${i}] = ${value}`));
    assert.ok(result.iterations < 200, `${result.iterations} iterations`);
    assert.ok(
      result.evaluations < 1.5 * result.iterations + 5,
      `${result.evaluations} evaluations`,
    );
  });

  it('stops at maxIterations and says so', () => {
    const result = minimizeLbfgs(rosenbrock, Float64Array.of(-1.2, 1), {
      maxIterations: 3,
      tolerance: 1e-12,
    });

    assert.equal(result.iterations, 3);
    assert.equal(result.stopReason, 'max-iterations');
  });

  it('returns the start untouched when its gradient is already below the tolerance', () => {
    const result = minimizeLbfgs(illConditionedQuadratic(3), Float64Array.of(0, 1, 2), {
      maxIterations: 10,
      tolerance: 1e-6,
    });

    assert.deepEqual(Array.from(result.x), [0, 1, 2]);
    assert.deepEqual(
      [result.iterations, result.evaluations, result.stopReason],
      [0, 1, 'tolerance'],
    );
  });

  it('stops with no-progress when the objective cannot go lower', () => {
    // |x| has no minimum the gradient can certify: its slope is 1 up to 0.
    const absolute: Objective = (x, gradient) => {
      gradient[0] = Math.sign(x[0]!) || 1;
      return Math.abs(x[0]!);
    };

    const result = minimizeLbfgs(absolute, Float64Array.of(3), {
      maxIterations: 1000,
      tolerance: 1e-9,
    });

    assert.equal(result.stopReason, 'no-progress');
    assert.ok(Math.abs(result.x[0]!) < 1e-6, `x = ${result.x[0]}`);
  });

  it('backs off a step that makes the objective infinite', () => {
    const barrier: Objective = (x, gradient) => {
      const v = x[0]!;
      if (v >= 1) return Infinity;
      gradient[0] = 2 * (v - 0.9) + 1 / (1 - v);
      return (v - 0.9) ** 2 - Math.log(1 - v);
    };

    const result = minimizeLbfgs(barrier, Float64Array.of(-5), {
      maxIterations: 100,
      tolerance: 1e-10,
    });

    assert.equal(result.stopReason, 'tolerance');
    assert.ok(result.x[0]! < 1 && Number.isFinite(result.value));
  });

  it('refuses a starting point where the objective is not finite', () => {
    const nan: Objective = () => NaN;

    assert.throws(
      () => minimizeLbfgs(nan, Float64Array.of(0), { maxIterations: 1, tolerance: 1 }),
      /NaN/,
    );
  });
});
