// Mocha reporter: the spec reporter's output, then one plain line "N passed, N failed, N skipped"
// that CI reads. Also writes the counts to $PERSEUS_TEST_COUNTS when set, so the test script can add
// the Python client's results to the same line.
'use strict';
const Mocha = require('mocha');
const fs = require('node:fs');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
      const counts = { passed: s.passes, failed: s.failures, skipped: s.pending };
      if (process.env.PERSEUS_TEST_COUNTS) {
        fs.writeFileSync(process.env.PERSEUS_TEST_COUNTS, JSON.stringify(counts));
      } else {
        process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
      }
    });
  }
}
module.exports = SummaryReporter;
