"""Installs ``xtreme_harness_lm_eval.pth`` beside the package, in wheels and in editable installs.

The .pth file imports ``_xtreme_harness_lm_eval`` at start-up, which is how
the plain ``lm_eval`` command finds the ``xtreme-encoder`` model (lm-eval 0.4
has no plugin discovery; see that module). Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = "xtreme_harness_lm_eval.pth"
LINE = "import _xtreme_harness_lm_eval\n"


class BuildPyWithPth(build_py):
    def run(self):
        super().run()
        Path(self.build_lib, PTH).write_text(LINE, encoding="utf-8")

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib, PTH))]


class EditableWheelWithPth(editable_wheel):
    # The editable wheel's root is site-packages; setuptools writes its own .pth files there at this step.
    def _install_namespaces(self, installation_dir, pth_prefix):
        super()._install_namespaces(installation_dir, pth_prefix)
        Path(installation_dir, PTH).write_text(LINE, encoding="utf-8")


setup(cmdclass={"build_py": BuildPyWithPth, "editable_wheel": EditableWheelWithPth})
