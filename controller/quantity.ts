/**
 * Kubernetes resource quantities, read only far enough to compare them: the
 * API server rewrites a quantity in its canonical form (cpu 0.5 comes back as
 * 500m, memory 1024Mi as 1Gi), so comparing the text would see a change on
 * every resync.
 */

const DECIMAL_EXPONENT: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

const BINARY_EXPONENT: Record<string, number> = {
  Ki: 10,
  Mi: 20,
  Gi: 30,
  Ti: 40,
  Pi: 50,
  Ei: 60,
};

const QUANTITY =
  /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/;

/** The value of a quantity, or undefined when it is not one. */
export function quantityValue(quantity: string | number): number | undefined {
  if (typeof quantity === 'number') return Number.isFinite(quantity) ? quantity : undefined;
  const match = QUANTITY.exec(quantity.trim());
  if (match === null) return undefined;
  const [, digits = '', exponent, suffix = ''] = match;
  if (exponent !== undefined) return Number(`${digits}${exponent}`);
  const binary = BINARY_EXPONENT[suffix];
  if (binary !== undefined) return Number(digits) * 2 ** binary;
  // Written as one decimal literal, equal amounts ("100m", "0.1") parse to the same double.
  return Number(`${digits}e${DECIMAL_EXPONENT[suffix] ?? 0}`);
}
