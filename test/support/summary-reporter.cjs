// Mocha reporter: the spec reporter's output, then one plain line "N passed, N failed, N skipped"
// that CI reads. Also writes the counts to $PERSEUS_TEST_COUNTS when set, so the test script can add
// the Python client's results to the same line.
'use strict';
const Mocha = require('mocha');
const fs = require('node:fs');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;

/** Tests that ran against the real control plane: their suite names say kube-apiserver. */
const REAL = /kube-apiserver/;

class SummaryReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    const real = { passed: 0, failed: 0, skipped: 0 };
    runner.on(EVENT_TEST_PASS, (t) => REAL.test(t.fullTitle()) && real.passed++);
    runner.on(EVENT_TEST_FAIL, (t) => REAL.test(t.fullTitle()) && real.failed++);
    runner.on(EVENT_TEST_PENDING, (t) => REAL.test(t.fullTitle()) && real.skipped++);
    runner.once(EVENT_RUN_END, () => {
      process.stdout.write(`\ntests against the real kube-apiserver: ${real.passed + real.failed} ran (${real.failed} of them failed), ${real.skipped} skipped\n`);
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
