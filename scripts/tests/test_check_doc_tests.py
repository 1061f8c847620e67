"""Tests of scripts/check-doc-tests (standard library only).

The checker passes on the real docs; on a temporary copy of the docs and of every test file
they name, it fails, naming the doc line, when a named test is renamed away (in each kind of
test file), when a named file is missing, when a statement loses its reference, and when a
reference or an untested marker is malformed.

    python3 -m unittest discover -s scripts/tests -v
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKER = os.path.join(ROOT, "scripts", "check-doc-tests")
DOCS = ("docs/GUARANTEES.md", "docs/CONTRACTS.md", "docs/RESPONDERS.md")
PATH = re.compile(r"`([A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)+\.(?:rs|py|ts|js|sh|yaml|yml))`")
SUMMARY = re.compile(r"^check-doc-tests: (\d+) references to (\d+) tests in (\d+) statements, all present")


def run(root):
    """The checker's exit status and its output (stdout and stderr) on `root`."""
    done = subprocess.run([sys.executable, CHECKER, "--root", root], capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


class CopyTestCase(unittest.TestCase):
    """A temporary root holding the docs and every file they name, as in the repository."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="check-doc-tests-")
        self.addCleanup(shutil.rmtree, self.root)
        named = set()
        for doc in DOCS:
            text = self.read_repo(doc)
            named.update(PATH.findall(text))
            self.copy(doc)
        for path in sorted(named):
            if os.path.isfile(os.path.join(ROOT, path)):
                self.copy(path)

    @staticmethod
    def read_repo(path):
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            return f.read()

    def copy(self, path):
        target = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(ROOT, path), target)

    def read(self, path):
        with open(os.path.join(self.root, path), encoding="utf-8") as f:
            return f.read()

    def write(self, path, text):
        with open(os.path.join(self.root, path), "w", encoding="utf-8") as f:
            f.write(text)

    def replace(self, path, old, new, count=1):
        text = self.read(path)
        self.assertGreaterEqual(text.count(old), 1, f"{path} holds no {old!r}")
        self.write(path, text.replace(old, new, count))

    def doc_lines(self, doc):
        return self.read(doc).split("\n")

    def failures(self):
        code, out = run(self.root)
        self.assertEqual(code, 1, out)
        return out

    def assert_reported_at(self, out, doc, message, near):
        """`out` reports `message` at a line of `doc` that holds `near` (or just before it)."""
        lines = self.doc_lines(doc)
        found = re.findall(rf"^{re.escape(doc)}:(\d+): {message}", out, re.M)
        self.assertTrue(found, f"no `{doc}:LINE: {message}` in:\n{out}")
        for number in found:
            window = "\n".join(lines[int(number) - 1:int(number) + 3])
            self.assertIn(near, window, f"{doc}:{number} is not where `{near}` is:\n{out}")


class RealDocs(unittest.TestCase):
    def test_the_real_docs_pass(self):
        code, out = run(ROOT)
        self.assertEqual(code, 0, out)
        m = SUMMARY.match(out)
        self.assertTrue(m, out)
        references, tests, statements = map(int, m.groups())
        self.assertGreater(references, 100)
        self.assertGreater(tests, 100)
        self.assertGreater(statements, 100)

    def test_the_convention_is_stated_at_the_top_of_both_docs(self):
        for doc in DOCS:
            with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
                top = f.read().split("\n\n")[1]
            self.assertIn("scripts/check-doc-tests", top, doc)
            self.assertIn('after "Tested:"', top, doc)
            self.assertIn("<!-- untested: why -->", top, doc)


class BrokenCopies(CopyTestCase):
    def test_the_copy_passes_as_it_is(self):
        code, out = run(self.root)
        self.assertEqual(code, 0, out)

    def test_a_renamed_test_is_reported(self):
        # One test of each kind of test file, renamed away: (file, its name, the text that
        # defines it, the same text renamed, the doc that names it).
        cases = [
            ("shared/tests/alarm_path_memory.rs", "same_event_five_times_one_entry_one_page",
             "fn same_event_five_times_one_entry_one_page(", "fn renamed_away(", "docs/GUARANTEES.md"),
            ("shared/src/plan/table.rs", "recovery_goes_where_the_page_went",
             "fn recovery_goes_where_the_page_went(", "fn renamed_away(", "docs/GUARANTEES.md"),
            ("infra/cdk/test/klaxon.test.ts",
             "the errors alarms leave DeliveryInProgress races out, alike in SAM and CDK",
             "test('the errors alarms leave DeliveryInProgress", "test('renamed away: the errors alarms leave DeliveryInProgress",
             "docs/GUARANTEES.md"),
            ("infra/tests/test_check_templates.py", "health intake: rejection alarm removed",
             '("health intake: rejection alarm removed",', '("renamed away",', "docs/CONTRACTS.md"),
            ("tests/cargo-lambda-e2e.sh", "one rejection record",
             'check "one rejection record"', 'check "renamed away"', "docs/CONTRACTS.md"),
            ("runbooks/aws-health.yaml", "a public issue in a watched Region pages ops at medium",
             "- name: a public issue in a watched Region pages ops at medium", "- name: renamed away",
             "docs/CONTRACTS.md"),
        ]
        for path, name, old, new, doc in cases:
            self.replace(path, old, new)
        out = self.failures()
        for path, name, old, new, doc in cases:
            with self.subTest(path=path):
                self.assert_reported_at(
                    out, doc, re.escape(f"names `{path}` (`{name}`), but no test {name} exists there"),
                    f"`{path}`")

    def test_a_missing_test_file_is_reported(self):
        named = {"shared/tests/truthful_pages_memory.rs": ("docs/GUARANTEES.md", "docs/CONTRACTS.md"),
                 "shared/tests/responder_actions_memory.rs": ("docs/RESPONDERS.md",)}
        for path in named:
            os.remove(os.path.join(self.root, path))
        out = self.failures()
        for path, docs in named.items():
            for doc in docs:
                self.assert_reported_at(out, doc, re.escape(f"names `{path}`, which does not exist"), f"`{path}`")

    def test_a_statement_without_a_test_is_reported(self):
        doc = "docs/GUARANTEES.md"
        lines = self.doc_lines(doc)
        first = next(n for n, line in enumerate(lines, 1) if line.startswith("Concurrent deliveries for one alarm"))
        end = next(n for n in range(first, len(lines) + 1) if not lines[n - 1].strip())
        paragraph = "\n".join(lines[first - 1:end - 1])
        self.assertIn(" Tested:", paragraph)
        without = paragraph[:paragraph.index(" Tested:")]
        self.write(doc, self.read(doc).replace(paragraph, without))
        out = self.failures()
        self.assertIn(f"{doc}:{first}: statement names no test", out)
        heading = next(n for n, line in enumerate(lines, 1) if line == "## Concurrency")
        self.assertIn(f'{doc}:{heading}: section "Concurrency" names no test', out)

    def test_malformed_references_and_markers_are_reported(self):
        doc = "docs/CONTRACTS.md"
        # A bare file name, a module path, a path without its tests, a marker without a reason.
        self.replace(doc, "`shared/src/logging.rs` (`the_lambda_level_wins_then_rust_log_then_info`,",
                     "`logging.rs` (`the_lambda_level_wins_then_rust_log_then_info`,")
        self.replace(doc, "Tested: `shared/src/lambda.rs`\n  (`error_types_say_whether_a_retry_can_help`)",
                     "Tested: `lambda::tests`")
        self.replace(doc, "`cli/tests/cli.rs` (`replay_json_lines_are_stable_and_complete`), `shared/src/report.rs`",
                     "`cli/tests/cli.rs`, `shared/src/report.rs`")
        self.replace(doc, "<!-- untested: explains what the example policies select;", "<!-- untested: -->\n<!-- x")
        out = self.failures()
        self.assert_reported_at(out, doc, re.escape("`logging.rs` is a bare file name"), "`logging.rs`")
        self.assert_reported_at(out, doc, re.escape("`lambda::tests` is a module path"), "`lambda::tests`")
        self.assert_reported_at(out, doc, re.escape("`cli/tests/cli.rs` names no test"), "`cli/tests/cli.rs`")
        self.assert_reported_at(out, doc, re.escape("an untested marker must say why"), "<!-- untested: -->")


if __name__ == "__main__":
    unittest.main()
