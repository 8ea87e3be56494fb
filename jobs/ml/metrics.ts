export interface ClassMetrics {
  class: string;
  precision: number;
  recall: number;
  f1: number;
  /** Rows of this class in yTrue. */
  support: number;
}

export interface Evaluation {
  accuracy: number;
  /** Mean F1 over the classes that occur in yTrue or yPred. */
  macroF1: number;
  perClass: ClassMetrics[];
  /** confusionMatrix[true][predicted] counts rows. */
  confusionMatrix: number[][];
  rows: number;
}

/**
 * Compares predicted with true labels (indices into classes). A ratio with a
 * zero denominator is 0 rather than NaN, so metrics stay comparable numbers.
 *
 * The macro average leaves out classes absent from both yTrue and yPred (as
 * scikit-learn does): a class too small to have a test row would otherwise
 * count as an F1 of 0 and pull every model down alike.
 */
export function evaluate(yTrue: Int32Array, yPred: Int32Array, classes: string[]): Evaluation {
  if (yTrue.length !== yPred.length) {
    throw new Error(`${yTrue.length} true labels but ${yPred.length} predictions`);
  }
  const k = classes.length;
  const confusionMatrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const actual = labelAt(yTrue, i, k, 'true');
    const predicted = labelAt(yPred, i, k, 'predicted');
    confusionMatrix[actual]![predicted]!++;
    if (actual === predicted) correct++;
  }

  const perClass = classes.map((name, c) => {
    const truePositives = confusionMatrix[c]![c]!;
    const support = sum(confusionMatrix[c]!);
    const predictedCount = sum(confusionMatrix.map((row) => row[c]!));
    const precision = ratio(truePositives, predictedCount);
    const recall = ratio(truePositives, support);
    return {
      class: name,
      precision,
      recall,
      f1: ratio(2 * precision * recall, precision + recall),
      support,
      predictedCount,
    };
  });
  const seen = perClass.filter((m) => m.support > 0 || m.predictedCount > 0);

  return {
    accuracy: ratio(correct, yTrue.length),
    macroF1: ratio(sum(seen.map((m) => m.f1)), seen.length),
    perClass: perClass.map(({ predictedCount: _, ...metrics }) => metrics),
    confusionMatrix,
    rows: yTrue.length,
  };
}

function labelAt(labels: Int32Array, i: number, k: number, which: string): number {
  const label = labels[i]!;
  if (label < 0 || label >= k) {
    throw new RangeError(`${which} label ${label} in row ${i} is outside 0..${k - 1}`);
  }
  return label;
}

function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
