import { describe, expect, it } from 'vitest';
import { GraphError, classifyGraphError } from '../../../src/whatsapp/index.js';

describe('classifyGraphError', () => {
  it.each([
    // http, code, retryable, needsTemplate
    [400, 4, true, false],
    [400, 80007, true, false],
    [400, 130429, true, false],
    [400, 131056, true, false],
    [400, 131057, true, false],
    [500, 0, true, false],
    [503, 131000, true, false],
    [502, 1, true, false],
    [429, 0, true, false],
    [0, 0, true, false], // network error or timeout
    [400, 131047, false, true],
    [400, 131026, false, false],
    [400, 131048, false, false],
    [400, 368, false, false],
    [401, 190, false, false],
    [400, 100, false, false],
    [400, 131008, false, false],
    [500, 190, false, false], // the code decides before the status
    [400, 0, false, false],
    [404, 0, false, false],
    [403, 10, false, false],
  ])('HTTP %i code %i -> retry %s, template %s', (http, code, retryable, needsTemplate) => {
    expect(classifyGraphError(http, code)).toEqual({ retryable, needsTemplate });
    const e = new GraphError(http, code, 'x');
    expect({ retryable: e.retryable, needsTemplate: e.needsTemplate }).toEqual({ retryable, needsTemplate });
  });

  it('labels errors by code, else status, else network', () => {
    expect(new GraphError(400, 131047, 'x').label).toBe('131047');
    expect(new GraphError(502, 0, 'x').label).toBe('http_502');
    expect(new GraphError(0, 0, 'x').label).toBe('network');
  });
});
