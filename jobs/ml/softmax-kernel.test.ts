import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { compileRowKernel, genericRowKernel, rowKernelFor } from './softmax-kernel.js';
import { createGaussian, createRandom } from './random.js';

function randomInputs(k: number, d: number, n: number, seed: number) {
  const gaussian = createGaussian(createRandom(seed));
  const random = createRandom(seed + 1);
  return {
    weights: Float64Array.from({ length: k * (d + 1) }, gaussian),
    data: Float64Array.from({ length: (n + 3) * d }, () => 5 + 3 * gaussian()),
    // Rows out of order and a few left out, as a training split would be.
    rows: Int32Array.from({ length: n }, (_, i) => (i * 7 + 3) % (n + 3)),
    labels: Int32Array.from({ length: n + 3 }, () => Math.floor(random() * k)),
    mean: Float64Array.from({ length: d }, () => 5 + gaussian()),
  };
}

/** The loss and sums of one row at a time, written plainly, to check both kernels against. */
function reference(k: number, d: number, inputs: ReturnType<typeof randomInputs>) {
  const sums = new Float64Array(k * (d + 1));
  let loss = 0;
  for (const row of inputs.rows) {
    const z = Array.from({ length: d }, (_, j) => inputs.data[row * d + j]! - inputs.mean[j]!);
    const scores = Array.from({ length: k }, (_, c) =>
      z.reduce(
        (s, v, j) => s + inputs.weights[c * (d + 1) + j]! * v,
        inputs.weights[c * (d + 1) + d]!,
      ),
    );
    const total = scores.reduce((s, v) => s + Math.exp(v), 0);
    const label = inputs.labels[row]!;
    loss += Math.log(total) - scores[label]!;
    scores.forEach((score, c) => {
      const residual = Math.exp(score) / total - (c === label ? 1 : 0);
      z.forEach((v, j) => (sums[c * (d + 1) + j]! += residual * v));
      sums[c * (d + 1) + d]! += residual;
    });
  }
  return { loss, sums };
}

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} vs ${expected}`,
  );
}

describe('row kernels', () => {
  const shapes = [
    { k: 2, d: 1, n: 1 },
    { k: 2, d: 3, n: 5 },
    { k: 3, d: 4, n: 6 },
    { k: 3, d: 20, n: 7 },
    { k: 5, d: 7, n: 8 },
    { k: 7, d: 2, n: 11 },
  ];
  for (const { k, d, n } of shapes) {
    it(`compiled and generic agree with the plain computation: ${k} classes, ${d} features, ${n} rows`, () => {
      const inputs = randomInputs(k, d, n, k * 100 + d);
      const expected = reference(k, d, inputs);
      const args = [inputs.weights, inputs.data, inputs.rows, inputs.labels, inputs.mean] as const;

      const kernels = {
        compiled: compileRowKernel(k, d),
        generic: genericRowKernel.bind(null, k, d),
      };
      for (const [name, kernel] of Object.entries(kernels)) {
        // Stale values prove the kernel overwrites its output.
        const sums = new Float64Array(k * (d + 1)).fill(99);
        const loss = kernel(args[0], sums, args[1], args[2], args[3], args[4]);

        assertClose(loss, expected.loss, `${name} loss`);
        sums.forEach((value, i) => assertClose(value, expected.sums[i]!, `${name} sums[${i}]`));
      }
    });
  }

  it('keeps the loss finite when scores would overflow exp', () => {
    const inputs = randomInputs(3, 2, 4, 1);
    inputs.weights.fill(1e4);
    inputs.weights[0] = -1e4;

    for (const kernel of [compileRowKernel(3, 2), genericRowKernel.bind(null, 3, 2)]) {
      const sums = new Float64Array(9);
      const loss = kernel(
        inputs.weights,
        sums,
        inputs.data,
        inputs.rows,
        inputs.labels,
        inputs.mean,
      );

      assert.ok(Number.isFinite(loss), `loss ${loss}`);
      sums.forEach((value) => assert.ok(Number.isFinite(value), `sum ${value}`));
    }
  });

  it('computes the same for shapes too large to compile', () => {
    const inputs = randomInputs(10, 30, 9, 5);
    const expected = reference(10, 30, inputs);
    const sums = new Float64Array(10 * 31);

    const loss = rowKernelFor(10, 30)(
      inputs.weights,
      sums,
      inputs.data,
      inputs.rows,
      inputs.labels,
      inputs.mean,
    );

    assertClose(loss, expected.loss, 'loss');
    sums.forEach((value, i) => assertClose(value, expected.sums[i]!, `sums[${i}]`));
  });
});
