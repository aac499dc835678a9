"""The QGIS desktop application on a virtual screen (Xvfb): the plugin loads from a fresh profile without errors in
the message log, its provider and algorithms appear in the Processing toolbox, every algorithm dialog builds, the
plugin unloads and loads again, and screenshots of the main window and of one algorithm dialog are kept in
``test/artifacts/``.

QGIS runs ``desktop_check.py`` twice: through ``PYQGIS_STARTUP`` (before any plugin loads: it records the message
log and closes, after recording them, error dialogs that would block the start) and through ``--code`` (once the
main window is up: it checks, takes screenshots, writes ``desktop_check.json`` and quits). This module judges the
JSON. A second run with a deliberately broken stand-in of the plugin shows that the judging catches a plugin
error (the negative control).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from support import PLUGIN_NAME, ROOT

pytestmark = pytest.mark.qgis

CHECK_SCRIPT = Path(__file__).with_name("desktop_check.py")
ARTIFACTS = ROOT / "test" / "artifacts"
QGIS = "/usr/bin/qgis" if os.path.exists("/usr/bin/qgis") else shutil.which("qgis")
XVFB_RUN = shutil.which("xvfb-run")
PROVIDER_ID = "carbonsink"
PROVIDER_NAME = "Carbon Sink Toolbox"
DIALOG_ALGORITHM = "nep"
DIALOG_TITLE = "Net ecosystem productivity"
#: desktop_check.py writes its report and quits by then even if a step hangs (a nested event loop keeps timers alive)
DEADLINE_S = 240
#: and the whole process group (xvfb-run, Xvfb, QGIS) is killed by then
TIMEOUT_S = DEADLINE_S + 120
INFO, WARNING, CRITICAL = 0, 1, 2

#: Unrelated QGIS messages, each allowed by tag, level and a regular expression matching the whole message.
NOISE = [
    # Debian's QGIS ships the GRASS and SAGA Processing providers (enabled by default), but the GRASS and SAGA
    # programs are not installed here; each provider logs this at Critical level when Processing starts.
    ("Processing", CRITICAL, r"Problem with (GRASS|SAGA) installation: \1 was not found or is not correctly installed"),
]


def is_noise(entry: dict) -> bool:
    return any(
        entry["tag"] == tag and entry["level"] == level and re.fullmatch(pattern, entry["message"].strip())
        for tag, level, pattern in NOISE
    )


def mentions_plugin(text: str, plugin_path: Path) -> bool:
    return any(s in text for s in (PLUGIN_NAME, str(ROOT), str(plugin_path)))


def problems(report: dict, plugin_path: Path) -> list[str]:
    """Everything in the report that says something went wrong, one readable line (or block) each.

    - a step of the check raised, or the check ran out of time (``errors``);
    - a modal dialog opened (QGIS shows Python errors of plugins in one) or a dialog stayed open;
    - a log message (recorded live, or read back from the Log Messages panel, which also holds what was logged
      before Python started) at Critical level that is not listed in ``NOISE``;
    - a "Python error" / "Python warning" message, or any message holding a traceback, that mentions the plugin;
    - a Warning or Critical message under the provider's own tag.
    """
    found = [f"check error: {e}" for e in report.get("errors", [])]
    found += [f"modal dialog during {d['during']}: {d['title']}\n{d['text'][:3000]}" for d in report.get("dialogs", [])]
    for key in ("windows_after_startup", "windows_at_end"):
        found += [f"dialog open ({key}): {w['title']}\n{w['text']}" for w in report.get(key, [])]
    for source in ("messages", "log_viewer"):
        for entry in report.get(source, []):
            if is_noise(entry):
                continue
            text = entry["message"]
            python = entry["tag"] in ("Python error", "Python warning") or "Traceback" in text
            if (
                entry["level"] == CRITICAL
                or (python and mentions_plugin(text, plugin_path))
                or (entry["tag"] == PROVIDER_NAME and entry["level"] in (WARNING, CRITICAL))
            ):
                found.append(f"log ({source}) [{entry['tag']}] {entry['level_name']}: {text[:3000]}")
    return list(dict.fromkeys(found))


def expected_algorithms() -> set[str]:
    """Ids of the algorithms in ``algorithms/provider.py``'s ALGORITHMS list whose module file exists."""
    tree = ast.parse((ROOT / "algorithms" / "provider.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "ALGORITHMS" for t in targets):
                listed = ast.literal_eval(node.value)
                return {
                    f"{PROVIDER_ID}:{module}"
                    for module, _cls in listed
                    if (ROOT / "algorithms" / f"{module}.py").exists()
                }
    raise AssertionError("no ALGORITHMS list in algorithms/provider.py")


def distinct_colours(png: Path) -> tuple[tuple[int, ...], int, float]:
    import matplotlib.image as mpimg

    image = mpimg.imread(str(png))
    rgb = image[..., :3]
    return image.shape, len(np.unique(rgb.reshape(-1, 3), axis=0)), float(rgb.std())


@dataclass
class DesktopRun:
    returncode: int
    stdout: str
    stderr: str
    report: dict
    out: Path
    plugin_path: Path

    def describe(self) -> str:
        return f"QGIS exit status {self.returncode}\n--- stderr ---\n{self.stderr[-5000:]}\n--- report in {self.out}"


def run_desktop(plugin_path: Path, workdir: Path) -> DesktopRun:
    """Start QGIS desktop under xvfb-run with a fresh profile in which the plugin is enabled."""
    if QGIS is None or XVFB_RUN is None or shutil.which("xauth") is None:
        pytest.fail("QGIS desktop, xvfb-run and xauth are needed: run scripts/setup.sh")
    profiles = workdir / "profiles"
    ini = profiles / "profiles" / "test" / "QGIS" / "QGIS3.ini"  # what --profiles-path/--profile test reads
    ini.parent.mkdir(parents=True)
    ini.write_text(f"[PythonPlugins]\n{PLUGIN_NAME}=true\n", encoding="utf-8")
    out, home, runtime = workdir / "out", workdir / "home", workdir / "runtime"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    # A user's session: Debian's Python, no virtualenv or pytest variables, an X display (not "offscreen"),
    # an empty home (no user startup.py or settings).
    drop = {"PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV", "QGIS_CUSTOM_CONFIG_PATH", "XDG_CONFIG_HOME", "XDG_DATA_HOME"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PYTEST_")}
    env.update(
        PATH="/usr/bin:/bin:" + os.environ.get("PATH", ""),  # QGIS's embedded Python finds its home on PATH
        HOME=str(home),
        XDG_RUNTIME_DIR=str(runtime),
        QT_QPA_PLATFORM="xcb",
        QGIS_PLUGINPATH=str(plugin_path),
        PYQGIS_STARTUP=str(CHECK_SCRIPT),
        CARBONSINK_DESKTOP_CHECK_DIR=str(out),
        CARBONSINK_DESKTOP_CHECK_ALG=DIALOG_ALGORITHM,
        CARBONSINK_DESKTOP_CHECK_DEADLINE=str(DEADLINE_S),
    )
    command = [
        XVFB_RUN, "-a", "-s", "-screen 0 1600x1000x24",
        QGIS, "--noversioncheck", "--nologo", "--profiles-path", str(profiles), "--profile", "test",
        "--code", str(CHECK_SCRIPT),
    ]  # fmt: skip
    # A session of its own so that a timeout kills xvfb-run's children (Xvfb, QGIS) too.
    proc = subprocess.Popen(
        command, env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"QGIS desktop did not quit within {TIMEOUT_S} s\n--- stderr ---\n{stderr[-5000:]}")
    report_path = out / "desktop_check.json"
    assert report_path.exists(), f"desktop_check.py wrote no report (status {proc.returncode})\n{stderr[-5000:]}"
    report = json.loads(report_path.read_text(encoding="utf-8"))
    return DesktopRun(proc.returncode, stdout, stderr, report, out, plugin_path)


@pytest.fixture(scope="module")
def desktop(plugin_dir, tmp_path_factory) -> DesktopRun:
    """One QGIS desktop session with the plugin; its screenshots are copied to ``test/artifacts/``."""
    run = run_desktop(plugin_dir, tmp_path_factory.mktemp("desktop"))
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("desktop_*.png"):  # the folder shows the last run only
        old.unlink()
    for png in run.out.glob("*.png"):
        shutil.copy2(png, ARTIFACTS / png.name)
    return run


def test_qgis_starts_checks_and_quits(desktop):
    assert desktop.returncode == 0, desktop.describe()
    assert desktop.report["errors"] == [], desktop.describe()
    assert desktop.report["python_executable"].startswith("/usr/bin/python3"), desktop.report["python_executable"]
    # the message-log recorder was connected before any plugin loaded, so nothing logged while loading is missed
    assert desktop.report["hooked_at_startup"] is True


def test_no_errors_in_the_message_log(desktop):
    found = problems(desktop.report, desktop.plugin_path)
    assert not found, "\n\n".join(found)
    tracebacks = [
        block for block in desktop.stderr.split("Traceback (most recent call last)")[1:]
        if mentions_plugin(block, desktop.plugin_path)
    ]  # fmt: skip
    assert not tracebacks, desktop.stderr[-5000:]
    # the log was really recorded: QGIS reports loading the plugin (it does so even when loading fails, hence the
    # separate checks of the plugin and the provider below)
    loaded = f"Loaded {PROVIDER_NAME} (package: {PLUGIN_NAME})"
    for source in ("messages", "log_viewer"):
        assert any(e["tag"] == "Plugins" and e["message"].strip() == loaded for e in desktop.report[source]), source


def test_plugin_loaded_from_this_checkout(desktop):
    plugin = desktop.report["plugin"]
    assert plugin["loaded"] and plugin["active"] and plugin["is_plugin_loaded"], plugin
    module_file = Path(plugin["module_file"])
    assert module_file.parent == desktop.plugin_path / PLUGIN_NAME, module_file
    assert module_file.resolve() == (ROOT / "__init__.py").resolve(), module_file


def test_provider_has_every_algorithm(desktop):
    provider = desktop.report["provider"]
    assert provider is not None, "no Processing provider with id 'carbonsink'"
    assert provider["name"] == PROVIDER_NAME and provider["icon_exists"], provider
    expected = expected_algorithms()
    assert DIALOG_ALGORITHM in {a.split(":")[1] for a in expected}
    assert set(provider["algorithms"]) == expected


def test_provider_appears_in_the_processing_toolbox(desktop):
    toolbox = desktop.report["toolbox"]
    assert toolbox["visible"] and toolbox["provider_node"], toolbox
    assert toolbox["node_text"] == PROVIDER_NAME
    assert set(toolbox["algorithms_shown"]) == expected_algorithms()


def test_every_algorithm_dialog_builds(desktop):
    dialogs = desktop.report["algorithm_dialogs"]
    assert set(dialogs) == expected_algorithms()
    for alg, dialog in dialogs.items():
        assert "error" not in dialog, f"{alg}:\n{dialog['error']}"
        assert dialog["class"] == "AlgorithmDialog" and dialog["visible"], (alg, dialog)
        assert dialog["title"] == dialog["display_name"], (alg, dialog)
        # every parameter that is not hidden has its widget in the dialog, and nothing else does
        assert dialog["widgets"] == dialog["parameters"], alg


def split_paragraphs(help_html: str) -> list[str]:
    """Lines of a help string that the dialog's help panel shows as paragraphs of their own though they are not.

    QGIS 3.22 (QgsProcessingAlgorithmDialogBase::formatHelp) splits shortHelpString() at every newline and wraps
    each piece in <p>...</p>, so a line break inside an HTML paragraph or list breaks it in two on screen.
    """
    bad = []
    for line in help_html.splitlines():
        for opening, closing in ((r"<p[\s>]", "</p>"), (r"<ul[\s>]", "</ul>"), (r"<ol[\s>]", "</ol>")):
            if len(re.findall(opening, line)) != line.count(closing):
                bad.append(line)
                break
    return bad


def test_help_panel_keeps_paragraphs_whole(desktop):
    broken = {
        alg: split_paragraphs(dialog["short_help"])
        for alg, dialog in desktop.report["algorithm_dialogs"].items()
        if split_paragraphs(dialog["short_help"])
    }
    assert not broken, "\n".join(f"{alg}: {lines[0][:100]}" for alg, lines in broken.items())


def test_split_paragraphs():
    assert split_paragraphs("<p>One <b>whole</b> paragraph.</p>\n<p>Another.</p>\n<ul><li>a</li></ul>") == []
    assert split_paragraphs("<p>A paragraph\nbroken in two.</p>") == ["<p>A paragraph", "broken in two.</p>"]
    assert split_paragraphs("<pre>x</pre> <p>ok</p>") == []


def test_screenshots_show_the_dialog_and_the_toolbox(desktop):
    shots = desktop.report["screenshots"]
    dialog_png, main_png = f"desktop_dialog_{DIALOG_ALGORITHM}.png", "desktop_main_window.png"
    assert set(shots) == {dialog_png, main_png}
    assert desktop.report["dialog"]["title"] == DIALOG_TITLE
    assert {"NPP", "RH", "OUTPUT"} <= set(desktop.report["dialog"]["widgets"])
    for name, shot in shots.items():
        png = Path(shot["path"])
        shape, colours, spread = distinct_colours(png)
        width, height = shot["size"]
        assert shape[:2] == (height, width), name
        assert width >= 600 and height >= 400, (name, shape)
        # a blank or single-colour grab has a handful of colours; a dialog with text, fields and icons has hundreds
        # (measured: about 7,500 for the main window, 500 for the dialog)
        assert colours >= 200 and spread > 0.03, (name, colours, spread)
        assert (ARTIFACTS / name).read_bytes() == png.read_bytes(), f"{name} not kept in {ARTIFACTS}"


def test_plugin_unloads_and_loads_again(desktop):
    """What the Plugin Manager does when the plugin is switched off and on (or upgraded) without a restart."""
    reload = desktop.report["reload"]
    assert reload["unloaded"] and reload["provider_removed"], reload
    assert reload["reloaded"], reload
    assert set(reload["algorithms_after_reload"]) == expected_algorithms()


def test_unload_releases_the_plugin_modules(desktop):
    assert desktop.report["reload"]["modules_left_after_unload"] == []


def test_check_reports_a_broken_plugin(tmp_path):
    """Negative control: a stand-in ``carbon_sink_toolbox`` whose import warns and whose classFactory() raises.

    QGIS shows the error in a modal dialog during start-up (which would block it): the check records and closes the
    dialog, QGIS goes on and quits, and the judging above reports the error, the warning and the missing plugin.
    """
    folder = tmp_path / "plugins"
    package = folder / PLUGIN_NAME
    package.mkdir(parents=True)
    shutil.copy2(ROOT / "metadata.txt", package / "metadata.txt")
    (package / "__init__.py").write_text(
        "import warnings\n"
        "warnings.warn('deliberate warning from the stand-in plugin', DeprecationWarning)\n\n\n"
        "def classFactory(iface):\n"
        "    raise RuntimeError('deliberately broken stand-in plugin')\n",
        encoding="utf-8",
    )
    run = run_desktop(folder, tmp_path / "run")
    assert run.returncode == 0, run.describe()
    assert not run.report["plugin"]["loaded"]
    assert run.report["provider"] is None
    assert run.report["toolbox"]["provider_node"] is False
    found = problems(run.report, folder)
    assert any(p.startswith("modal dialog during startup") and "deliberately broken" in p for p in found), found
    assert any("[Python error] Critical" in p and "deliberately broken stand-in plugin" in p for p in found), found
    assert any("[Python warning]" in p and "deliberate warning from the stand-in plugin" in p for p in found), found
    # the steps that need the plugin say so instead of hanging
    assert any("no dialog for carbonsink:nep" in p for p in found), found


def test_noise_filter_is_narrow():
    """Only the exact GRASS/SAGA installation messages pass; anything else at Critical level is a problem."""
    grass = "Problem with GRASS installation: GRASS was not found or is not correctly installed"
    assert is_noise({"tag": "Processing", "level": CRITICAL, "message": grass})
    assert is_noise({"tag": "Processing", "level": CRITICAL, "message": grass.replace("GRASS", "SAGA")})
    for tag, level, message in [
        ("Processing", CRITICAL, grass.replace("GRASS was", "SAGA was")),
        ("Processing", CRITICAL, grass + "\nTraceback (most recent call last): ..."),
        ("Processing", CRITICAL, "Problem with Carbon Sink Toolbox installation"),
        (PROVIDER_NAME, CRITICAL, grass),
        ("Python error", CRITICAL, grass),
    ]:
        entry = {"tag": tag, "level": level, "level_name": "Critical", "message": message}
        assert not is_noise(entry), entry
        assert problems({"messages": [entry]}, ROOT) != []
