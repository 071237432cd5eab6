// Names and limits the server defines (tb_lr_plugin/event_format.py and
// tb_lr_plugin/plugin/http_queries.py), in one place on this side;
// tests/plugin/test_frontend_constants.py checks them against the Python ones.

/** Series names and name prefixes (docs/ARCHITECTURE.md "Series names"). */
export const LEARNING_RATE = 'learning_rate';
export const EPOCH = 'epoch';
export const SCHEDULE = 'schedule';
export const OPTIMIZER_PREFIX = 'optimizer/';
export const LAYERS_PREFIX = 'layers/';
export const UPDATE_RATIO_PREFIX = 'update_ratio/';
export const GRADIENT_NORM = 'gradient_norm';
export const SKIPPED_UPDATES = 'skipped_updates';

/** How a series' points are sampled: one per step, or where the value changes (held). */
export const SAMPLED_EVERY_STEP = 'step';
export const SAMPLED_ON_CHANGE = 'change';

/** Who set a rate (`source.kind` in the `deviations` answer). */
export const SOURCE_CALLBACK = 'callback';
export const SOURCE_MANUAL = 'manual';
export const SOURCE_UNKNOWN = 'unknown';

/** The fewest points the `series` route will downsample to. */
export const MIN_MAX_POINTS = 10;

/** What the `batch` route answers per run: windowed curves, whole-run marks and hyperparameters. */
export const CURVES = 'curves';
export const MARKS = 'marks';
export const HYPERPARAMETERS = 'hyperparameters';

/** The formats of the `export` route. */
export const EXPORT_FORMATS = ['csv', 'json'];

/** The most columns the `update_ratios` route bins a heat map into. */
export const MAX_COLUMNS = 4000;

/** A range test's rules (`suggestions` of the `range_test` answer), in the order the tab lists them. */
export const RANGE_TEST_RULES = ['valley', 'slide', 'minimum', 'steep'];

/** Why a range test's sweep ended (`stopped`). */
export const STOPPED_COMPLETED = 'completed';
export const STOPPED_DIVERGED = 'diverged';
export const STOPPED_NOT_FINITE = 'not_finite';
export const STOPPED_OUT_OF_DATA = 'out_of_data';
