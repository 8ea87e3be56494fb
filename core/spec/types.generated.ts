/* eslint-disable */
/**
 * Generated from crds/mlpipeline.dev_mlpipelines.yaml by `npm run gen:types`.
 * Do not edit: change the CRD and regenerate. Fields with a default in the CRD
 * are required here, because a validated spec always has them.
 */

/**
 * A scheduled machine-learning pipeline - collect, clean, train, predict.
 */
export interface MLPipelineDocument {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
  };
  spec: MLPipelineSpec;
}
export interface MLPipelineSpec {
  /**
   * Five-field cron expression; starts a run at the collect stage.
   */
  schedule: string;
  /**
   * IANA time zone the schedule is read in.
   */
  timeZone: string;
  /**
   * Stops new runs; a run already started finishes.
   */
  suspend: boolean;
  /**
   * What to do when a run is due while another still runs.
   */
  concurrencyPolicy: 'Allow' | 'Forbid' | 'Replace';
  /**
   * A run that cannot start within this many seconds of its slot counts as missed.
   */
  startingDeadlineSeconds: number;
  /**
   * What happens to slots missed while the scheduler was down.
   */
  missedRuns: {
    policy: 'Skip' | 'RunLatest' | 'RunAll';
    /**
     * With RunAll, the most missed slots run (the latest ones); the rest are recorded as skipped.
     */
    limit: number;
  };
  /**
   * Runs kept in status and run history.
   */
  historyLimit: number;
  source: SourceSpec;
  /**
   * Numeric columns the model learns from, in this order.
   *
   * @minItems 1
   * @maxItems 1000
   */
  features: string[];
  /**
   * Column holding the class to predict.
   */
  label: string;
  clean: CleanSpec;
  train: TrainSpec;
  modelStore?: ModelStoreSpec;
  predict: PredictSpec;
  /**
   * Per-stage settings.
   */
  stages?: {
    collect?: StageSettings;
    clean?: StageSettings;
    train?: StageSettings;
    predict?: StageSettings;
  };
}
/**
 * Where the training data comes from; exactly one of mysql, csv, builtin.
 */
export interface SourceSpec {
  /**
   * A data set shipped with mlpipeline.
   */
  builtin?: 'iris';
  csv?: {
    /**
     * A path relative to the pipeline file, or an s3://bucket/key object.
     */
    path: string;
  };
  mysql?: {
    /**
     * A table name, optionally qualified by its database (db.table).
     */
    table: string;
    /**
     * Column that identifies a row; rows are read in its order and predictions keep it. Without it the key is the row's position.
     */
    keyColumn?: string;
    /**
     * Rows read per batch.
     */
    batchSize: number;
    /**
     * Secret with url or host, port, user, password, database. In one container, the environment variables <NAME>_URL or <NAME>_HOST... (NAME upper-cased, - and . as _). Without it, the deployment's own database.
     */
    connectionSecretRef?: {
      name: string;
    };
  };
}
export interface CleanSpec {
  /**
   * Drop rows with a missing or non-numeric feature or a missing label; when false such a row fails the stage.
   */
  dropMissing: boolean;
  dropDuplicates: boolean;
  /**
   * Scale features to zero mean and unit variance, fitted on the training split.
   */
  standardize: boolean;
  /**
   * Fewer rows than this after cleaning fail the stage.
   */
  minRows: number;
}
export interface TrainSpec {
  /**
   * softmax-lbfgs (multinomial, quasi-Newton, the default) or ml-logistic-regression (one-vs-rest gradient descent).
   */
  algorithm: 'softmax-lbfgs' | 'ml-logistic-regression';
  params: {
    /**
     * Step size of ml-logistic-regression (scaled by the row count).
     */
    learningRate: number;
    /**
     * Iterations (gradient steps or quasi-Newton iterations).
     */
    numSteps: number;
    /**
     * L2 penalty on the weights (not the intercept) of softmax-lbfgs.
     */
    l2: number;
    /**
     * softmax-lbfgs stops when the gradient norm falls below this.
     */
    tolerance: number;
  };
  /**
   * Share of rows held out, per class, to measure the model.
   */
  testFraction: number;
  seed: number;
  promotion: {
    metric: 'accuracy' | 'macroF1';
    /**
     * The new model is promoted only when its metric on the test split reaches this.
     */
    minimum: number;
    /**
     * Promote even when the metric is below the current model's.
     */
    allowRegression: boolean;
  };
}
/**
 * Where runs' artifacts and model versions live; without it, the deployment's own store (S3_BUCKET, or a folder).
 */
export interface ModelStoreSpec {
  s3?: {
    bucket: string;
    prefix: string;
    region?: string;
    /**
     * For S3-compatible servers; path-style addressing is then used.
     */
    endpoint?: string;
  };
  /**
   * A local folder, for single-container mode only.
   */
  dir?: {
    path: string;
  };
}
export interface PredictSpec {
  /**
   * Score with this model version instead of the current one.
   */
  modelVersion?: string;
  source?: SourceSpec;
  /**
   * Where predictions are written; without it, the predictions table of the deployment's own database.
   */
  sink?: {
    mysql: {
      /**
       * A table name, optionally qualified by its database (db.table).
       */
      table: string;
      /**
       * Secret with url or host, port, user, password, database. In one container, the environment variables <NAME>_URL or <NAME>_HOST... (NAME upper-cased, - and . as _). Without it, the deployment's own database.
       */
      connectionSecretRef?: {
        name: string;
      };
    };
  };
}
export interface StageSettings {
  /**
   * A schedule of its own starts a run at this stage and continues downstream.
   */
  schedule?: string;
  /**
   * Further attempts after a failure.
   */
  retries: number;
  activeDeadlineSeconds?: number;
  resources?: {
    requests?: {
      [k: string]: number | string | undefined;
    };
    limits?: {
      [k: string]: number | string | undefined;
    };
  };
}
