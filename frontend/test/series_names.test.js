// Unit tests of src/series_names.js.
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {
  chartGroups, classifySeries, layerOf, measuredSeries, optimizerOf, skipsBefore,
} from '../src/series_names.js';

describe('series names', () => {
  test('optimizerOf reads the optimizer suffix', () => {
    assert.equal(optimizerOf('learning_rate', 'learning_rate'), '');
    assert.equal(optimizerOf('learning_rate/adam', 'learning_rate'), 'adam');
    assert.equal(optimizerOf('learning_rates', 'learning_rate'), null);
  });

  test('classifySeries sorts a run\'s series by what they are', () => {
    const found = classifySeries([
      'learning_rate/biases', 'learning_rate/kernels', 'epoch',
      'optimizer/biases/momentum', 'optimizer/kernels/beta_1', 'optimizer/kernels/beta_2',
      'layers/encoder/dense_1/grad_norm', 'layers/head/scale',
    ], ['biases', 'kernels']);
    assert.deepEqual(found.learningRates, [
      {name: 'learning_rate/biases', optimizer: 'biases'},
      {name: 'learning_rate/kernels', optimizer: 'kernels'},
    ]);
    assert.equal(found.epoch, true);
    assert.deepEqual(found.hyperparameters.map((h) => [h.optimizer, h.key]), [
      ['biases', 'momentum'], ['kernels', 'beta_1'], ['kernels', 'beta_2'],
    ]);
    assert.deepEqual(found.layers.map((l) => [l.layer, l.key]), [
      ['encoder/dense_1', 'grad_norm'], ['head', 'scale'],
    ]);
  });

  test('a hyperparameter name with a slash stays whole for one optimizer', () => {
    const found = classifySeries(['optimizer/clip/norm'], []);
    assert.deepEqual(found.hyperparameters, [{name: 'optimizer/clip/norm', optimizer: '', key: 'clip/norm'}]);
  });

  test('layerOf splits the layer path from the value name', () => {
    assert.deepEqual(layerOf('layers/a/b/c'), {layer: 'a/b', key: 'c'});
    assert.deepEqual(layerOf('layers/x'), {layer: '', key: 'x'});
  });

  test('chartGroups makes one chart per hyperparameter and groups layer values by layer', () => {
    const groups = chartGroups([
      {name: 'r1', series: ['learning_rate', 'optimizer/beta_1', 'layers/dense/scale', 'layers/dense/norm'], optimizers: []},
      {name: 'r2', series: ['learning_rate', 'optimizer/beta_1', 'optimizer/momentum', 'layers/conv/norm']},
    ]);
    assert.deepEqual(groups.hyperparameters.map((g) => [g.key, g.lines.map((l) => l.run)]), [
      ['beta_1', ['r1', 'r2']], ['momentum', ['r2']],
    ]);
    assert.deepEqual(groups.layers.map((g) => [g.layer, g.charts.map((c) => c.key)]), [
      ['conv', ['norm']], ['dense', ['norm', 'scale']],
    ]);
  });

  test('chartGroups labels the lines of several optimizers with the optimizer', () => {
    const groups = chartGroups([{name: 'r', series: ['optimizer/a/beta_1', 'optimizer/b/beta_1'], optimizers: ['a', 'b']}]);
    assert.deepEqual(groups.hyperparameters[0].lines.map((l) => l.label), ['r · a', 'r · b']);
  });

  test('measuredSeries finds the update ratios in their order and the gradient norms', () => {
    const run = {series: ['learning_rate', 'layers/dense/mean', 'gradient_norm', 'gradient_norm/adam',
      'gradient_normal', 'skipped_updates', 'update_ratio/net/layer_2', 'update_ratio/net/layer_10']};
    assert.deepEqual(measuredSeries(run), {
      layers: ['net/layer_2', 'net/layer_10'],
      gradientNorms: ['gradient_norm', 'gradient_norm/adam'],
      skippedUpdates: ['skipped_updates'],
    });
    assert.deepEqual(measuredSeries({series: ['learning_rate']}), {layers: [], gradientNorms: [], skippedUpdates: []});
  });

  test('skipsBefore: the steps the count rises before, by how much', () => {
    assert.deepEqual(skipsBefore({steps: [0, 2, 4], values: [1, 3, 6]}),
        [{step: 0, skipped: 1}, {step: 2, skipped: 2}, {step: 4, skipped: 3}]);
    assert.deepEqual(skipsBefore({steps: [0, 7], values: [0, 2]}), [{step: 7, skipped: 2}]);
    assert.deepEqual(skipsBefore({steps: [], values: []}), []);
  });
});
