/**
 * A record as the proxy writes it (taken from a real run of the tutorial).
 * The JSON files are checked against schemas/ by tests/test_schemas.py, so
 * what these tests read is what the agent writes.
 */
import cellPayload from './fixtures/cell-payload.json';
import results from './fixtures/results.json';

export const PROXY_RECORD = cellPayload;

/** A results document as `venturalitica enforce --format json` prints it. */
export const RESULTS = results;
