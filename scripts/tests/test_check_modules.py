"""Tests of scripts/check-modules (standard library only): it passes on shared/src, and on a
temporary copy it fails, naming the file and line, on an upward import, on a cycle, on a
module the layers file does not place, and on a call to the transition table from outside
the runbook decision.

    python3 -m unittest discover -s scripts/tests -v
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKER = os.path.join(ROOT, "scripts", "check-modules")
LAYERS = os.path.join(ROOT, "scripts", "module-layers.txt")


def run(src):
    done = subprocess.run(
        [sys.executable, CHECKER, src, "--layers", LAYERS], capture_output=True, text=True
    )
    return done.returncode, done.stdout + done.stderr


class CheckModulesTest(unittest.TestCase):
    def setUp(self):
        self.src = os.path.join(tempfile.mkdtemp(prefix="check-modules-"), "src")
        self.addCleanup(shutil.rmtree, os.path.dirname(self.src))
        shutil.copytree(os.path.join(ROOT, "shared", "src"), self.src)

    def append(self, rel, text):
        with open(os.path.join(self.src, rel), "a", encoding="utf-8") as f:
            f.write(text)

    def test_the_real_sources_pass(self):
        code, out = run(os.path.join(ROOT, "shared", "src"))
        self.assertEqual(code, 0, out)
        self.assertIn("no cycle, layers respected", out)

    def test_an_upward_import_is_reported(self):
        self.append("intake/event.rs", "\nuse crate::engine::Engine;\n")
        code, out = run(self.src)
        self.assertEqual(code, 1, out)
        self.assertIn("UPWARD: intake::event", out)
        self.assertIn("intake/event.rs:", out)

    def test_a_cycle_is_reported(self):
        # plan::build already uses plan::stale's neighbours; make stale use table, which
        # uses stale: a loop inside one layer.
        self.append("plan/stale.rs", "\n#[allow(unused_imports)]\nuse super::table::plan;\n")
        code, out = run(self.src)
        self.assertEqual(code, 1, out)
        self.assertIn("CYCLE:", out)
        self.assertIn("plan::stale", out)

    def test_a_module_without_a_layer_is_reported(self):
        with open(os.path.join(self.src, "newthing.rs"), "w", encoding="utf-8") as f:
            f.write("pub fn x() {}\n")
        code, out = run(self.src)
        self.assertEqual(code, 1, out)
        self.assertIn("UNLAYERED: newthing", out)

    def test_the_transition_table_is_called_from_the_decision_only(self):
        self.append("engine/apply.rs", "\n#[allow(unused_imports)]\nuse crate::plan::table::plan;\n")
        code, out = run(self.src)
        self.assertEqual(code, 1, out)
        self.assertIn("RESTRICTED: engine::apply -> plan::table", out)


if __name__ == "__main__":
    unittest.main()
