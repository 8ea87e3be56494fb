// The package ships JavaScript only; this declares the part of it we call.
declare module 'ml-logistic-regression' {
  import type { Matrix } from 'ml-matrix';

  interface BinaryClassifier {
    /** 1 x columns, set by train; scores the probability of NOT being its class. */
    weights: Matrix | null;
  }

  export default class LogisticRegression {
    constructor(options?: { numSteps?: number; learningRate?: number });
    numberClasses: number;
    classifiers: BinaryClassifier[];
    /** Y is a column vector of class indices 0..k-1. */
    train(X: Matrix, Y: Matrix): void;
    predict(X: Matrix): number[];
  }
}
