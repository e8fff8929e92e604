"""LGWAN (closed network): `make wheelhouse` gathers every wheel, and the documented command installs from it alone."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.hub


def test_install_from_the_wheelhouse_without_a_network(tmp_path: Path):
    """A fresh venv gets the course, JupyterHub and the LDAP authenticator with pip --no-index only, and works."""
    wheelhouse = tmp_path / "wheelhouse"
    started = time.monotonic()
    built = subprocess.run(["make", "--no-print-directory", "wheelhouse", f"WHEELHOUSE={wheelhouse}"], cwd=REPO,
                           capture_output=True, text=True, timeout=1200, check=False)  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    build_time = time.monotonic() - started
    wheels = list(wheelhouse.glob("*.whl"))
    assert any(w.name.startswith("sano_dx_course-") for w in wheels)
    assert (wheelhouse / "configurable-http-proxy.tar.gz").is_file()

    # No index, no pip.conf, and a proxy that goes nowhere: any attempt to reach a network fails the install.
    offline = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "https_proxy": "http://127.0.0.1:9",
               "http_proxy": "http://127.0.0.1:9", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}  # fmt: skip
    venv = tmp_path / "venv"
    started = time.monotonic()
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse), "sano-dx-course[hub]"],
        env=offline, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    install_time = time.monotonic() - started

    imports = subprocess.run([str(python), "-c", "import course, course.selfcheck, nbgrader, jupyterhub, "
                              "ldapauthenticator, jupyterlab, jupyterlab_language_pack_ja_JP, course.autograde.grader, "
                              "course.taskforce.report, course.hub_login, course.feedback, course.staff_portal, "
                              "course.certificate, segno; from importlib.resources import files; "
                              "assert files('course').joinpath('templates/feedback/index.html.j2').is_file(); "
                              "assert files('course').joinpath('templates/portal/verify.html').is_file(); "
                              "print('ok')"], env=offline, capture_output=True,
                             text=True, timeout=300, cwd=tmp_path, check=False)  # fmt: skip
    assert imports.stdout.strip() == "ok", imports.stderr[-2000:]
    helped = subprocess.run([str(python), "-m", "course", "--help"], env=offline, capture_output=True, text=True,
                            timeout=300, cwd=tmp_path, check=False)  # fmt: skip
    assert helped.returncode == 0 and "使い方" in helped.stdout and "autograde" in helped.stdout, helped.stderr
    lab = subprocess.run([str(venv / "bin" / "jupyter"), "labextension", "list"], env=offline, capture_output=True,
                         text=True, timeout=300, cwd=tmp_path, check=False)  # fmt: skip
    assert "@jupyter/nbgrader" in lab.stdout + lab.stderr, lab.stdout + lab.stderr
    # the staff's 研修 panel, prebuilt in the course's wheel (no npm on the server)
    listed = lab.stdout + lab.stderr
    assert re.search(r"@sano-dx/kenshu v\S+ .*enabled.*OK.*\(python, sano-dx-course\)", listed), listed
    size = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"wheelhouse: {len(wheels)} wheels, {size:.0f} MiB, built in {build_time:.0f} s; "
          f"offline install in {install_time:.0f} s")  # fmt: skip
