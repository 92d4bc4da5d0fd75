import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lifecycle } from '../../src/core/lifecycle.js';

test('.to() follows the table and refuses a transition it does not allow', () => {
  const life = new Lifecycle<'open' | 'closing' | 'closed'>('thing', 'open', {
    open: ['closing'],
    closing: ['closed'],
    closed: [],
  });
  assert.equal(life.state, 'open');
  assert.throws(() => life.to('closed'), /thing cannot go from 'open' to 'closed'/);
  life.to('closing');
  assert.ok(life.is('closing', 'closed'));
  life.to('closed');
  assert.throws(() => life.to('open'), /from 'closed' to 'open'/);
  assert.equal(life.state, 'closed');
});
