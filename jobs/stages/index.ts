import { clean } from './clean.js';
import { collect } from './collect.js';
import type { StageFunctions } from './context.js';
import { predict } from './predict.js';
import { train } from './train.js';

export const STAGE_FUNCTIONS: StageFunctions = { collect, clean, train, predict };
